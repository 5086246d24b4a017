"""Configs and checkpoints for the pseudo-label writer's tests (tests/apis, tests/tools).

The model is the tiny random-init Faster R-CNN of the detector tests (3 classes), its classifier drawn
wider than mmdet's init so that the scores spread over (0, 1) instead of all sitting near 1/4. The test
pipeline resizes the 64 px synthetic images to 96 px, so that boxes have to be mapped back to the
original pixels. Checkpoints are saved as mmengine saves weights (``meta`` + ``state_dict``); the
models keep PyTorch's default initialisation (mmdet's ``init_weights`` would only add log lines).
"""
import os.path as osp

import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.registry import MODELS
from tests.models.detectors.semi_test_utils import SEMI_TRAIN_CFG, tiny_faster_rcnn

CLASSES = ('ellipse', 'rectangle', 'triangle')  # tests/conftest.py synthetic_data
TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]


def detector_cfg() -> dict:
    cfg = tiny_faster_rcnn()
    cfg['test_cfg']['rcnn']['max_per_img'] = 20  # fewer boxes: short files, quick tests
    return cfg


def config_dict(model: dict) -> dict:
    return dict(
        default_scope='ssod', model=model,
        train_dataloader=dict(dataset=dict(type='CocoDataset', metainfo=dict(classes=CLASSES))),
        test_dataloader=dict(dataset=dict(type='CocoDataset', metainfo=dict(classes=CLASSES),
                                          pipeline=TEST_PIPELINE)))


def semi_model_cfg(predict_on='teacher') -> dict:
    detector = detector_cfg()
    return dict(type='SoftTeacher', detector=detector,
                data_preprocessor=dict(type='MultiBranchDataPreprocessor',
                                       data_preprocessor=detector['data_preprocessor']),
                semi_train_cfg=dict(SEMI_TRAIN_CFG), semi_test_cfg=dict(predict_on=predict_on))


def write_config(folder, name: str, model: dict) -> str:
    """A Python config file (``repr`` of each entry: tuples stay tuples, nothing to format)."""
    path = osp.join(str(folder), name)
    with open(path, 'w') as f:
        f.writelines(f'{key} = {value!r}\n' for key, value in config_dict(model).items())
    return path


def _spread_scores(detector, seed: int, scale: float) -> None:
    """Redraw the classifier (weights ``scale`` * N(0, 1), zero bias); ``scale`` and ``seed`` were
    picked by looking at the score histograms: some scores below 0.05, many spread above."""
    generator = torch.Generator().manual_seed(seed)
    fc_cls = detector.roi_head.bbox_head.fc_cls
    with torch.no_grad():
        fc_cls.weight.copy_(torch.randn(fc_cls.weight.shape, generator=generator) * scale)
        fc_cls.bias.zero_()


def _save(model, path: str) -> str:
    torch.save(dict(meta=dict(iter=0, dataset_meta=dict(classes=CLASSES)), state_dict=model.state_dict()),
               path)
    return path


def plain_checkpoint(folder) -> tuple:
    """(config, checkpoint) of a plain Faster R-CNN."""
    init_default_scope('ssod')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(detector_cfg()))
    _spread_scores(model, seed=1, scale=0.1)
    return write_config(folder, 'plain.py', detector_cfg()), _save(model, osp.join(str(folder),
                                                                                        'plain.pth'))


def semi_checkpoint(folder) -> tuple:
    """(config, checkpoint) of a SoftTeacher whose teacher and student differ."""
    init_default_scope('ssod')
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(semi_model_cfg()))
    model.student.load_state_dict(model.teacher.state_dict())
    with torch.no_grad():  # every student weight moved a little, its classifier redrawn
        for param in model.student.parameters():
            param.add_(0.05 * torch.randn_like(param))
    _spread_scores(model.teacher, seed=8, scale=0.02)
    _spread_scores(model.student, seed=9, scale=0.02)
    return write_config(folder, 'semi.py', semi_model_cfg()), _save(model, osp.join(str(folder),
                                                                                      'semi.pth'))
