"""Noisy Student configs (configs/noisy_student/): each loads, names a teacher config that exists, and builds
its student and its labeled + pseudo-labeled training data (a pseudo-label file written here, with scores)
and sampler; the COCO ones take fold/percent from the command line like the other COCO configs."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.apis.split_placeholders import resolve_split_placeholders
from ssod.experiments.self_training import SelfTrainingSpec, pseudo_datasets, student_config, teacher_config_of
from ssod.registry import DATA_SAMPLERS, DATASETS, MODELS
from tests.configs.coco_fake_tree import make_fake_coco, point_config_at, split_name

CONFIGS = sorted(glob.glob('configs/noisy_student/*.py'))
COCO = [p for p in CONFIGS if 'coco' in p]


@pytest.fixture(autouse=True)
def ssod_scope():
    init_default_scope('ssod')


def pseudo_labels_from(ann_file, out, score):
    """The images of ``ann_file`` with one box each of the first category, scored ``score``."""
    with open(ann_file) as f:
        coco = json.load(f)
    annotations = [dict(id=i + 1, image_id=image['id'], category_id=coco['categories'][0]['id'],
                        bbox=[4, 4, 30, 20], area=600, iscrowd=0, score=score)
                   for i, image in enumerate(coco['images'])]
    with open(out, 'w') as f:
        json.dump(dict(images=coco['images'], annotations=annotations, categories=coco['categories']), f)
    return len(coco['images'])


def test_every_config_names_a_teacher_and_noise():
    assert len(CONFIGS) == 5
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        spec = SelfTrainingSpec.from_config(cfg, path)
        assert osp.isfile(resolve_split_placeholders(Config(dict(p=spec.teacher_config, fold=1, percent=10))).p)
        assert cfg.model.roi_head.type == 'ScoreWeightedRoIHead'
        assert cfg.model.roi_head.bbox_head.type == 'DropoutShared2FCBBoxHead'
        assert cfg.model.roi_head.bbox_head.dropout == 0.5
        if cfg.model.backbone.type == 'EfficientNetLite':
            assert cfg.model.backbone.drop_path_rate == 0.2
        (pseudo, ) = pseudo_datasets(cfg)
        kept = [t['type'] for t in pseudo.pipeline]
        assert kept == ['LoadImageFromFile', 'LoadAnnotations', 'KeepInstanceScores', 'PackScoredDetInputs']
        assert 'RandAugment' in json.dumps(pseudo.pipeline[2]['transforms'])  # the strong view


@pytest.mark.parametrize('path', ['configs/noisy_student/noisy_student_lite0_synthetic.py',
                                  'configs/noisy_student/noisy_student_lite1_tree_crowns.py'])
def test_lite_configs_build_student_and_data(path, synthetic_data, tmp_path):
    from ssod.experiments.accuracy import data_root_options
    cfg = data_root_options(Config.fromfile(path), synthetic_data)
    n = pseudo_labels_from(osp.join(synthetic_data, 'annotations', 'unlabeled.json'), tmp_path / 'p.json', 0.75)
    cfg = student_config(cfg, str(tmp_path / 'p.json'))
    for dataset in cfg.train_dataloader.dataset.datasets:  # the tree-crown config on the synthetic shapes
        dataset.metainfo = dict(classes=('ellipse', 'rectangle', 'triangle'))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    labeled, pseudo = train.datasets
    assert len(pseudo) == n
    sample = pseudo[0]['data_samples']
    assert sample.gt_instances.scores.tolist() in ([pytest.approx(0.75)], [])  # kept unless cut away
    sampler = DATA_SAMPLERS.build(cfg.train_dataloader.sampler, default_args=dict(dataset=train))
    first = [next(iter(sampler)) for _ in range(1)]
    assert first and cfg.train_dataloader.sampler.source_ratio == [1, 1]
    model = MODELS.build(cfg.model)
    assert type(model.roi_head).__name__ == 'ScoreWeightedRoIHead'
    assert model.backbone.arch == ('lite1' if 'lite1' in path else 'lite0')


@pytest.mark.parametrize('path', COCO, ids=osp.basename)
def test_coco_configs_take_the_split_and_build(path, tmp_path_factory):
    root = make_fake_coco(str(tmp_path_factory.mktemp('coco')), folds=(3, ), percents=(5, ))
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(dict(fold=3, percent=5))
    point_config_at(cfg, root)
    cfg = resolve_split_placeholders(cfg)
    spec = SelfTrainingSpec.from_config(cfg, path)
    assert spec.unlabeled_ann_file.endswith(split_name(3, 5, unlabeled=True))
    teacher = teacher_config_of(cfg, spec)
    assert teacher.train_dataloader.dataset.ann_file.endswith(split_name(3, 5))  # the same split
    pseudo_file = tmp_path_factory.mktemp('pseudo') / 'p.json'
    n = pseudo_labels_from(osp.join(root, 'annotations', 'semi_supervised', split_name(3, 5, unlabeled=True)),
                           pseudo_file, 0.95)
    train = DATASETS.build(student_config(cfg, str(pseudo_file)).train_dataloader.dataset)
    labeled, pseudo = train.datasets
    assert len(pseudo) == n and len(labeled) > 0
    assert labeled.metainfo['classes'] == pseudo.metainfo['classes']
    model = MODELS.build(cfg.model)
    assert model.backbone.depth == (101 if 'r101' in path else 50)
    assert cfg.train_cfg.max_iters == 180000 and cfg.train_dataloader.batch_size == 5
