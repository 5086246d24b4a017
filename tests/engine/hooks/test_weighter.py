"""Weighter: scheduled model attribute, logging, wrapper unwrapping, errors."""
import glob
import json

import pytest
from mmengine.model import is_model_wrapper
from mmengine.registry import MODEL_WRAPPERS
from torch import nn

from ssod.engine.hooks import Weighter
from ssod.registry import HOOKS
from tests.engine.hooks.hook_test_utils import FakeRunner, ToyTeacherStudent, build_runner


@pytest.fixture
def toy_model():
    return ToyTeacherStudent()


def run_iterations(hook, runner, iterations):
    """Call the hook as the train loop does and return the attribute value seen at each iteration."""
    hook.before_train(runner)
    seen = []
    for t in range(iterations):
        runner.iter = t
        hook.before_train_iter(runner, batch_idx=t)
        seen.append(runner.model.unsup_weight if not is_model_wrapper(runner.model)
                    else runner.model.module.unsup_weight)
    return seen


def test_softteacher_form_with_end_relative_step(toy_model):
    hook = Weighter(name='unsup_weight', steps=[-2], vals=[4.0, 0.0])
    assert run_iterations(hook, FakeRunner(toy_model, max_iters=6), 6) == [4, 4, 4, 4, 0, 0]
    # same config, longer run: the step follows the end
    model = ToyTeacherStudent()
    assert run_iterations(hook, FakeRunner(model, max_iters=8), 8) == [4] * 6 + [0, 0]


def test_schedule_form_and_logged_scalar(toy_model):
    hook = HOOKS.build(dict(type='Weighter', name='unsup_weight',
                            schedule=dict(type='linear', begin=0, end=4, start_value=0.0,
                                          end_value=2.0)))
    runner = FakeRunner(toy_model, max_iters=6)
    assert run_iterations(hook, runner, 6) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    history = runner.message_hub.get_scalar('train/unsup_weight')
    assert list(history.data[0]) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert runner.message_hub.get_scalar('train/unsup_weight').current() == 2.0


def test_plain_number_schedule(toy_model):
    hook = Weighter(name='unsup_weight', schedule=3)
    assert run_iterations(hook, FakeRunner(toy_model, max_iters=2), 2) == [3.0, 3.0]


def test_dotted_path_into_dict_attribute(toy_model):
    hook = Weighter(name='semi_train_cfg.unsup_weight', steps=[1], vals=[0.5, 2.0])
    runner = FakeRunner(toy_model, max_iters=3)
    hook.before_train(runner)
    for t, expected in enumerate([0.5, 2.0, 2.0]):
        runner.iter = t
        hook.before_train_iter(runner, batch_idx=t)
        assert toy_model.semi_train_cfg['unsup_weight'] == expected
    assert runner.message_hub.get_scalar('train/semi_train_cfg.unsup_weight').current() == 2.0


def test_two_weighters_coexist(toy_model):
    toy_model.sup_weight = 1.0
    hooks = [Weighter(name='unsup_weight', schedule=2.0), Weighter(name='sup_weight', schedule=0.5)]
    runner = FakeRunner(toy_model, max_iters=2)
    for hook in hooks:
        hook.before_train(runner)
        hook.before_train_iter(runner, batch_idx=0)
    assert (toy_model.unsup_weight, toy_model.sup_weight) == (2.0, 0.5)


def test_torch_dataparallel_is_unwrapped(toy_model):
    wrapped = nn.DataParallel(toy_model)  # registered by mmengine as a model wrapper; CPU is fine
    assert is_model_wrapper(wrapped)
    hook = Weighter(name='unsup_weight', steps=[1], vals=[7.0, 8.0])
    assert run_iterations(hook, FakeRunner(wrapped, max_iters=2), 2) == [7.0, 8.0]
    assert not hasattr(wrapped, 'unsup_weight')


class _ToyWrapper(nn.Module):
    """Stands in for MMDistributedDataParallel, which needs a process group."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def test_registered_wrapper_is_unwrapped(toy_model):
    name = '_SsodWeighterTestWrapper'
    if name not in MODEL_WRAPPERS.module_dict:
        MODEL_WRAPPERS.register_module(name=name, module=_ToyWrapper)
    wrapped = _ToyWrapper(toy_model)
    hook = Weighter(name='unsup_weight', schedule=0.25)
    assert run_iterations(hook, FakeRunner(wrapped, max_iters=1), 1) == [0.25]
    assert toy_model.unsup_weight == 0.25


def test_missing_attribute_names_attribute_and_model(toy_model):
    hook = Weighter(name='unsup_wieght', schedule=1.0)
    with pytest.raises(AttributeError, match="ToyTeacherStudent.*'unsup_wieght'"):
        hook.before_train(FakeRunner(toy_model))
    hook = Weighter(name='semi_train_cfg.sup_weight', schedule=1.0)
    with pytest.raises(AttributeError, match="semi_train_cfg \\(dict\\) has no attribute or key "
                                             "'sup_weight'"):
        hook.before_train(FakeRunner(toy_model))


def test_schedule_not_fitting_max_iters_fails_at_before_train(toy_model):
    hook = Weighter(name='unsup_weight', steps=[100], vals=[1.0, 0.0])
    with pytest.raises(ValueError, match='steps\\[0\\]=100 is beyond max_iters=10') as info:
        hook.before_train(FakeRunner(toy_model, max_iters=10))
    # names the hook, the setting and what to do
    assert str(info.value) == (
        "Weighter('unsup_weight') (custom_hooks): its schedule StepSchedule(steps=[100], "
        "vals=[1.0, 0.0]) does not fit this run: steps[0]=100 is beyond max_iters=10 "
        "(train_cfg.max_iters). Keep every step / begin / end of the schedule within [-max_iters, "
        "max_iters] (a negative one counts back from the end of training, e.g. steps=[-10000]), or "
        "raise train_cfg.max_iters.")


def test_ramp_ending_beyond_max_iters_names_the_hook_and_the_setting(toy_model):
    hook = Weighter(name='semi_train_cfg.unsup_weight',
                    schedule=dict(type='linear', begin=0, end=20, start_value=0.0, end_value=2.0))
    with pytest.raises(ValueError) as info:
        hook.before_train(FakeRunner(toy_model, max_iters=10))
    message = str(info.value)
    assert message.startswith("Weighter('semi_train_cfg.unsup_weight') (custom_hooks): ")
    assert 'end=20 is beyond max_iters=10 (train_cfg.max_iters)' in message
    assert message.endswith('or raise train_cfg.max_iters.')


@pytest.mark.parametrize('kwargs, match', [
    (dict(name='unsup_weight'), 'give a schedule or steps and vals'),
    (dict(name='unsup_weight', schedule=1.0, steps=[1], vals=[1, 2]), 'not both'),
    (dict(name='unsup_weight', steps=[1]), 'steps and vals must be given together'),
    (dict(name='unsup_weight', steps=[1], vals=[1]), 'len\\(steps\\) \\+ 1'),
    (dict(name='', schedule=1.0), 'attribute path'),
    (dict(name='a..b', schedule=1.0), 'attribute path'),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Weighter(**kwargs)


def test_repr():
    assert repr(Weighter(name='unsup_weight', steps=[-5], vals=[4, 0])) == \
        "Weighter(name='unsup_weight', schedule=StepSchedule(steps=[-5], vals=[4.0, 0.0]))"


def test_real_runner_sets_weight_before_each_forward(tmp_path):
    model = ToyTeacherStudent()
    runner = build_runner(tmp_path, max_iters=6, model=model, custom_hooks=[
        dict(type='Weighter', name='unsup_weight', steps=[2, -1], vals=[4.0, 2.0, 0.0])])
    runner.train()
    assert model.seen_unsup_weights == [4.0, 4.0, 2.0, 2.0, 2.0, 0.0]
    assert runner.message_hub.get_scalar('train/unsup_weight').current() == 0.0


def test_real_runner_logs_current_values(tmp_path):
    """Both hooks' scalars reach the visualizer backends (scalars.json here, TensorBoard likewise);
    mmengine's LogProcessor reports non-loss scalars at their current value, not smoothed."""
    runner = build_runner(tmp_path, max_iters=6, custom_hooks=[
        dict(type='Weighter', name='unsup_weight', steps=[2, -1], vals=[4.0, 2.0, 0.0]),
        dict(type='EMATeacherHook')])
    runner.train()
    (path, ) = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    with open(path) as f:
        records = [json.loads(line) for line in f]
    assert [r['unsup_weight'] for r in records] == [4.0, 4.0, 2.0, 2.0, 2.0, 0.0]
    assert [r['ema_momentum'] for r in records] == pytest.approx([t / (t + 1) for t in range(1, 7)])
