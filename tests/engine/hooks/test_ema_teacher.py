"""EMATeacherHook: EMA arithmetic, interval, momentum forms, buffers, start copy vs resume/load."""
import os.path as osp
import warnings

import pytest
import torch
from torch import nn

from ssod.engine.hooks import EMATeacherHook
from ssod.registry import HOOKS
from tests.engine.hooks.hook_test_utils import FakeRunner, ToyTeacherStudent, build_runner


def weights(module):
    return module.weight.item(), module.bias.item()


def set_weights(module, weight, bias):
    with torch.no_grad():
        module.weight.fill_(weight)
        module.bias.fill_(bias)


class Float64TeacherStudent(nn.Module):
    """Double precision so that expected values computed in Python match to ~1e-15."""

    def __init__(self, with_bn=False):
        super().__init__()
        self.teacher = nn.Linear(1, 1).double()
        self.student = nn.Linear(1, 1).double()
        if with_bn:
            self.teacher.add_module('bn', nn.BatchNorm1d(1).double())
            self.student.add_module('bn', nn.BatchNorm1d(1).double())
        set_weights(self.teacher, 2.0, -1.0)
        set_weights(self.student, 10.0, 3.0)


def started(hook, model, max_iters=100, iteration=0):
    """A fake runner after ``hook.before_train`` (which copies student -> teacher at iteration 0)."""
    runner = FakeRunner(model, max_iters=max_iters, iteration=iteration)
    hook.before_train(runner)
    return runner


def step(hook, runner, iteration):
    runner.iter = iteration
    hook.after_train_iter(runner, batch_idx=iteration)


# ------------------------------------------------------------------------------------------------
# Arithmetic


def test_one_update_is_weighted_average():
    model = Float64TeacherStudent()
    hook = EMATeacherHook(teacher_momentum=0.9)
    runner = started(hook, model, iteration=5)  # iter > 0: no start copy, teacher stays (2, -1)
    assert weights(model.teacher) == (2.0, -1.0)
    step(hook, runner, 5)
    assert weights(model.teacher) == pytest.approx((0.9 * 2.0 + 0.1 * 10.0, 0.9 * -1.0 + 0.1 * 3.0),
                                                   rel=1e-14)
    assert weights(model.student) == (10.0, 3.0)
    assert runner.message_hub.get_scalar('train/ema_momentum').current() == 0.9


def test_float32_update_matches_torch_arithmetic():
    model = ToyTeacherStudent()
    t0, s0 = model.teacher.weight.detach().clone(), model.student.weight.detach().clone()
    hook = EMATeacherHook(teacher_momentum=0.9)
    runner = started(hook, model, iteration=1)
    step(hook, runner, 1)
    torch.testing.assert_close(model.teacher.weight.detach(), t0 * 0.9 + s0 * 0.1, rtol=1e-6, atol=0)


def test_two_updates_compound():
    model = Float64TeacherStudent()
    hook = EMATeacherHook(teacher_momentum=0.5)
    runner = started(hook, model, iteration=1)
    step(hook, runner, 1)  # 0.5*2 + 0.5*10 = 6
    set_weights(model.student, 0.0, 0.0)
    step(hook, runner, 2)  # 0.5*6 + 0 = 3
    assert weights(model.teacher)[0] == pytest.approx(3.0, rel=1e-14)


def test_interval_updates_only_every_interval_iterations():
    model = Float64TeacherStudent()
    hook = EMATeacherHook(teacher_momentum=0.5, interval=3)
    runner = started(hook, model, iteration=1)
    history = []
    for t in range(1, 9):  # after_train_iter at runner.iter = t: t + 1 iterations completed
        step(hook, runner, t)
        history.append(weights(model.teacher)[0])
    # updates when t + 1 in (3, 6, 9): at t = 2, 5, 8
    expected_1 = 0.5 * 2 + 0.5 * 10
    expected_2 = 0.5 * expected_1 + 0.5 * 10
    expected_3 = 0.5 * expected_2 + 0.5 * 10
    assert history == pytest.approx([2, expected_1, expected_1, expected_1, expected_2, expected_2,
                                     expected_2, expected_3])
    assert len(runner.message_hub.get_scalar('train/ema_momentum').data[0]) == 3


def test_non_floating_parameters_are_copied():
    model = Float64TeacherStudent()
    model.teacher.register_parameter('count', nn.Parameter(torch.tensor([1]), requires_grad=False))
    model.student.register_parameter('count', nn.Parameter(torch.tensor([7]), requires_grad=False))
    hook = EMATeacherHook(teacher_momentum=0.9)
    runner = started(hook, model, iteration=3)
    step(hook, runner, 3)
    assert model.teacher.count.item() == 7


def test_parameters_matched_by_name_not_order():
    class Named(nn.Module):
        def __init__(self, order):
            super().__init__()
            for name in order:
                self.register_parameter(name, nn.Parameter(torch.zeros(1, dtype=torch.float64)))

    model = nn.Module()
    model.teacher, model.student = Named(['a', 'b']), Named(['b', 'a'])
    with torch.no_grad():
        model.student.a.fill_(1.0)
        model.student.b.fill_(100.0)
    hook = EMATeacherHook(teacher_momentum=0.5)
    runner = started(hook, model, iteration=1)
    step(hook, runner, 1)
    assert (model.teacher.a.item(), model.teacher.b.item()) == (0.5, 50.0)


def test_mismatched_teacher_student_error():
    model = nn.Module()
    model.teacher, model.student = nn.Linear(1, 1), nn.Linear(1, 2)
    with pytest.raises(ValueError, match="'weight' has shape \\(1, 1\\) in the teacher and \\(2, 1\\)"):
        started(EMATeacherHook(teacher_momentum=0.9), model)
    model.student = nn.Sequential(nn.Linear(1, 1))
    with pytest.raises(ValueError, match='differ by name'):
        started(EMATeacherHook(teacher_momentum=0.9), model)


# ------------------------------------------------------------------------------------------------
# Momentum forms


def test_momentum_schedule_values_logged():
    model = Float64TeacherStudent()
    hook = HOOKS.build(dict(type='EMATeacherHook',
                            teacher_momentum=dict(type='step', steps=[3], vals=[0.99, 0.999])))
    runner = started(hook, model, max_iters=6)
    for t in range(6):
        step(hook, runner, t)
    # m evaluated at completed iterations 1..6: 0.99 for 1, 2; 0.999 from 3
    assert list(runner.message_hub.get_scalar('train/ema_momentum').data[0]) == \
        [0.99, 0.99, 0.999, 0.999, 0.999, 0.999]


def test_momentum_linear_end_relative():
    hook = EMATeacherHook(teacher_momentum=dict(type='linear', begin=0, end=-1, start_value=0.9,
                                                end_value=0.99))
    assert hook.momentum_at(0, 11) == 0.9
    assert hook.momentum_at(5, 11) == pytest.approx(0.945)
    assert hook.momentum_at(10, 11) == 0.99


def test_softteacher_warmup_default_and_string_form():
    default = EMATeacherHook()
    by_name = EMATeacherHook(teacher_momentum='softteacher_warmup')
    by_dict = EMATeacherHook(teacher_momentum=dict(type='softteacher_warmup', warm_up=0, m_max=0.999))
    for hook in (default, by_name, by_dict):
        assert hook.momentum_at(0, 10) == 0.0
        assert hook.momentum_at(1, 10) == 0.5
        assert hook.momentum_at(9, 10) == pytest.approx(0.9)
        assert hook.momentum_at(50, 10) == pytest.approx(50 / 51)
        assert hook.momentum_at(99, 10) == pytest.approx(0.99)
        assert hook.momentum_at(999, 10) == 0.999
        assert hook.momentum_at(5000, 10) == 0.999
    capped = EMATeacherHook(teacher_momentum=dict(type='softteacher_warmup', warm_up=100, m_max=0.9))
    assert capped.momentum_at(101, 10) == pytest.approx(0.5)
    assert capped.momentum_at(10 ** 6, 10) == 0.9


def test_first_update_with_warmup_is_average_of_copy_and_student():
    """warm_up=0: the first update (1 iteration done) uses m = 0.5."""
    model = Float64TeacherStudent()
    hook = EMATeacherHook()
    runner = started(hook, model)  # copy: teacher = (10, 3)
    set_weights(model.student, 12.0, 1.0)  # as if one optimizer step happened
    step(hook, runner, 0)
    assert weights(model.teacher) == pytest.approx((11.0, 2.0))
    assert runner.message_hub.get_scalar('train/ema_momentum').current() == 0.5


@pytest.mark.parametrize('momentum', [1.5, -0.1])
def test_momentum_out_of_range_is_error(momentum):
    with pytest.raises(ValueError, match='outside \\[0, 1\\].*weight of the TEACHER'):
        EMATeacherHook(teacher_momentum=momentum)


def test_scheduled_momentum_out_of_range_is_error():
    hook = EMATeacherHook(teacher_momentum=dict(type='linear', begin=0, end=10, start_value=0.9,
                                                end_value=1.5))
    with pytest.raises(ValueError, match='outside \\[0, 1\\]'):
        started(hook, Float64TeacherStudent(), max_iters=10)


def test_small_momentum_warns_mmdet_convention():
    with pytest.warns(UserWarning, match='did you mean 0.999'):
        EMATeacherHook(teacher_momentum=0.001)
    hook = EMATeacherHook(teacher_momentum=dict(type='constant', value=0.2))
    with pytest.warns(UserWarning, match='at the end of training'):
        started(hook, Float64TeacherStudent())
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        EMATeacherHook(teacher_momentum=0.999)
        started(EMATeacherHook(), Float64TeacherStudent())  # warm-up starts at 0: no warning
        # exactly 0: the teacher copies the student every iteration, on purpose
        started(EMATeacherHook(teacher_momentum=dict(type='constant', value=0.0)), Float64TeacherStudent())
        EMATeacherHook(teacher_momentum=0.0)


@pytest.mark.parametrize('kwargs, match', [
    (dict(interval=0), 'interval must be a positive integer'),
    (dict(interval=1.5), 'interval must be a positive integer'),
    (dict(buffers='average'), "buffers must be one of \\('ema', 'copy', 'keep'\\)"),
    (dict(skip_buffer=True), "skip_buffer is mmdet's argument"),
    (dict(momentum=0.001), "momentum is mmdet's MeanTeacherHook argument.*teacher_momentum=0.999"),
    (dict(teacher_momentum='exponential'), "unknown schedule type 'exponential'"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EMATeacherHook(**kwargs)


# ------------------------------------------------------------------------------------------------
# Buffers


def bn_model():
    model = Float64TeacherStudent(with_bn=True)
    model.teacher.bn.running_mean.fill_(1.0)
    model.teacher.bn.num_batches_tracked.fill_(2)
    model.student.bn.running_mean.fill_(3.0)
    model.student.bn.num_batches_tracked.fill_(40)
    return model


@pytest.mark.parametrize('buffers, mean, count', [('ema', 0.9 * 1 + 0.1 * 3, 40), ('copy', 3.0, 40),
                                                  ('keep', 1.0, 2)])
def test_buffer_modes(buffers, mean, count):
    model = bn_model()
    hook = EMATeacherHook(teacher_momentum=0.9, buffers=buffers)
    runner = started(hook, model, iteration=1)
    step(hook, runner, 1)
    assert model.teacher.bn.running_mean.item() == pytest.approx(mean, rel=1e-14)
    assert model.teacher.bn.num_batches_tracked.item() == count
    assert weights(model.teacher) == pytest.approx((0.9 * 2 + 0.1 * 10, 0.9 * -1 + 0.1 * 3))


def test_start_copy_includes_buffers():
    model = bn_model()
    started(EMATeacherHook(teacher_momentum=0.9, buffers='keep'), model)
    assert model.teacher.bn.running_mean.item() == 3.0
    assert model.teacher.bn.num_batches_tracked.item() == 40


# ------------------------------------------------------------------------------------------------
# Start of training: copy, resume, load_from


def test_start_of_new_run_copies_student():
    model = Float64TeacherStudent()
    started(EMATeacherHook(teacher_momentum=0.9), model)
    assert weights(model.teacher) == (10.0, 3.0)


def test_no_copy_when_resumed_iteration_positive():
    model = Float64TeacherStudent()
    started(EMATeacherHook(teacher_momentum=0.9), model, iteration=4)
    assert weights(model.teacher) == (2.0, -1.0)


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_no_copy_when_checkpoint_has_teacher(prefix):
    model = Float64TeacherStudent()
    hook = EMATeacherHook(teacher_momentum=0.9)
    runner = FakeRunner(model)
    hook.after_load_checkpoint(runner, dict(state_dict={f'{prefix}teacher.weight': 0,
                                                        f'{prefix}student.weight': 0}))
    hook.before_train(runner)
    assert weights(model.teacher) == (2.0, -1.0)


def test_copy_when_checkpoint_is_a_plain_detector():
    model = Float64TeacherStudent()
    hook = EMATeacherHook(teacher_momentum=0.9)
    runner = FakeRunner(model)
    hook.after_load_checkpoint(runner, dict(state_dict={'backbone.conv.weight': 0}))
    hook.before_train(runner)
    assert weights(model.teacher) == (10.0, 3.0)


def test_model_without_teacher_student_is_error():
    with pytest.raises(AttributeError, match='`teacher` and `student`.*Linear has no teacher or '
                                             'student'):
        started(EMATeacherHook(teacher_momentum=0.9), nn.Linear(1, 1))
    model = nn.Module()
    model.teacher = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match='Module has no student'):
        started(EMATeacherHook(teacher_momentum=0.9), model)


def test_wrapped_model_is_unwrapped():
    model = Float64TeacherStudent()
    hook = EMATeacherHook(teacher_momentum=0.9)
    runner = started(hook, nn.DataParallel(model), iteration=1)
    step(hook, runner, 1)
    assert weights(model.teacher)[0] == pytest.approx(0.9 * 2 + 0.1 * 10)


# ------------------------------------------------------------------------------------------------
# Real mmengine Runner: resume and load_from


def teacher_state(model):
    return {k: v.clone() for k, v in model.teacher.state_dict().items()}


def test_real_runner_resume_keeps_teacher_and_matches_uninterrupted_run(tmp_path):
    hook_cfg = dict(type='EMATeacherHook', teacher_momentum=0.6)
    full_model = ToyTeacherStudent()
    full = build_runner(tmp_path / 'full', [hook_cfg], max_iters=6, model=full_model)
    full.train()
    # the start copy happened, then the teacher moved towards the trained student
    assert weights(full_model.teacher) != (-3.0, 5.0)
    assert full.message_hub.get_scalar('train/ema_momentum').current() == 0.6

    ckpt = osp.join(str(tmp_path / 'full'), 'iter_3.pth')
    resumed_model = ToyTeacherStudent()
    resumed = build_runner(tmp_path / 'resumed', [hook_cfg], max_iters=6, model=resumed_model,
                           load_from=ckpt, resume=True)
    resumed.train()
    assert resumed.iter == 6
    for key, value in teacher_state(full_model).items():
        torch.testing.assert_close(resumed_model.teacher.state_dict()[key], value, rtol=0, atol=0)


def test_real_runner_load_from_ssod_checkpoint_keeps_teacher(tmp_path):
    first_model = ToyTeacherStudent()
    build_runner(tmp_path / 'first', [dict(type='EMATeacherHook', teacher_momentum=0.6)], max_iters=3,
                 model=first_model).train()
    saved_teacher = weights(first_model.teacher)
    assert saved_teacher != weights(first_model.student)

    # momentum 1.0: updates leave the teacher unchanged, so it must equal the loaded one
    second_model = ToyTeacherStudent()
    build_runner(tmp_path / 'second', [dict(type='EMATeacherHook', teacher_momentum=1.0)], max_iters=1,
                 model=second_model, load_from=osp.join(str(tmp_path / 'first'), 'iter_3.pth')).train()
    assert weights(second_model.teacher) == pytest.approx(saved_teacher, abs=0)


def test_repr():
    assert repr(EMATeacherHook(teacher_momentum=0.99, interval=2, buffers='copy')) == \
        "EMATeacherHook(teacher_momentum=ConstantSchedule(value=0.99), interval=2, buffers='copy')"
