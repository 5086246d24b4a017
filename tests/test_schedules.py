"""Values, end-relative positions, validation and building of ssod.schedules."""
import math

import pytest

from ssod.schedules import (SCHEDULES, ConstantSchedule, CosineSchedule, LinearSchedule, Schedule,
                            SigmoidRampupSchedule, SoftTeacherWarmupSchedule, StepSchedule,
                            build_schedule, resolve_iteration)


# ------------------------------------------------------------------------------------------------
# Values


def test_constant():
    s = ConstantSchedule(0.5)
    assert [s.value(t, 10) for t in (0, 5, 10, 99)] == [0.5] * 4
    assert s(3, 10) == 0.5


def test_step_positive_steps():
    s = StepSchedule(steps=[2, 5], vals=[4.0, 2.0, 0.0])
    assert [s.value(t, 10) for t in range(8)] == [4, 4, 2, 2, 2, 0, 0, 0]


def test_step_negative_steps_count_back_from_max_iters():
    # SoftTeacher's intended steps=[-5000]: 4 until the last 5000 iterations, then 0.
    s = StepSchedule(steps=[-5000], vals=[4, 0])
    assert s.value(174999, 180000) == 4.0
    assert s.value(175000, 180000) == 0.0
    # same config, shorter run: the step moves with max_iters
    assert s.value(4999, 10000) == 4.0
    assert s.value(5000, 10000) == 0.0


def test_step_mixed_signs():
    s = StepSchedule(steps=[100, -10], vals=[1, 2, 3])
    assert [s.value(t, 1000) for t in (99, 100, 989, 990)] == [1, 2, 2, 3]
    assert [s.value(t, 200) for t in (99, 100, 189, 190)] == [1, 2, 2, 3]


def test_step_at_max_iters_never_reached_in_training():
    s = StepSchedule(steps=[10], vals=[1, 0])
    assert s.value(9, 10) == 1.0  # last iteration that runs
    assert s.value(10, 10) == 0.0


def test_linear():
    s = LinearSchedule(begin=10, end=20, start_value=1.0, end_value=3.0)
    assert s.value(0, 100) == 1.0
    assert s.value(10, 100) == 1.0
    assert s.value(15, 100) == pytest.approx(2.0)
    assert s.value(20, 100) == 3.0
    assert s.value(50, 100) == 3.0


def test_linear_last_iterations_example():
    # "sr = 0.2 decreasing to 0 over the last 10k iterations"
    s = build_schedule(dict(type='linear', begin=-10000, end=-1, start_value=0.2, end_value=0.0))
    assert s.value(170000, 180000) == 0.2
    assert s.value(179999, 180000) == 0.0
    assert s.value(174999 + 1, 180000) == pytest.approx(0.2 * (1 - 5000 / 9999))
    # a 20k-iteration run: same shape, shifted
    assert s.value(10000, 20000) == 0.2
    assert s.value(19999, 20000) == 0.0
    assert s.value(15000, 20000) == pytest.approx(0.2 * (1 - 5000 / 9999))


def test_cosine():
    s = CosineSchedule(begin=0, end=100, start_value=1.0, end_value=0.0)
    assert s.value(0, 100) == 1.0
    assert s.value(25, 100) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert s.value(50, 100) == pytest.approx(0.5)
    assert s.value(100, 100) == pytest.approx(0.0)


def test_sigmoid_rampup_formula():
    s = SigmoidRampupSchedule(begin=0, end=100, start_value=0.0, end_value=4.0)
    assert s.value(0, 100) == pytest.approx(4.0 * math.exp(-5.0))  # w(0) = exp(-5), not 0
    assert s.value(50, 100) == pytest.approx(4.0 * math.exp(-5.0 * 0.25))
    assert s.value(100, 100) == 4.0
    assert s.value(75, 100) == pytest.approx(4.0 * math.exp(-5.0 * 0.0625))


def test_sigmoid_rampup_start_and_before_begin():
    s = SigmoidRampupSchedule(begin=-100, end=-1, start_value=1.0, end_value=2.0)
    near_start = 1.0 + math.exp(-5.0)
    assert s.value(0, 1000) == pytest.approx(near_start)
    assert s.value(900, 1000) == pytest.approx(near_start)
    assert s.value(999, 1000) == 2.0


def test_ramp_with_begin_equal_end_is_a_step():
    s = LinearSchedule(begin=5, end=5, start_value=0.0, end_value=1.0)
    assert [s.value(t, 10) for t in (4, 5, 6)] == [0.0, 1.0, 1.0]


def test_softteacher_warmup_values():
    s = SoftTeacherWarmupSchedule(warm_up=0, m_max=0.999)
    assert s.value(0, 10) == 0.0
    assert s.value(1, 10) == 0.5
    assert s.value(9, 10) == pytest.approx(0.9)
    assert s.value(50, 10) == pytest.approx(50 / 51)
    assert s.value(99, 10) == pytest.approx(0.99)
    assert s.value(998, 10) == pytest.approx(998 / 999)
    assert s.value(999, 10) == 0.999
    assert s.value(100000, 10) == 0.999
    s100 = SoftTeacherWarmupSchedule(warm_up=100, m_max=0.999)
    assert s100.value(0, 10) == 0.0
    assert s100.value(101, 10) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------
# Resolution and validation


def test_resolve_iteration():
    assert resolve_iteration(-1, 100, 'end') == 99
    assert resolve_iteration(-100, 100, 'end') == 0
    assert resolve_iteration(100, 100, 'end') == 100
    assert resolve_iteration(0, 100, 'end') == 0


@pytest.mark.parametrize('cfg, match', [
    (dict(type='step', steps=[1, 2], vals=[1, 2]), 'vals must have len\\(steps\\) \\+ 1 = 3'),
    (dict(type='step', steps=[5, 5], vals=[1, 2, 3]), 'steps must be strictly increasing'),
    (dict(type='step', steps=[-5, -10], vals=[1, 2, 3]), 'steps must be strictly increasing'),
    (dict(type='step', steps=[1], vals=[1, float('nan')]), 'vals\\[1\\] must be finite'),
    (dict(type='step', steps=[1.5], vals=[1, 2]), 'steps\\[0\\] must be an integer'),
    (dict(type='step', steps=5, vals=[1, 2]), 'steps must be a list'),
    (dict(type='linear', begin=20, end=10, start_value=0, end_value=1), 'begin must not be after end'),
    (dict(type='cosine', begin=-1, end=-10, start_value=0, end_value=1), 'begin must not be after end'),
    (dict(type='linear', begin=0, end=10, start_value=float('inf'), end_value=1),
     'start_value must be finite'),
    (dict(type='sigmoid_rampup', begin=0, end=10, start_value=0, end_value=float('nan')),
     'end_value must be finite'),
    (dict(type='constant', value=float('inf')), 'value must be finite'),
    (dict(type='constant', value='x'), 'value must be a real number'),
    (dict(type='softteacher_warmup', m_max=1.5), 'm_max must be in \\[0, 1\\]'),
    (dict(type='softteacher_warmup', warm_up=-1), 'warm_up must be >= 0'),
])
def test_build_time_errors(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_schedule(cfg)


@pytest.mark.parametrize('schedule, max_iters, match', [
    (StepSchedule(steps=[11], vals=[1, 2]), 10, 'steps\\[0\\]=11 is beyond max_iters=10'),
    (StepSchedule(steps=[-11], vals=[1, 2]), 10, 'steps\\[0\\]=-11 counts back further'),
    (StepSchedule(steps=[8, -5], vals=[1, 2, 3]), 10,
     'strictly increasing after resolving .*steps\\[0\\]=8 -> 8, steps\\[1\\]=-5 -> 5'),
    (LinearSchedule(begin=0, end=200, start_value=0, end_value=1), 100, 'end=200 is beyond'),
    (LinearSchedule(begin=-200, end=-1, start_value=0, end_value=1), 100, 'begin=-200 counts back'),
    (CosineSchedule(begin=80, end=-50, start_value=0, end_value=1), 100,
     'begin must not be after end once resolved against max_iters=100: begin=80 -> 80, end=-50 -> 50'),
    (ConstantSchedule(1.0), 0, 'max_iters must be a positive integer'),
])
def test_resolve_time_errors(schedule, max_iters, match):
    with pytest.raises(ValueError, match=match):
        schedule.value(0, max_iters)


def test_mixed_sign_steps_valid_for_long_run_only():
    s = StepSchedule(steps=[8, -5], vals=[1, 2, 3])
    assert s.value(8, 100) == 2.0
    with pytest.raises(ValueError):
        s.value(8, 10)


# ------------------------------------------------------------------------------------------------
# Building and repr


def test_build_from_number_dict_and_instance():
    assert build_schedule(0.25) == ConstantSchedule(0.25)
    assert build_schedule(3).value(0, 1) == 3.0
    assert isinstance(build_schedule(dict(type='step', steps=[1], vals=[0, 1])), StepSchedule)
    s = LinearSchedule(begin=0, end=1, start_value=0, end_value=1)
    assert build_schedule(s) is s
    assert set(SCHEDULES) >= {'constant', 'step', 'linear', 'cosine', 'sigmoid_rampup',
                              'softteacher_warmup'}
    assert all(issubclass(cls, Schedule) for cls in SCHEDULES.values())


def test_build_accepts_configdict():
    from mmengine.config import ConfigDict
    s = build_schedule(ConfigDict(type='cosine', begin=0, end=10, start_value=1, end_value=0))
    assert s.value(5, 10) == pytest.approx(0.5)


@pytest.mark.parametrize('cfg, match', [
    ('linear', 'must be a number or a dict'),
    (True, 'must be a number or a dict'),
    (dict(begin=0), 'needs a "type"'),
    (dict(type='exponential'), "unknown schedule type 'exponential'; known types: \\['constant'"),
    (dict(type='linear', begin=0, end=1, start_value=0, end_value=1, gamma=2),
     "bad fields for schedule type 'linear'.*gamma"),
    (dict(type='linear', begin=0), "bad fields for schedule type 'linear'"),
])
def test_build_errors(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_schedule(cfg)


def test_repr():
    assert repr(ConstantSchedule(1)) == 'ConstantSchedule(value=1.0)'
    assert repr(StepSchedule([-5000], [4, 0])) == 'StepSchedule(steps=[-5000], vals=[4.0, 0.0])'
    assert repr(build_schedule(dict(type='linear', begin=-10000, end=-1, start_value=0.2,
                                    end_value=0.0))) == \
        'LinearSchedule(begin=-10000, end=-1, start_value=0.2, end_value=0.0)'
    assert repr(SigmoidRampupSchedule(0, 10, 0, 1)) == \
        'SigmoidRampupSchedule(begin=0, end=10, start_value=0.0, end_value=1.0)'
    assert repr(SoftTeacherWarmupSchedule()) == 'SoftTeacherWarmupSchedule(warm_up=0, m_max=0.999)'


def test_integral_float_positions_accepted():
    s = StepSchedule(steps=[1e3], vals=[0, 1])
    assert s.steps == [1000]
    assert s.value(1000, 2000) == 1.0


@pytest.mark.parametrize('iteration', [-1, 1.5, True])
def test_bad_iteration(iteration):
    with pytest.raises(ValueError, match='iteration must be a non-negative integer'):
        ConstantSchedule(1.0).value(iteration, 10)
