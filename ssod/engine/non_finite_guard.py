"""Non-finite guard: a NaN/inf loss or gradient never reaches the weights, the teacher or a checkpoint.

Config (``configs/_base_/default_runtime.py`` sets it for every config)::

    default_hooks = dict(non_finite_guard=dict(type='NonFiniteGuardHook', max_consecutive_skips=3))

In every iteration, before the optimizer step:
  * the total loss is checked; a non-finite one is not back-propagated;
  * the gradient norm (over every parameter the optimizer updates) is checked, unless the optimizer
    wrapper is an ``AmpOptimWrapper`` (its loss scaler already skips steps with non-finite gradients,
    which are expected while it calibrates the scale).
Either way the step is skipped: no optimizer step, no gradient kept, the model's buffers (BatchNorm
running statistics) put back to their values before the iteration, and no EMA teacher update (the
teacher hook asks :func:`step_skipped`): the model leaves a skipped iteration exactly as it entered. The skip is logged with the iteration, the non-finite loss
keys, their branch (``sup``/``unsup``) and the images of the batch. The iteration still counts (the
sampler and the schedules are functions of the iteration, so exact resume is unaffected).

After ``max_consecutive_skips`` skipped iterations in a row, the next non-finite one stops training with
:class:`NonFiniteLossError` naming the iteration, the keys and the newest checkpoint (whose weights are
finite: see below). ``max_consecutive_skips=0`` stops at the first non-finite loss.

A step that was allowed but made a weight non-finite (a finite but huge gradient times the learning
rate) stops training at once, before the teacher update.

Checkpoints: ssod's ``CheckpointHook`` calls :func:`check_finite_weights` before writing and refuses
(:class:`NonFiniteWeightsError`) to write weights that are not finite, so the older checkpoints stay.
"""
import logging
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict

from ssod.registry import HOOKS
from .errors import TrainingStoppedError
from .hooks.model_access import unwrap_model

#: Runtime info of the message hub: True while the current iteration's optimizer step was skipped.
SKIPPED_INFO_KEY = 'non_finite_guard.step_skipped'
#: Scalar logged by the guard: the number of optimizer steps skipped so far in this run.
SKIPPED_STEPS_KEY = 'train/skipped_steps'


class NonFiniteLossError(TrainingStoppedError):
    """Too many consecutive iterations had a non-finite loss or gradient norm."""


class NonFiniteWeightsError(TrainingStoppedError):
    """The model's weights are not finite (a checkpoint of them is refused)."""


def step_skipped(runner) -> bool:
    """Whether the guard skipped the optimizer step of the current iteration (read by EMA hooks)."""
    return bool(runner.message_hub.get_info(SKIPPED_INFO_KEY, False))


def non_finite_keys(tensors: Dict[str, Any]) -> List[str]:
    """Names of the floating-point tensors of ``tensors`` that hold a NaN or an infinity."""
    return [name for name, value in tensors.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point()
            and not bool(torch.isfinite(value).all())]


def newest_checkpoint(runner) -> Optional[str]:
    """The checkpoint the checkpoint hook wrote last in this run (None before the first)."""
    return runner.message_hub.get_info('last_ckpt', None)


def _newest_checkpoint_text(runner) -> str:
    path = newest_checkpoint(runner)
    return (f'the newest checkpoint, {path}, has finite weights' if path else
            'no checkpoint was written before')


def check_finite_weights(runner, filename: str) -> None:
    """Raise :class:`NonFiniteWeightsError` if the model about to be saved as ``filename`` has
    non-finite weights or buffers."""
    bad = non_finite_keys(unwrap_model(runner.model).state_dict())
    if bad:
        shown = ', '.join(bad[:5]) + (f', ... ({len(bad)} in all)' if len(bad) > 5 else '')
        message = (f'refused to write checkpoint {filename} at iteration {runner.iter + 1}: the '
                   f'weights are not finite ({shown}); {_newest_checkpoint_text(runner)}. Resume from '
                   f'it with a lower learning rate or stronger gradient clipping.')
        runner.logger.error(message)
        raise NonFiniteWeightsError(message)


def _iter_samples(data_samples: Any, branch: str = '') -> Iterator[Tuple[str, Any]]:
    """(branch, sample) of a batch's data samples: a list, or a dict of branch -> list."""
    if isinstance(data_samples, dict):
        for name, value in data_samples.items():
            yield from _iter_samples(value, name)
    elif isinstance(data_samples, (list, tuple)):
        for value in data_samples:
            yield from _iter_samples(value, branch)
    elif data_samples is not None and hasattr(data_samples, 'metainfo'):
        yield branch, data_samples


def batch_images(data_batch: Any) -> Dict[str, List[str]]:
    """Branch -> image ids (or paths) of a data batch, for log lines."""
    images: Dict[str, List[str]] = {}
    samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
    for branch, sample in _iter_samples(samples):
        meta = sample.metainfo
        name = meta.get('img_id', meta.get('img_path', '?'))
        images.setdefault(branch or 'batch', []).append(str(name))
    return images


def _branch_of(key: str) -> str:
    return key.split('_', 1)[0] if key.startswith(('sup_', 'unsup_')) else ''


def _grad_norm(optim_wrapper: OptimWrapper) -> float:
    grads = [p.grad for group in optim_wrapper.optimizer.param_groups for p in group['params']
             if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch._foreach_norm(grads)
    return float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms])))


def _weights_finite(optim_wrapper: OptimWrapper) -> bool:
    params = [p for group in optim_wrapper.optimizer.param_groups for p in group['params']]
    if not params:
        return True
    norms = torch._foreach_norm([p.detach() for p in params])
    return bool(torch.isfinite(torch.stack([n.float() for n in norms])).all())


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Skip optimizer steps with a non-finite loss or gradient norm; stop after too many in a row.

    Args:
        max_consecutive_skips: how many iterations in a row may be skipped; the next non-finite one
            stops training. Default 3.
        check_grad_norm: also skip steps whose gradient norm is not finite (not with AMP). Default True.
        check_weights: stop at once if an optimizer step made a weight non-finite. Default True.
    """

    # after_train_iter runs before the EMA teacher hook (NORMAL) and the checkpoint hook (VERY_LOW).
    priority = 'ABOVE_NORMAL'

    def __init__(self, max_consecutive_skips: int = 3, check_grad_norm: bool = True,
                 check_weights: bool = True) -> None:
        if isinstance(max_consecutive_skips, bool) or not isinstance(max_consecutive_skips, int) \
                or max_consecutive_skips < 0:
            raise ValueError(f'NonFiniteGuardHook: max_consecutive_skips must be an integer >= 0, '
                             f'got {max_consecutive_skips!r}')
        self.max_consecutive_skips = max_consecutive_skips
        self.check_grad_norm = bool(check_grad_norm)
        self.check_weights = bool(check_weights)
        self.consecutive = 0
        self.skipped_total = 0
        self._reason: Optional[str] = None
        self._weights_broke = False
        self._buffers: List[Tuple[torch.Tensor, torch.Tensor]] = []

    # ---------------------------------------------------------------------------------------------
    # The optimizer wrapper's backward/step, guarded

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        for optim_wrapper in wrappers:
            self._guard(optim_wrapper)

    def _guard(self, optim_wrapper: OptimWrapper) -> None:
        if getattr(optim_wrapper, '_non_finite_guard', None) is self:
            return
        backward, step = optim_wrapper.backward, optim_wrapper.step
        amp = isinstance(optim_wrapper, AmpOptimWrapper)

        def guarded_backward(loss: torch.Tensor, **kwargs) -> None:
            if not bool(torch.isfinite(loss.detach()).all()):
                self._reason = f'the loss is {float(loss.detach().sum())}'
                optim_wrapper._inner_count += 1  # what backward() counts (gradient accumulation)
                return
            backward(loss, **kwargs)

        def guarded_step(**kwargs) -> None:
            if self._reason is None and self.check_grad_norm and not amp:
                norm = _grad_norm(optim_wrapper)
                if not math.isfinite(norm):
                    self._reason = f'the gradient norm is {norm}'
            if self._reason is not None:
                optim_wrapper.zero_grad()
                return
            step(**kwargs)
            if self.check_weights and not _weights_finite(optim_wrapper):
                self._weights_broke = True

        optim_wrapper.backward = guarded_backward
        optim_wrapper.step = guarded_step
        optim_wrapper._non_finite_guard = self

    # ---------------------------------------------------------------------------------------------
    # Per iteration

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        self._reason = None
        self._weights_broke = False
        runner.message_hub.update_info(SKIPPED_INFO_KEY, False)
        # The forward pass of a skipped iteration must not leave its trace either (BatchNorm running
        # statistics of the student): the buffers are put back when the step is skipped.
        self._buffers = [(b, b.detach().clone()) for b in unwrap_model(runner.model).buffers()]

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        iteration = runner.iter + 1
        if self._weights_broke:
            bad = non_finite_keys(dict(unwrap_model(runner.model).named_parameters()))
            message = (f'non-finite guard: the optimizer step of iteration {iteration} made weights '
                       f'non-finite ({", ".join(bad[:5])}); the teacher was not updated with them. '
                       f'{_newest_checkpoint_text(runner).capitalize()}: resume from it with a lower '
                       f'learning rate or gradient clipping (optim_wrapper.clip_grad).')
            runner.logger.error(message)
            raise NonFiniteLossError(message)
        if self._reason is None:
            self.consecutive = 0
            return
        runner.message_hub.update_info(SKIPPED_INFO_KEY, True)
        with torch.no_grad():
            for buffer, saved in self._buffers:
                buffer.copy_(saved)
        self._buffers = []
        self.consecutive += 1
        self.skipped_total += 1
        runner.message_hub.update_scalar(SKIPPED_STEPS_KEY, self.skipped_total)
        values = outputs if isinstance(outputs, dict) else {}
        bad_keys = {key: value for key, value in values.items()
                    if isinstance(value, (int, float, torch.Tensor)) and not math.isfinite(float(value))}
        if len(bad_keys) > 1:  # the total ('loss', mmengine's sum) is non-finite with any of its terms
            bad_keys.pop('loss', None)
        keys = ', '.join(f'{key}={value}' for key, value in bad_keys.items()) or 'none (losses finite)'
        branches = sorted({_branch_of(key) for key in bad_keys} - {''}) or ['-']
        images = '; '.join(f'{branch}: {", ".join(ids)}'
                           for branch, ids in batch_images(data_batch).items())
        description = (f'iteration {iteration}: {self._reason}; non-finite loss keys: {keys}; '
                       f'branch: {", ".join(branches)}; images: {images or "-"}')
        if self.consecutive > self.max_consecutive_skips:
            message = (f'non-finite guard: stopped at {description}. This is non-finite iteration '
                       f'{self.consecutive} in a row (max_consecutive_skips='
                       f'{self.max_consecutive_skips}). {_newest_checkpoint_text(runner).capitalize()}: '
                       f'resume from it with a lower learning rate or gradient clipping '
                       f'(optim_wrapper.clip_grad).')
            runner.logger.error(message)
            raise NonFiniteLossError(message)
        print_log(f'non-finite guard: skipped the optimizer step and the teacher update of '
                  f'{description} ({self.consecutive} in a row; at most '
                  f'{self.max_consecutive_skips} allowed)', logger='current', level=logging.WARNING)

