"""Schedules: a scalar as a pure function of the training iteration.

One abstraction serves every scheduled quantity in ssod: the unsupervised loss weight (``Weighter``
hook), the EMA momentum of the teacher (``EMATeacherHook``) and the labeled fraction of the batch
(sampler). A schedule holds no state, so there is nothing to save in a checkpoint and a resumed run
gets exactly the values it would have had without the interruption.

Units and conventions
---------------------
* All positions (``steps``, ``begin``, ``end``) are in **iterations**.
* ``iteration t`` means *t iterations have been run*. This is mmengine's ``runner.iter`` as seen in
  ``before_train_iter`` of the (t+1)-th iteration: 0 before the first optimizer step.
  A hook acting after the optimizer step (``after_train_iter``) passes ``runner.iter + 1``.
* A **negative** position counts back from ``max_iters``: ``-10000`` is ``max_iters - 10000``, so
  "the last 10k iterations" is ``begin=-10000`` whatever the length of the run, and ``-1`` is the last
  iteration that runs (``max_iters - 1``). ``max_iters`` is given at call time, which is why positions
  are resolved (and range-checked) in :meth:`Schedule.value`, not in the constructor.
* A positive position may be at most ``max_iters``; a negative one at least ``-max_iters``.

Config forms (built by :func:`build_schedule`)
----------------------------------------------
``0.5`` (a plain number)
    constant 0.5.
``dict(type='constant', value=0.5)``
    constant 0.5.
``dict(type='step', steps=[170000, -5000], vals=[4.0, 2.0, 0.0])``
    ``vals[0]`` before ``steps[0]``, ``vals[i]`` from ``steps[i-1]`` on. The form of the
    microsoft/SoftTeacher ``Weighter`` hook, except that a negative step here really counts back from
    the end (the reference maps ``s < 0`` to ``max_iters - s``, past the end of the run).
``dict(type='linear', begin=-10000, end=-1, start_value=0.2, end_value=0.0)``
    ``start_value`` up to ``begin``, straight line to ``end_value`` at ``end``, then ``end_value``.
``dict(type='cosine', begin=0, end=20000, start_value=1.0, end_value=0.0)``
    the same with a half-cosine between ``begin`` and ``end``.
``dict(type='sigmoid_rampup', begin=0, end=4000, start_value=0.0, end_value=4.0)``
    ``start + (end_value - start) * exp(-5 (1 - T)^2)``, ``T`` the progress clipped to [0, 1]; the
    ramp-up of Laine & Aila 2017 (temporal ensembling) and Tarvainen & Valpola 2017 (Mean Teacher).
``dict(type='softteacher_warmup', warm_up=0, m_max=0.999)``
    ``min(m_max, 1 - (1 + warm_up) / (t + 1 + warm_up))``: the EMA-momentum warm-up of the
    microsoft/SoftTeacher ``MeanTeacher`` hook (0, 0.5, 0.667, ..., 0.99 at t=99, 0.999 from t=999).
"""
import bisect
import math
import numbers
from typing import Any, Callable, Dict, List, Sequence, Type, Union

__all__ = [
    'Schedule', 'ConstantSchedule', 'StepSchedule', 'LinearSchedule', 'CosineSchedule',
    'SigmoidRampupSchedule', 'SoftTeacherWarmupSchedule', 'SCHEDULES', 'register_schedule',
    'build_schedule', 'resolve_iteration'
]

SCHEDULES: Dict[str, Type['Schedule']] = {}


def register_schedule(name: str) -> Callable[[Type['Schedule']], Type['Schedule']]:
    """Class decorator: make a schedule buildable as ``dict(type=name, ...)``."""

    def add(cls: Type['Schedule']) -> Type['Schedule']:
        if name in SCHEDULES:
            raise ValueError(f'schedule type {name!r} is already registered')
        SCHEDULES[name] = cls
        return cls

    return add


# --------------------------------------------------------------------------------------------------
# Validation helpers


def _finite_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{field} must be a real number, got {value!r}')
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'{field} must be finite, got {value!r}')
    return value


def _iteration_position(value: Any, field: str) -> int:
    """An iteration position from the config: an integer (a float such as ``1e4`` if integral)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{field} must be an integer number of iterations, got {value!r}')
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value) or not float(value).is_integer():
        raise ValueError(f'{field} must be an integer number of iterations, got {value!r}')
    return int(value)


def _check_max_iters(max_iters: Any) -> int:
    if isinstance(max_iters, bool) or not isinstance(max_iters, numbers.Integral) or max_iters <= 0:
        raise ValueError(f'max_iters must be a positive integer, got {max_iters!r}')
    return int(max_iters)


def resolve_iteration(position: int, max_iters: int, field: str) -> int:
    """Map a configured position to an absolute iteration; negative positions count from the end.

    Raises ``ValueError`` naming ``field`` when the position lies outside ``[-max_iters, max_iters]``.
    """
    max_iters = _check_max_iters(max_iters)
    if position > max_iters:
        raise ValueError(f'{field}={position} is beyond max_iters={max_iters}')
    if position < -max_iters:
        raise ValueError(f'{field}={position} counts back further than max_iters={max_iters} '
                         f'(negative positions count back from the end of training)')
    return position + max_iters if position < 0 else position


def _same_sign(a: int, b: int) -> bool:
    """Whether two positions are comparable without knowing max_iters."""
    return (a < 0) == (b < 0)


def _progress(iteration: int, begin: int, end: int) -> float:
    """Fraction of the way from ``begin`` to ``end`` at ``iteration``, clipped to [0, 1]."""
    if iteration >= end:
        return 1.0
    if iteration <= begin:
        return 0.0
    return (iteration - begin) / (end - begin)


# --------------------------------------------------------------------------------------------------
# Schedules


class Schedule:
    """Base class: ``value(iteration, max_iters) -> float``, a pure function of its arguments.

    Subclasses implement ``_value``; ``value`` checks the arguments first.
    """

    def value(self, iteration: int, max_iters: int) -> float:
        """The value after ``iteration`` completed iterations of a run of ``max_iters`` iterations."""
        if isinstance(iteration, bool) or not isinstance(iteration, numbers.Integral) or iteration < 0:
            raise ValueError(f'iteration must be a non-negative integer, got {iteration!r}')
        return self._value(int(iteration), _check_max_iters(max_iters))

    def _value(self, iteration: int, max_iters: int) -> float:
        raise NotImplementedError

    def __call__(self, iteration: int, max_iters: int) -> float:
        return self.value(iteration, max_iters)

    def _fields(self) -> Dict[str, Any]:
        """Constructor arguments, in order, for ``__repr__``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{key}={value!r}' for key, value in self._fields().items())
        return f'{type(self).__name__}({args})'

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._fields() == other._fields()  # type: ignore

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))


@register_schedule('constant')
class ConstantSchedule(Schedule):
    """The same ``value`` at every iteration."""

    def __init__(self, value: float):
        self.constant = _finite_number(value, 'value')

    def _value(self, iteration: int, max_iters: int) -> float:
        return self.constant

    def _fields(self) -> Dict[str, Any]:
        return {'value': self.constant}


@register_schedule('step')
class StepSchedule(Schedule):
    """Piecewise constant: ``vals[0]`` before ``steps[0]``, ``vals[i]`` from iteration ``steps[i-1]``.

    With ``steps=[100]`` and ``vals=[4, 0]``: 4 for iterations 0..99, 0 from iteration 100 on.
    Steps must be strictly increasing once negative ones are resolved against ``max_iters``.
    """

    def __init__(self, steps: Sequence[int], vals: Sequence[float]):
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
            raise ValueError(f'steps must be a list of iterations, got {steps!r}')
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence):
            raise ValueError(f'vals must be a list of numbers, got {vals!r}')
        self.steps: List[int] = [_iteration_position(s, f'steps[{i}]') for i, s in enumerate(steps)]
        self.vals: List[float] = [_finite_number(v, f'vals[{i}]') for i, v in enumerate(vals)]
        if len(self.vals) != len(self.steps) + 1:
            raise ValueError(f'vals must have len(steps) + 1 = {len(self.steps) + 1} entries '
                             f'(one before the first step and one after each), got {len(self.vals)}')
        for i in range(1, len(self.steps)):
            previous, current = self.steps[i - 1], self.steps[i]
            if _same_sign(previous, current) and current <= previous:
                raise ValueError(f'steps must be strictly increasing, got steps[{i - 1}]={previous} '
                                 f'and steps[{i}]={current}')

    def resolved_steps(self, max_iters: int) -> List[int]:
        """Absolute iterations of the steps for a run of ``max_iters`` iterations."""
        resolved = [resolve_iteration(s, max_iters, f'steps[{i}]') for i, s in enumerate(self.steps)]
        for i in range(1, len(resolved)):
            if resolved[i] <= resolved[i - 1]:
                raise ValueError(
                    f'steps must be strictly increasing after resolving negative steps against '
                    f'max_iters={max_iters}: steps[{i - 1}]={self.steps[i - 1]} -> {resolved[i - 1]}, '
                    f'steps[{i}]={self.steps[i]} -> {resolved[i]}')
        return resolved

    def _value(self, iteration: int, max_iters: int) -> float:
        return self.vals[bisect.bisect_right(self.resolved_steps(max_iters), iteration)]

    def _fields(self) -> Dict[str, Any]:
        return {'steps': list(self.steps), 'vals': list(self.vals)}


class _RampSchedule(Schedule):
    """Shared part of the ramps: ``start_value`` up to ``begin``, ``end_value`` from ``end`` on,
    and ``start + (end_value - start) * shape(T)`` in between, ``T`` the progress in [0, 1]."""

    def __init__(self, begin: int, end: int, start_value: float, end_value: float):
        self.begin = _iteration_position(begin, 'begin')
        self.end = _iteration_position(end, 'end')
        self.start_value = _finite_number(start_value, 'start_value')
        self.end_value = _finite_number(end_value, 'end_value')
        if _same_sign(self.begin, self.end) and self.begin > self.end:
            raise ValueError(f'begin must not be after end, got begin={self.begin} and end={self.end}')

    def resolved_range(self, max_iters: int):
        """``(begin, end)`` as absolute iterations for a run of ``max_iters`` iterations."""
        begin = resolve_iteration(self.begin, max_iters, 'begin')
        end = resolve_iteration(self.end, max_iters, 'end')
        if begin > end:
            raise ValueError(f'begin must not be after end once resolved against max_iters={max_iters}: '
                             f'begin={self.begin} -> {begin}, end={self.end} -> {end}')
        return begin, end

    def shape(self, progress: float) -> float:
        """Fraction of the way from start_value to end_value at progress ``T`` in [0, 1]."""
        raise NotImplementedError

    def _value(self, iteration: int, max_iters: int) -> float:
        begin, end = self.resolved_range(max_iters)
        weight = self.shape(_progress(iteration, begin, end))
        return self.start_value + (self.end_value - self.start_value) * weight

    def _fields(self) -> Dict[str, Any]:
        return {'begin': self.begin, 'end': self.end, 'start_value': self.start_value,
                'end_value': self.end_value}


@register_schedule('linear')
class LinearSchedule(_RampSchedule):
    """Linear interpolation from ``start_value`` at ``begin`` to ``end_value`` at ``end``."""

    def shape(self, progress: float) -> float:
        return progress


@register_schedule('cosine')
class CosineSchedule(_RampSchedule):
    """Half-cosine interpolation: flat at both ends, ``(1 - cos(pi T)) / 2`` of the way at ``T``."""

    def shape(self, progress: float) -> float:
        return (1.0 - math.cos(math.pi * progress)) / 2.0


@register_schedule('sigmoid_rampup')
class SigmoidRampupSchedule(_RampSchedule):
    """Sigmoid-shaped ramp ``w(T) = exp(-5 (1 - T)^2)`` (Laine & Aila 2017; Tarvainen & Valpola 2017).

    The formula is kept exactly as in the Mean Teacher code, so the ramp does **not** start at
    ``start_value``: ``w(0) = exp(-5) ~= 0.0067``, hence at and before ``begin`` the value is
    ``start_value + 0.0067 * (end_value - start_value)``. ``w(0.5) = exp(-1.25) ~= 0.2865`` and
    ``w(1) = 1``, so ``end_value`` is reached exactly at ``end``. When ``begin == end`` the value
    jumps from that near-start value to ``end_value`` at ``end``.
    """

    def shape(self, progress: float) -> float:
        return math.exp(-5.0 * (1.0 - progress) ** 2)


@register_schedule('softteacher_warmup')
class SoftTeacherWarmupSchedule(Schedule):
    """EMA-momentum warm-up of the microsoft/SoftTeacher ``MeanTeacher`` hook.

    ``m(t) = min(m_max, 1 - (1 + warm_up) / (t + 1 + warm_up))``, ``t`` the completed iterations.
    With ``warm_up=0`` this is ``t / (t + 1)``: 0, 0.5, 0.667, ... 0.98 at t=49, 0.99 at t=99, and the
    cap 0.999 from t=999 on. The reference config uses ``warm_up=0, momentum(=m_max)=0.999``; its class
    default ``warm_up=100`` would take about 100.9k iterations to reach 0.999. Independent of
    ``max_iters``.
    """

    def __init__(self, warm_up: int = 0, m_max: float = 0.999):
        self.warm_up = _iteration_position(warm_up, 'warm_up')
        if self.warm_up < 0:
            raise ValueError(f'warm_up must be >= 0 iterations, got {warm_up!r}')
        self.m_max = _finite_number(m_max, 'm_max')
        if not 0.0 <= self.m_max <= 1.0:
            raise ValueError(f'm_max must be in [0, 1], got {m_max!r}')

    def _value(self, iteration: int, max_iters: int) -> float:
        warmed = 1.0 - (1.0 + self.warm_up) / (iteration + 1.0 + self.warm_up)
        return min(self.m_max, warmed)

    def _fields(self) -> Dict[str, Any]:
        return {'warm_up': self.warm_up, 'm_max': self.m_max}


# --------------------------------------------------------------------------------------------------
# Building


def build_schedule(cfg: Union[float, int, dict, Schedule]) -> Schedule:
    """Build a schedule from a plain number (a constant), a ``dict(type=..., ...)`` or a Schedule."""
    if isinstance(cfg, Schedule):
        return cfg
    if isinstance(cfg, numbers.Real) and not isinstance(cfg, bool):
        return ConstantSchedule(cfg)
    if not isinstance(cfg, dict):
        raise ValueError(f'a schedule config must be a number or a dict with a "type", got {cfg!r}')
    args = dict(cfg)
    kind = args.pop('type', None)
    if kind is None:
        raise ValueError(f'a schedule config needs a "type" (one of {sorted(SCHEDULES)}), got {cfg!r}')
    if kind not in SCHEDULES:
        raise ValueError(f'unknown schedule type {kind!r}; known types: {sorted(SCHEDULES)}')
    try:
        return SCHEDULES[kind](**args)
    except TypeError as error:  # unexpected or missing fields
        raise ValueError(f'bad fields for schedule type {kind!r}: {error}') from error
