"""``Weighter``: set a model attribute (a loss weight) from a schedule before every training iteration.

Config forms::

    # microsoft/SoftTeacher form: 4.0 until iteration 170000, then 0.0 for the last 10k of 180k
    dict(type='Weighter', name='unsup_weight', steps=[-10000], vals=[4.0, 0.0])
    # any schedule of ssod.schedules
    dict(type='Weighter', name='unsup_weight',
         schedule=dict(type='sigmoid_rampup', begin=0, end=4000, start_value=0.0, end_value=4.0))
    # a key of a dict-like attribute (mmdet's SemiBaseDetector reads semi_train_cfg['unsup_weight'])
    dict(type='Weighter', name='semi_train_cfg.unsup_weight', schedule=2.0)

``name`` is a dotted path from the model (after unwrapping DDP and other mmengine model wrappers):
each part is looked up as a key when the object is a mapping (``dict``, ``ConfigDict``) and as an
attribute otherwise. The target must already exist, so a misspelt name fails at ``before_train``
instead of silently creating an attribute nobody reads.

The value for ``runner.iter`` (iterations already run, see :mod:`ssod.schedules`) is set in
``before_train_iter`` and logged as the scalar ``train/<name>`` of the message hub, which mmengine's
LogProcessor prints and sends to TensorBoard and other backends. Negative steps count back from
``max_iters`` (the reference hook maps them past the end of training, so they never take effect).
Several Weighters for different names can coexist; there is no shared state.
"""
from typing import Any, Optional, Sequence, Union

from mmengine.hooks import Hook

from ssod.registry import HOOKS
from ssod.schedules import Schedule, StepSchedule, build_schedule
from .model_access import get_by_path, set_by_path, unwrap_model

@HOOKS.register_module()
class Weighter(Hook):
    """Set the model attribute ``name`` to ``schedule(runner.iter, runner.max_iters)`` every iteration.

    Args:
        name: dotted attribute path on the (unwrapped) model, e.g. ``'unsup_weight'``.
        steps, vals: the SoftTeacher form, a shorthand for ``schedule=dict(type='step', ...)``;
            ``vals[0]`` before iteration ``steps[0]``, ``vals[i]`` from iteration ``steps[i-1]`` on.
        schedule: a number or a schedule config of :mod:`ssod.schedules`. Exactly one of
            ``schedule`` and ``steps``/``vals`` must be given.
    """

    priority = 'NORMAL'

    def __init__(self,
                 name: str,
                 steps: Optional[Sequence[int]] = None,
                 vals: Optional[Sequence[float]] = None,
                 schedule: Union[None, float, dict, Schedule] = None):
        if not isinstance(name, str) or not name or any(not part for part in name.split('.')):
            raise ValueError(f'Weighter: name must be a (dotted) attribute path, got {name!r}')
        given_steps = steps is not None or vals is not None
        if schedule is not None and given_steps:
            raise ValueError(f'Weighter({name!r}): give either schedule or steps/vals, not both')
        if schedule is None and not given_steps:
            raise ValueError(f'Weighter({name!r}): give a schedule or steps and vals')
        if given_steps:
            if steps is None or vals is None:
                raise ValueError(f'Weighter({name!r}): steps and vals must be given together')
            self.schedule: Schedule = StepSchedule(steps, vals)
        else:
            self.schedule = build_schedule(schedule)
        self.name = name
        self.log_key = f'train/{name}'

    def before_train(self, runner) -> None:
        """Fail early on a missing attribute or a schedule that does not fit ``max_iters``."""
        try:
            get_by_path(unwrap_model(runner.model), self.name)
        except AttributeError as error:
            raise AttributeError(f'Weighter: {error}. The Weighter only sets existing attributes; '
                                 f'give the model a default value for {self.name!r}.') from None
        self._value(runner)

    def _value(self, runner) -> float:
        """The schedule's value at ``runner.iter``; a schedule that does not fit ``max_iters`` raises a
        ``ValueError`` naming this hook, the setting and what to change."""
        try:
            return self.schedule.value(runner.iter, runner.max_iters)
        except ValueError as error:
            raise ValueError(
                f'Weighter({self.name!r}) (custom_hooks): its schedule {self.schedule!r} does not fit '
                f'this run: {error} (train_cfg.max_iters). Keep every step / begin / end of the '
                f'schedule within [-max_iters, max_iters] (a negative one counts back from the end of '
                f'training, e.g. steps=[-10000]), or raise train_cfg.max_iters.') from None

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        value = self._value(runner)
        set_by_path(unwrap_model(runner.model), self.name, value)
        runner.message_hub.update_scalar(self.log_key, value)

    def __repr__(self) -> str:
        return f'Weighter(name={self.name!r}, schedule={self.schedule!r})'

