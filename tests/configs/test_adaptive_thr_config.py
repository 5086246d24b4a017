"""The tree-crown demo's adaptive-threshold variant: only ``adaptive_thr`` differs from the Soft Teacher
phase it inherits, and the built model starts on the fixed 0.7 fallback."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.registry import MODELS

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs', 'demo')
BASE = osp.join(CONFIGS, 'soft_teacher_lite0_tree_crowns.py')
ADAPTIVE = osp.join(CONFIGS, 'soft_teacher_lite0_tree_crowns_adaptive_thr.py')


def test_only_the_adaptive_thresholds_differ_from_the_soft_teacher_phase():
    adaptive, base = Config.fromfile(ADAPTIVE).to_dict(), Config.fromfile(BASE).to_dict()
    option = adaptive['model']['semi_train_cfg'].pop('adaptive_thr')
    assert base['model']['semi_train_cfg'].get('adaptive_thr') is None
    assert adaptive == base
    assert option == dict(queue_size=2000, min_count=200, min_thr=0.5, max_thr=0.9, stages=('cls', 'rpn'))


def test_model_builds_with_per_class_thresholds_on_the_fixed_fallback():
    init_default_scope('ssod')
    model = MODELS.build(Config.fromfile(ADAPTIVE).model)
    module = model.adaptive_thresholds
    assert module.stages == ('cls', 'rpn') and module.queue.size == 2000 and module.num_classes == 1
    assert (module.min_count, module.min_thr, module.max_thr) == (200, 0.5, 0.9)
    thresholds = model.pseudo_thresholds()  # empty queue: cls_pseudo_thr / rpn_pseudo_thr (0.7)
    for stage in ('cls', 'rpn'):
        assert thresholds[stage].tolist() == pytest.approx([0.7])
