"""``EMATeacherHook``: the teacher is an exponential moving average (EMA) of the student.

After every ``interval``-th optimizer step: ``teacher <- m * teacher + (1 - m) * student``
(Tarvainen & Valpola 2017, Mean Teacher; used by Soft Teacher, Xu et al. 2021).

WHOSE WEIGHT -- READ THIS WHEN PORTING AN MMDETECTION CONFIG
    ``teacher_momentum`` is ``m``, the weight of the **teacher**, as in the papers and in
    microsoft/SoftTeacher (``momentum=0.999`` there). MMDetection 3's ``MeanTeacherHook`` calls the
    weight of the **student** ``momentum`` (its default 0.001 is our 0.999); that is why this hook has
    its own name and its own argument name: one config line cannot mean opposite things. Values
    outside [0, 1] are an error; a value below 0.5 (the teacher would mostly follow the student) draws
    a warning because it is probably a number written for mmdet's convention. mmdet's ``momentum`` and
    ``skip_buffer`` arguments are rejected with a pointer to ``teacher_momentum`` / ``buffers``.

Config forms of ``teacher_momentum``::

    teacher_momentum=0.999                                                   # constant m
    teacher_momentum='softteacher_warmup'                                    # warm_up=0, m_max=0.999
    teacher_momentum=dict(type='softteacher_warmup', warm_up=0, m_max=0.999) # the default
    teacher_momentum=dict(type='step', steps=[4000], vals=[0.99, 0.999])     # Mean Teacher paper:
                                                                     # 0.99 in ramp-up, 0.999 after
    teacher_momentum=dict(type='linear', begin=0, end=10000, start_value=0.99, end_value=0.9999)

The default is microsoft/SoftTeacher's warm-up as its configs use it (``warm_up=0``, cap 0.999):
``m = min(0.999, t / (t + 1))``. Without a warm-up the teacher starts as a copy of the barely trained
student and moves 0.1 % per step, so early pseudo-labels are poor (mmdetection #10223).

Iterations: ``m`` is evaluated at ``t = runner.iter + 1``, the number of optimizer steps done when
``after_train_iter`` runs, and the update happens when ``t % interval == 0``. This reproduces the
reference, which updates in ``before_train_iter`` of the next iteration with its ``runner.iter == t``.

Buffers (``buffers=``):
    ``'ema'`` (default): floating-point buffers (BatchNorm running mean/var) are averaged with the same
        ``m``, so the teacher's normalisation statistics follow the same trajectory as its weights.
        A teacher kept in eval mode never refreshes its own statistics, and the student's current
        statistics describe the student's current weights, not the averaged ones. Same as
        mmdet's ``skip_buffer=False`` and timm's ``ModelEmaV2``. With frozen BN (the usual
        detector backbone) it makes no difference.
    ``'copy'``: buffers are copied from the student every update.
    ``'keep'``: buffers are left as they are (microsoft/SoftTeacher and mmdet's default
        ``skip_buffer=True``: the teacher keeps the statistics copied at the start).
    Integers cannot be averaged: integer buffers (``num_batches_tracked``) are copied in the
    ``'ema'`` and ``'copy'`` modes, and non-floating parameters are copied in every mode.

Start of training (``before_train``, which mmengine calls after loading/resuming a checkpoint): the
student is copied into the teacher only in a new run, i.e. when ``runner.iter == 0`` and no loaded
checkpoint held ``teacher.*`` weights (seen in ``after_load_checkpoint``). On resume
(``runner.iter > 0``) or after ``load_from`` an SSOD checkpoint, the loaded teacher is kept (mmdet
overwrites it in the ``load_from`` case). Parameters are matched by name, not by order.

``m`` is logged as ``train/ema_momentum`` in the message hub at each update.
"""
import numbers
import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from mmengine.hooks import Hook
from torch import nn

from ssod.registry import HOOKS
from ssod.schedules import Schedule, SoftTeacherWarmupSchedule, build_schedule
from ..non_finite_guard import step_skipped
from .model_access import unwrap_model

MOMENTUM_LOG_KEY = 'train/ema_momentum'
BUFFER_MODES = ('ema', 'copy', 'keep')
_MMDET_HINT = ('EMATeacherHook takes teacher_momentum = weight of the TEACHER (0.999 keeps 99.9 % of '
               'the teacher); mmdet.MeanTeacherHook takes momentum = the weight of the student (its '
               '0.001 is our 0.999)')


def _check_momentum_range(m: float, where: str) -> None:
    if not 0.0 <= m <= 1.0:
        raise ValueError(f'EMATeacherHook: teacher_momentum {where} is {m!r}, outside [0, 1]. '
                         f'{_MMDET_HINT}.')


def _warn_if_small(m: float, where: str) -> None:
    """Warn for 0 < m < 0.5, the mmdet convention mistaken for ours; exactly 0 is a deliberate copy
    of the student (e.g. a burn-in whose checkpoint should hold teacher = student)."""
    if 0.0 < m < 0.5:
        warnings.warn(f'EMATeacherHook: teacher_momentum {where} is {m!r} < 0.5, so the teacher mostly '
                      f'follows the student. {_MMDET_HINT}; did you mean {1.0 - m!r}?',
                      stacklevel=3)


def _complement(momentum) -> str:
    """``1 - momentum`` for an error message (the value itself when it is not a number)."""
    if isinstance(momentum, numbers.Real) and not isinstance(momentum, bool):
        return repr(round(1.0 - float(momentum), 12))
    return '<1 - your value>'


def build_momentum(momentum: Union[float, str, dict, Schedule]) -> Schedule:
    """A teacher-momentum schedule from a number, a schedule type name or a schedule config."""
    if isinstance(momentum, numbers.Real) and not isinstance(momentum, bool):
        _check_momentum_range(float(momentum), 'given')
        _warn_if_small(float(momentum), 'given')
    if isinstance(momentum, str):
        momentum = dict(type=momentum)
    return build_schedule(momentum)


class _TensorPairs:
    """Teacher/student tensors matched by name and split by how they are updated."""

    def __init__(self, teacher: nn.Module, student: nn.Module):
        self.averaged_params: Tuple[List[torch.Tensor], List[torch.Tensor]] = ([], [])
        self.copied_params: Tuple[List[torch.Tensor], List[torch.Tensor]] = ([], [])
        self.float_buffers: Tuple[List[torch.Tensor], List[torch.Tensor]] = ([], [])
        self.other_buffers: Tuple[List[torch.Tensor], List[torch.Tensor]] = ([], [])
        params = self._match(dict(teacher.named_parameters()), dict(student.named_parameters()),
                             'parameters')
        buffers = self._match(dict(teacher.named_buffers()), dict(student.named_buffers()), 'buffers')
        for t, s in params:
            target = self.averaged_params if t.is_floating_point() else self.copied_params
            target[0].append(t)
            target[1].append(s)
        for t, s in buffers:
            target = self.float_buffers if t.is_floating_point() else self.other_buffers
            target[0].append(t)
            target[1].append(s)

    @staticmethod
    def _match(teacher: Dict[str, torch.Tensor], student: Dict[str, torch.Tensor],
               kind: str) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        if teacher.keys() != student.keys():
            only_t = sorted(teacher.keys() - student.keys())[:5]
            only_s = sorted(student.keys() - teacher.keys())[:5]
            raise ValueError(f'EMATeacherHook: teacher and student {kind} differ by name: only in '
                             f'teacher {only_t}, only in student {only_s} (first 5 each)')
        pairs = []
        for name, t in teacher.items():
            s = student[name]
            if t.shape != s.shape:
                raise ValueError(f'EMATeacherHook: {kind[:-1]} {name!r} has shape {tuple(t.shape)} '
                                 f'in the teacher and {tuple(s.shape)} in the student')
            pairs.append((t, s))
        return pairs


@torch.no_grad()
def _average_into(teacher: List[torch.Tensor], student: List[torch.Tensor], m: float) -> None:
    """teacher <- m * teacher + (1 - m) * student, in place, with fused multi-tensor kernels."""
    if teacher:
        torch._foreach_mul_(teacher, m)
        torch._foreach_add_(teacher, student, alpha=1.0 - m)


@torch.no_grad()
def _copy_into(teacher: List[torch.Tensor], student: List[torch.Tensor]) -> None:
    for t, s in zip(teacher, student):
        t.copy_(s)


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """Update the teacher as an EMA of the student after the optimizer step (see module docstring).

    Args:
        teacher_momentum: teacher weight ``m`` as a number in [0, 1], a schedule type name or a schedule
            config of :mod:`ssod.schedules`, evaluated at the number of completed iterations.
            Default: ``dict(type='softteacher_warmup', warm_up=0, m_max=0.999)``.
        interval: update every ``interval`` iterations (the reference's ``interval``).
        buffers: ``'ema'`` (default), ``'copy'`` or ``'keep'``.
    """

    # After the optimizer step (done inside train_step) and before LoggerHook (BELOW_NORMAL) and
    # CheckpointHook (VERY_LOW), so the logged m and a saved teacher belong to the same iteration.
    priority = 'NORMAL'

    def __init__(self,
                 teacher_momentum: Union[float, str, dict, Schedule, None] = None,
                 interval: int = 1,
                 buffers: str = 'ema',
                 skip_buffer: Optional[bool] = None,
                 momentum: Optional[float] = None):
        if momentum is not None:
            raise ValueError(f'EMATeacherHook: momentum is mmdet\'s MeanTeacherHook argument (the '
                             f'weight of the student); use teacher_momentum (the weight of the '
                             f'teacher), e.g. teacher_momentum={_complement(momentum)}. {_MMDET_HINT}.')
        if skip_buffer is not None:
            raise ValueError(f'EMATeacherHook: skip_buffer is mmdet\'s argument; use buffers='
                             f'\'keep\' (skip_buffer=True) or buffers=\'ema\' (skip_buffer=False). '
                             f'{_MMDET_HINT}.')
        if isinstance(interval, bool) or not isinstance(interval, numbers.Integral) or interval < 1:
            raise ValueError(f'EMATeacherHook: interval must be a positive integer, got {interval!r}')
        if buffers not in BUFFER_MODES:
            raise ValueError(f'EMATeacherHook: buffers must be one of {BUFFER_MODES}, got {buffers!r}')
        self.teacher_momentum: Schedule = (SoftTeacherWarmupSchedule(warm_up=0, m_max=0.999)
                                           if teacher_momentum is None
                                           else build_momentum(teacher_momentum))
        self.interval = int(interval)
        self.buffers = buffers
        self._teacher_in_checkpoint = False
        self._pairs: Optional[_TensorPairs] = None

    # ---------------------------------------------------------------------------------------------
    # Model access

    @staticmethod
    def _teacher_and_student(runner) -> Tuple[nn.Module, nn.Module]:
        model = unwrap_model(runner.model)
        missing = [name for name in ('teacher', 'student')
                   if not isinstance(getattr(model, name, None), nn.Module)]
        if missing:
            raise AttributeError(f'EMATeacherHook needs a model with `teacher` and `student` '
                                 f'submodules; {type(model).__name__} has no {" or ".join(missing)}')
        return model.teacher, model.student

    def _tensor_pairs(self, runner) -> _TensorPairs:
        if self._pairs is None:
            self._pairs = _TensorPairs(*self._teacher_and_student(runner))
        return self._pairs

    # ---------------------------------------------------------------------------------------------
    # Momentum

    def momentum_at(self, completed_iters: int, max_iters: int) -> float:
        """``m`` after ``completed_iters`` optimizer steps; checked to lie in [0, 1]."""
        m = float(self.teacher_momentum.value(completed_iters, max_iters))
        _check_momentum_range(m, f'at iteration {completed_iters} ({self.teacher_momentum!r})')
        return m

    # ---------------------------------------------------------------------------------------------
    # Hook points

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Remember whether the checkpoint brings teacher weights (then they are not overwritten)."""
        state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
        for key in state_dict:
            if isinstance(key, str) and (key.startswith('teacher.') or key.startswith('module.teacher.')):
                self._teacher_in_checkpoint = True
                return

    def before_train(self, runner) -> None:
        """Check the model and momentum, then copy student -> teacher if this is a fresh start."""
        teacher, student = self._teacher_and_student(runner)
        self._pairs = _TensorPairs(teacher, student)
        final_m = self.momentum_at(runner.max_iters, runner.max_iters)
        _warn_if_small(final_m, f'at the end of training ({self.teacher_momentum!r})')

        if runner.iter > 0:
            runner.logger.info(f'EMATeacherHook: resumed at iteration {runner.iter}; '
                               f'keeping the teacher from the checkpoint')
        elif self._teacher_in_checkpoint:
            runner.logger.info('EMATeacherHook: the loaded checkpoint has teacher weights; '
                               'keeping them instead of copying the student')
        else:
            self.copy_student_to_teacher(runner)
            runner.logger.info('EMATeacherHook: teacher initialised as a copy of the student')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        completed = runner.iter + 1
        if completed % self.interval != 0 or step_skipped(runner):  # no step, no update
            return
        m = self.momentum_at(completed, runner.max_iters)
        self.update_teacher(runner, m)
        runner.message_hub.update_scalar(MOMENTUM_LOG_KEY, m)

    # ---------------------------------------------------------------------------------------------
    # Updates

    def copy_student_to_teacher(self, runner) -> None:
        """teacher <- student for every parameter and buffer."""
        pairs = self._tensor_pairs(runner)
        for group in (pairs.averaged_params, pairs.copied_params, pairs.float_buffers,
                      pairs.other_buffers):
            _copy_into(*group)

    def update_teacher(self, runner, m: float) -> None:
        """One EMA step with teacher weight ``m``."""
        pairs = self._tensor_pairs(runner)
        _average_into(*pairs.averaged_params, m)
        _copy_into(*pairs.copied_params)
        if self.buffers == 'ema':
            _average_into(*pairs.float_buffers, m)
            _copy_into(*pairs.other_buffers)
        elif self.buffers == 'copy':
            _copy_into(*pairs.float_buffers)
            _copy_into(*pairs.other_buffers)

    def __repr__(self) -> str:
        return (f'EMATeacherHook(teacher_momentum={self.teacher_momentum!r}, interval={self.interval}, '
                f'buffers={self.buffers!r})')
