"""The paper's sample-ratio presets build into GroupSemiBalanceSampler schedules with the paper's values."""
import os.path as osp

import pytest
from mmengine.config import Config

from ssod.schedules import build_schedule

PRESETS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs', '_base_',
                   'sample_ratio')


@pytest.mark.parametrize('preset,max_iters,start,decay_iters', [
    ('partial_labeled_decay.py', 180000, 0.2, 10000),
    ('full_labeled_decay.py', 720000, 0.5, 20000),
])
def test_preset_values(preset, max_iters, start, decay_iters):
    schedule = build_schedule(Config.fromfile(osp.join(PRESETS, preset)).sample_ratio_schedule)
    begin = max_iters - decay_iters
    assert schedule.value(0, max_iters) == pytest.approx(start)
    assert schedule.value(begin, max_iters) == pytest.approx(start)
    assert schedule.value(max_iters - 1, max_iters) == pytest.approx(0.0)
    assert schedule.value(begin + (decay_iters - 1) // 2, max_iters) == pytest.approx(start / 2, rel=1e-3)
