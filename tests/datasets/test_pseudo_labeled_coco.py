"""PseudoLabeledCocoDataset: score threshold with each instance's own score, mmdet's parsing rules and
filter_empty_gt on what is left, the error for a file without scores, class balancing, the log line,
and a ConcatDataset with labeled images through the strong view wrapped in KeepInstanceScores."""
import copy
import json
import logging
import os.path as osp
import uuid

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.datasets import PseudoLabeledCocoDataset
from ssod.registry import DATASETS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLASSES = ('a', 'b', 'c')


@pytest.fixture(autouse=True)
def ssod_scope():
    init_default_scope('ssod')


def ann(ann_id, img_id, cat, score, w=10, h=10, iscrowd=0):
    """A pseudo box whose x position encodes its score (x = 40 * score), so instances can be matched."""
    x = 40 * score
    return dict(id=ann_id, image_id=img_id, category_id=cat, bbox=[x, 5, w, h], area=w * h, iscrowd=iscrowd,
                score=score)


def pseudo_coco():
    images = [dict(id=i, file_name=f'{i}.png', width=64, height=64) for i in range(1, 6)]
    annotations = [
        ann(1, 1, 1, 0.9), ann(2, 1, 2, 0.3),  # image 1: one box kept
        ann(3, 2, 1, 0.4), ann(4, 2, 3, 0.45),  # image 2: every box under 0.5
        ann(5, 3, 2, 0.7), ann(6, 3, 1, 0.6), ann(7, 3, 1, 0.8, iscrowd=1),  # image 3: crowd = ignore
        ann(8, 4, 1, 0.95, w=0.5), ann(9, 4, 3, 0.55),  # image 4: mmdet drops the 0.5 px wide box
    ]  # image 5: no box at all
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    return dict(images=images, annotations=annotations, categories=categories)


def write(path, coco):
    with open(path, 'w') as f:
        json.dump(coco, f)
    return str(path)


def build(ann_file, type_='PseudoLabeledCocoDataset', filter_empty_gt=False, **kwargs):
    return DATASETS.build(dict(type=type_, ann_file=ann_file, metainfo=dict(classes=CLASSES),
                               data_prefix=dict(img=''), filter_cfg=dict(filter_empty_gt=filter_empty_gt),
                               pipeline=[], **kwargs))


def summary(dataset):
    """{img_id: [(label, score, ignore_flag), ...]} in data-list order."""
    return [(info['img_id'], [(i['bbox_label'], i['score'], i['ignore_flag']) for i in info['instances']])
            for info in (dataset.get_data_info(k) for k in range(len(dataset)))]


def test_score_threshold_keeps_each_instance_with_its_own_score(tmp_path):
    dataset = build(write(tmp_path / 'pseudo.json', pseudo_coco()))
    assert dataset.score_thr == PseudoLabeledCocoDataset.DEFAULT_SCORE_THR == 0.5
    assert summary(dataset) == [
        (1, [(0, 0.9, 0)]),
        (2, []),
        (3, [(1, 0.7, 0), (0, 0.6, 0), (0, 0.8, 1)]),
        (4, [(2, 0.55, 0)]),
        (5, []),
    ]
    assert dataset.num_boxes_below_thr == 3
    for k in range(len(dataset)):
        for instance in dataset.get_data_info(k)['instances']:
            assert instance['bbox'][0] == pytest.approx(40 * instance['score'])  # its own box
            assert instance['bbox'][2] - instance['bbox'][0] == 10  # mmdet's xyxy


def test_threshold_zero_keeps_every_valid_box(tmp_path):
    dataset = build(write(tmp_path / 'pseudo.json', pseudo_coco()), score_thr=0.0)
    assert dataset.num_boxes_below_thr == 0
    assert sum(len(dataset.get_data_info(k)['instances']) for k in range(len(dataset))) == 8  # 9 minus the 0.5 px box


def test_images_left_without_boxes_follow_filter_empty_gt(tmp_path):
    path = write(tmp_path / 'pseudo.json', pseudo_coco())
    assert [info[0] for info in summary(build(path, filter_empty_gt=True))] == [1, 3, 4]
    # mmdet's CocoDataset on the same file counts image 2 (its boxes exist, none is confident enough)
    plain = build(path, type_='CocoDataset', filter_empty_gt=True)
    assert [plain.get_data_info(k)['img_id'] for k in range(len(plain))] == [1, 2, 3, 4]


def test_annotation_without_score_is_refused_naming_the_file(tmp_path):
    coco = pseudo_coco()
    del coco['annotations'][4]['score']
    path = write(tmp_path / 'no_scores.json', coco)
    with pytest.raises(ValueError, match=r"no_scores\.json: annotation 5 of image 3 has no 'score'.*"
                                         r'tools/pseudo_label\.py'):
        build(path)
    coco['annotations'][4]['score'] = 'high'
    with pytest.raises(ValueError, match="has score 'high', not a finite number"):
        build(write(tmp_path / 'bad_scores.json', coco))


def test_class_balance_concatenates_the_per_class_selections(tmp_path):
    dataset = build(write(tmp_path / 'pseudo.json', pseudo_coco()), class_balance=dict(images_per_class=2))
    # a: images 1 (0.9) and 3 (0.6; the crowd 0.8 is ignored); b: image 3 twice; c: image 4 twice
    assert [info[0] for info in summary(dataset)] == [1, 3, 3, 3, 4, 4]
    one = build(write(tmp_path / 'pseudo.json', pseudo_coco()), class_balance=dict(images_per_class=1))
    assert [info[0] for info in summary(one)] == [1, 3, 4]


@pytest.mark.parametrize('class_balance', [dict(images_per_class=0), dict(k=2), 3])
def test_bad_class_balance_is_refused(tmp_path, class_balance):
    with pytest.raises(ValueError, match='class_balance'):
        build(write(tmp_path / 'pseudo.json', pseudo_coco()), class_balance=class_balance)


def test_the_summary_is_logged_once(tmp_path):
    logger = MMLogger.get_instance(f'pseudo-{uuid.uuid4().hex}')
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        dataset = build(write(tmp_path / 'pseudo.json', pseudo_coco()), class_balance=dict(images_per_class=2))
        dataset[0]
        len(dataset)
    finally:
        logger.removeHandler(handler)
    ours = [m for m in messages if m.startswith('PseudoLabeledCocoDataset')]
    assert len(ours) == 1
    assert 'pseudo.json: score_thr 0.5 dropped 3 boxes; kept 5 images, class balance 2 images per class' \
        in ours[0]
    assert 'a: 2 images, 2 boxes -> 2 entries (2 distinct images)' in ours[0]
    assert 'b: 1 images, 1 boxes -> 2 entries (1 distinct images)' in ours[0]
    assert 'c: 1 images, 1 boxes -> 2 entries (1 distinct images)' in ours[0]


def test_with_labeled_images_in_a_concat_dataset_through_the_strong_view(synthetic_data, tmp_path):
    """The recipe of docs/noisy_student_data.md on the synthetic set: labeled CocoDataset +
    PseudoLabeledCocoDataset, the pseudo pipeline = the strong view wrapped in KeepInstanceScores."""
    with open(osp.join(synthetic_data, 'annotations', 'unlabeled-hidden-gt.json')) as f:
        coco = json.load(f)
    rng = np.random.default_rng(0)
    scores = rng.permutation(len(coco['annotations'])) / len(coco['annotations'])  # all distinct
    for a, score in zip(coco['annotations'], scores):
        a['score'] = float(score)
    pseudo_file = write(tmp_path / 'pseudo.json', coco)
    truth = {a['score']: a['category_id'] - 1 for a in coco['annotations']}

    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'semi_synthetic.py'))
    strong = copy.deepcopy(cfg.strong_pipeline[:-1])
    pseudo_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                       dict(type='KeepInstanceScores', transforms=strong), dict(type='PackScoredDetInputs')]
    labeled_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                        dict(type='RandomFlip', prob=0.5), dict(type='PackScoredDetInputs')]
    root = synthetic_data.rstrip('/') + '/'
    common = dict(data_root=root, metainfo=cfg.metainfo, data_prefix=dict(img='images/'))
    concat = DATASETS.build(dict(type='ConcatDataset', datasets=[
        dict(type='CocoDataset', ann_file='annotations/labeled.json', pipeline=labeled_pipeline,
             filter_cfg=dict(filter_empty_gt=True), **common),
        dict(type='PseudoLabeledCocoDataset', ann_file=pseudo_file, score_thr=0.3,
             filter_cfg=dict(filter_empty_gt=True), pipeline=pseudo_pipeline, **common)]))
    num_labeled = len(concat.datasets[0])
    pseudo = concat.datasets[1]
    assert all(pseudo.get_data_info(k)['instances'] for k in range(len(pseudo)))

    np.random.seed(0)
    checked = 0
    for k in range(len(concat)):
        sample = concat[k]['data_samples']
        gt = sample.gt_instances
        assert len(gt.scores) == len(gt.bboxes) == len(gt.labels)
        if k < num_labeled:
            assert np.array_equal(gt.scores.numpy(), np.ones(len(gt.bboxes), np.float32))
            continue
        kept = {inst['score'] for inst in pseudo.get_data_info(k - num_labeled)['instances']}
        for label, score in zip(gt.labels.tolist(), gt.scores.tolist()):
            original = min(kept, key=lambda s: abs(s - score))  # float32 -> float64
            assert abs(original - score) < 1e-6 and original >= 0.3
            assert label == truth[original]
            checked += 1
    assert checked > 20
