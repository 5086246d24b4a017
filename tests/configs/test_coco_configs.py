"""COCO benchmark configs: every one loads, takes its fold/percent from the command line, and builds its
model, datasets and sampler against a tiny fake COCO tree (tests/configs/coco_fake_tree.py).

Models are built once per distinct model config (3: SoftTeacher partial, SoftTeacher full, supervised
Faster R-CNN; the R50 detector builds in about a second, no weights are loaded).
"""
import copy
import glob
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.registry import DATA_SAMPLERS, DATASETS, MODELS
from ssod.apis.config_checks import ConfigError
from ssod.apis.data_checks import preflight_check
from ssod.apis.split_placeholders import resolve_split_placeholders
from tests.configs.coco_fake_tree import (LABELED_IMAGES, TRAIN_IMAGES, UNLABELED_IMAGES, VAL_IMAGES,
                                          make_fake_coco, point_config_at)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO_ROOT, 'configs')
SEMI_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, 'soft_teacher', '*coco*.py')))
BASELINE_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, 'baselines', '**', '*.py'), recursive=True))
PERCENTS = (1, 2, 5, 10)


@pytest.fixture(autouse=True)
def ssod_scope():
    init_default_scope('ssod')


@pytest.fixture(scope='module')
def fake_coco(tmp_path_factory):
    return make_fake_coco(str(tmp_path_factory.mktemp('coco')), folds=(1, 3), percents=PERCENTS)


def config_id(path):
    return osp.relpath(path, CONFIGS)


def load(path, root, **options):
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    point_config_at(cfg, root)
    return resolve_split_placeholders(cfg)


_built_models = {}


def build_model_once(model_cfg):
    key = repr(model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else model_cfg)
    if key not in _built_models:
        _built_models[key] = MODELS.build(copy.deepcopy(model_cfg))
    return _built_models[key]


def test_the_config_list_is_complete():
    names = {osp.basename(p) for p in SEMI_CONFIGS}
    for percent in PERCENTS:
        assert f'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k.py' in names
        assert f'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k_sr_decay.py' in names
        assert any(osp.basename(p) == f'faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k.py'
                   for p in BASELINE_CONFIGS)
    assert 'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_full_720k.py' in names
    assert 'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_full_720k_sr_decay.py' in names
    assert len(SEMI_CONFIGS) == 10 and len(BASELINE_CONFIGS) == 4


@pytest.mark.parametrize('path', SEMI_CONFIGS + BASELINE_CONFIGS, ids=config_id)
def test_config_builds_model_datasets_and_sampler(path, fake_coco):
    cfg = load(path, fake_coco)
    preflight_check(cfg)  # same classes everywhere, every file present
    assert cfg.default_scope == 'ssod'
    model = build_model_once(cfg.model)
    semi = 'soft_teacher' in path
    full = 'full' in path
    assert type(model).__name__ == ('SoftTeacher' if semi else 'FasterRCNN')
    detector = model.student if semi else model
    assert detector.roi_head.bbox_head.num_classes == 80

    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(val) == VAL_IMAGES
    if semi:
        labeled, unlabeled = train.datasets
        assert labeled.metainfo['classes'] == unlabeled.metainfo['classes'] == val.metainfo['classes']
        assert len(labeled) == (TRAIN_IMAGES if full else LABELED_IMAGES)
        assert len(unlabeled) == (UNLABELED_IMAGES if full else TRAIN_IMAGES - LABELED_IMAGES)
        sampler_cfg = cfg.train_dataloader.sampler
        assert sampler_cfg.type == 'GroupSemiBalanceSampler'
        assert cfg.train_dataloader.batch_size == sampler_cfg.batch_size == (8 if full else 5)
        assert list(sampler_cfg.source_ratio) == ([1, 1] if full else [1, 4])
        if 'ratio_schedule' in sampler_cfg:
            # The paper's decays: sr 0.2 -> 0 over the last 10k (partial), 0.5 -> 0 over the last 20k
            # (full). Built with a shorter max_iters: tabulating 720k iterations takes seconds.
            schedule = sampler_cfg.ratio_schedule
            assert (schedule.begin, schedule.start_value, schedule.end_value) == \
                ((-20000, 0.5, 0.0) if full else (-10000, 0.2, 0.0))
            assert sampler_cfg.max_iters == (720000 if full else 180000)
            sampler_cfg = dict(sampler_cfg, max_iters=30000)
        sampler = DATA_SAMPLERS.build(sampler_cfg, default_args=dict(dataset=train))
        indices = iter(sampler)
        first_batch = [next(indices) for _ in range(sampler_cfg['batch_size'])]
        num_labeled = sum(index < len(labeled) for index in first_batch)
        assert num_labeled == (4 if full else 1)  # 1:1 of 8, 1:4 of 5
        assert cfg.val_cfg.type == 'SemiValLoop'
        assert cfg.train_cfg.type == 'SemiIterBasedTrainLoop'
        assert cfg.default_hooks.checkpoint.save_best == 'teacher/coco/bbox_mAP'
        assert model.unsup_weight == (2.0 if full else 4.0)
        assert ('ratio_schedule' in sampler_cfg) == path.endswith('_sr_decay.py')
    else:
        assert len(train) == LABELED_IMAGES
        assert cfg.train_dataloader.batch_size == 1 and cfg.auto_scale_lr.base_batch_size == 8
    max_iters = 720000 if full else 180000
    assert cfg.train_cfg.max_iters == max_iters
    milestones = [480000, 640000] if full else [120000, 160000]
    assert cfg.param_scheduler[1].milestones == milestones
    assert cfg.param_scheduler[0].end == 500 and cfg.param_scheduler[0].start_factor == 0.001
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == \
        ('SGD', 0.01, 0.9, 0.0001)


@pytest.mark.parametrize('percent', PERCENTS)
def test_percent_configs_read_their_split_files(percent, fake_coco):
    semi = load(osp.join(CONFIGS, 'soft_teacher',
                         f'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k.py'), fake_coco)
    labeled, unlabeled = semi.train_dataloader.dataset.datasets
    assert labeled.ann_file == f'annotations/semi_supervised/instances_train2017.1@{percent}.json'
    assert unlabeled.ann_file == \
        f'annotations/semi_supervised/instances_train2017.1@{percent}-unlabeled.json'
    baseline = load(osp.join(CONFIGS, 'baselines', f'faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k.py'),
                    fake_coco)
    assert baseline.train_dataloader.dataset.ann_file == labeled.ann_file


def test_fold_and_percent_come_from_the_command_line(fake_coco):
    path = osp.join(CONFIGS, 'soft_teacher', 'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py')
    cfg = load(path, fake_coco, fold=3, percent=5)
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert labeled.ann_file.endswith('instances_train2017.3@5.json')
    assert unlabeled.ann_file.endswith('instances_train2017.3@5-unlabeled.json')
    preflight_check(cfg)
    assert len(DATASETS.build(labeled)) == LABELED_IMAGES


@pytest.mark.parametrize('options, message', [
    (dict(fold=6), 'fold must be an integer in 1..5, got 6'),
    (dict(fold=0), 'fold must be an integer in 1..5, got 0'),
    (dict(fold='2'), "got '2'"),
    (dict(percent=100), r'percent must be in \(0, 100\), got 100'),
    (dict(percent=0), r'percent must be in \(0, 100\), got 0'),
])
def test_bad_fold_or_percent_is_an_error(options, message):
    cfg = Config.fromfile(osp.join(CONFIGS, 'baselines', 'faster_rcnn_r50_caffe_fpn_coco_1pct_180k.py'))
    cfg.merge_from_dict(options)
    with pytest.raises(ConfigError, match=message):
        resolve_split_placeholders(cfg)


def test_unknown_placeholder_names_the_key():
    cfg = Config(dict(fold=1, percent=10, data=dict(ann_file='x.{flod}@{percent}.json',
                                                    fmt='iter_{}.pth')))
    with pytest.raises(ConfigError, match=r"data.ann_file = 'x.\{flod\}@\{percent\}.json': unknown "
                                          r'placeholder \{flod\}'):
        resolve_split_placeholders(cfg)


def test_placeholder_without_value_is_an_error():
    cfg = Config(dict(data=dict(ann_file='x.{fold}.json')))
    with pytest.raises(ConfigError, match='defines no `fold`'):
        resolve_split_placeholders(cfg)


def test_fractional_percent_and_untouched_format_strings():
    cfg = Config(dict(fold=2, percent=0.5, names=['a.{fold}@{percent}.json', 'iter_{}.pth', 7]))
    resolve_split_placeholders(cfg)
    assert cfg.names == ['a.2@0.5.json', 'iter_{}.pth', 7]


def test_semi_pipelines_record_homographies_on_the_fake_tree(fake_coco):
    """One labeled and one unlabeled sample of the 10 % config: branches and homography matrices."""
    np.random.seed(0)
    cfg = load(osp.join(CONFIGS, 'soft_teacher',
                        'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py'), fake_coco)
    labeled, unlabeled = DATASETS.build(cfg.train_dataloader.dataset).datasets
    sup = labeled[0]
    assert sup['data_samples']['sup'] is not None and sup['data_samples']['unsup_student'] is None
    short_side = min(sup['inputs']['sup'].shape[-2:])
    assert 400 <= short_side <= 1200  # random resize between (1333, 400) and (1333, 1200)
    views = unlabeled[0]['data_samples']
    for branch in ('unsup_teacher', 'unsup_student'):
        matrix = views[branch].metainfo['homography_matrix']
        assert matrix.shape == (3, 3)
        height, width = views[branch].metainfo['img_shape']
        assert 400 <= min(height, width) <= 1200 + 1
