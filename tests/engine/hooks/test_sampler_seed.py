"""ssod's DistSamplerSeedHook: epoch-based loops are rejected for infinite samplers, allowed otherwise."""
import pytest

from ssod.engine import train_loop as loops_module
from tests.engine.train_loop_runs import NoTrainingGuard, make_runner


@pytest.mark.parametrize('train_cfg', [dict(by_epoch=True, max_epochs=1),
                                       dict(type='EpochBasedTrainLoop', max_epochs=1)])
def test_epoch_based_loop_with_infinite_sampler_is_rejected(tmp_path, train_cfg):
    runner, _, _ = make_runner(tmp_path, train_cfg=train_cfg, custom_hooks=[NoTrainingGuard()])
    with pytest.raises(ValueError, match=r"IterIndexedSampler is an infinite.*EpochBasedTrainLoop.*"
                                         r"type='SemiIterBasedTrainLoop', max_iters="):
        runner.train()


def test_epoch_based_loop_with_finite_sampler_is_allowed(tmp_path):
    from mmengine.runner import EpochBasedTrainLoop
    runner, _, _ = make_runner(tmp_path, 'replay', train_cfg=dict(by_epoch=True, max_epochs=1))
    loops_module.check_loop_fits_sampler(runner.train_loop)  # InfiniteSampler has no set_start_iter
    assert isinstance(runner.train_loop, EpochBasedTrainLoop)
