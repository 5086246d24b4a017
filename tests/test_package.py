"""The package imports, has a version, and its registries are children of mmdet's in scope 'ssod'."""
import re

import pytest
from mmengine.registry import DefaultScope, init_default_scope

import ssod
from ssod import registry

REGISTRY_NAMES = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'DATASETS', 'DATA_SAMPLERS',
    'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR',
    'VISUALIZERS', 'VISBACKENDS'
]


def test_version_is_pep440():
    assert re.fullmatch(r'\d+\.\d+\.\d+([ab]|rc)?\d*', ssod.__version__)


@pytest.mark.parametrize('name', REGISTRY_NAMES)
def test_registry_is_child_of_mmdet(name):
    import mmdet.registry
    ours, theirs = getattr(registry, name), getattr(mmdet.registry, name)
    assert ours.scope == 'ssod'
    assert ours.parent is theirs
    assert theirs.children['ssod'] is ours


def test_mmdet_components_build_without_prefix_in_ssod_scope():
    with DefaultScope.overwrite_default_scope('ssod'):
        detector = registry.MODELS.build(
            dict(type='RetinaNet',
                 backbone=dict(type='ResNet', depth=18, init_cfg=None),
                 neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=32, num_outs=5),
                 bbox_head=dict(
                     type='RetinaHead', num_classes=2, in_channels=32, feat_channels=32,
                     anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                           scales_per_octave=1, ratios=[1.0],
                                           strides=[8, 16, 32, 64, 128]),
                     bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                     loss_cls=dict(type='FocalLoss', use_sigmoid=True),
                     loss_bbox=dict(type='L1Loss'))))
        transform = registry.TRANSFORMS.build(dict(type='RandomFlip', prob=0.5))
    assert type(detector).__name__ == 'RetinaNet'
    assert type(transform).__name__ == 'RandomFlip'


def test_unknown_type_raises_clear_error():
    init_default_scope('ssod')
    with pytest.raises(KeyError, match='NoSuchDetector'):
        registry.MODELS.build(dict(type='NoSuchDetector'))
