"""A tiny fake COCO tree (``data/coco`` layout) for config tests: a few small images and the jsons the
COCO configs read, including the partial-label split files with SoftTeacher's names.

Layout under ``root``::

    train2017/       TRAIN_IMAGES jpgs    annotations/instances_train2017.json (2 boxes per image)
    val2017/         VAL_IMAGES jpgs      annotations/instances_val2017.json
    unlabeled2017/   UNLABELED_IMAGES     annotations/image_info_unlabeled2017.json (no 'annotations')
    annotations/semi_supervised/instances_train2017.{fold}@{percent}[-unlabeled].json
        for the given folds and percents: the first LABELED_IMAGES train images are labeled.

Categories are mmdet's 80 COCO classes (ids 1..80), so configs without ``metainfo`` load them.
"""
import json
import os
import os.path as osp

import numpy as np
from mmdet.datasets import CocoDataset
from PIL import Image

TRAIN_IMAGES = 6
LABELED_IMAGES = 2
VAL_IMAGES = 2
UNLABELED_IMAGES = 3
WIDTH, HEIGHT = 96, 64  # pixels; above the configs' min_size of 32


def categories():
    return [dict(id=i + 1, name=name) for i, name in enumerate(CocoDataset.METAINFO['classes'])]


def _images(folder, first_id, count, seed):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    for offset in range(count):
        image_id = first_id + offset
        name = f'{image_id:012d}.jpg'
        pixels = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(osp.join(folder, name))
        entries.append(dict(id=image_id, file_name=name, width=WIDTH, height=HEIGHT))
    return entries


def _boxes(images, first_ann_id=1):
    anns = []
    for image in images:
        for k, (x, y, w, h) in enumerate([(10, 8, 30, 24), (50, 20, 40, 36)]):
            anns.append(dict(id=first_ann_id + len(anns), image_id=image['id'], category_id=1 + k * 16,
                             bbox=[x, y, w, h], area=w * h, iscrowd=0))
    return anns


def _write(path, content):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(content, f)


def split_name(fold, percent, unlabeled=False):
    return f'instances_train2017.{fold}@{percent}{"-unlabeled" if unlabeled else ""}.json'


def make_fake_coco(root, folds=(1, ), percents=(1, 2, 5, 10)):
    """Write the tree under ``root`` (a directory path) and return ``root`` with a trailing '/'."""
    train = _images(osp.join(root, 'train2017'), 1, TRAIN_IMAGES, seed=1)
    val = _images(osp.join(root, 'val2017'), 1001, VAL_IMAGES, seed=2)
    unlabeled = _images(osp.join(root, 'unlabeled2017'), 2001, UNLABELED_IMAGES, seed=3)
    ann_dir = osp.join(root, 'annotations')
    train_anns = _boxes(train)
    _write(osp.join(ann_dir, 'instances_train2017.json'),
           dict(images=train, annotations=train_anns, categories=categories()))
    _write(osp.join(ann_dir, 'instances_val2017.json'),
           dict(images=val, annotations=_boxes(val), categories=categories()))
    _write(osp.join(ann_dir, 'image_info_unlabeled2017.json'),
           dict(images=unlabeled, categories=categories()))
    labeled_ids = {image['id'] for image in train[:LABELED_IMAGES]}
    for fold in folds:
        for percent in percents:
            _write(osp.join(ann_dir, 'semi_supervised', split_name(fold, percent)),
                   dict(images=train[:LABELED_IMAGES], categories=categories(),
                        annotations=[a for a in train_anns if a['image_id'] in labeled_ids]))
            _write(osp.join(ann_dir, 'semi_supervised', split_name(fold, percent, unlabeled=True)),
                   dict(images=train[LABELED_IMAGES:], annotations=[], categories=categories()))
    return root.rstrip('/') + '/'


def point_config_at(cfg, root):
    """Set data_root of every dataset and the evaluators' ann_file of ``cfg`` to the fake tree."""
    from ssod.apis.data_checks import phase_datasets
    root = root.rstrip('/') + '/'
    for _, dataset_cfg in phase_datasets(cfg, ('train', 'val', 'test')):
        dataset_cfg.data_root = root
    for phase in ('val', 'test'):
        evaluator = cfg.get(f'{phase}_evaluator')
        for item in (evaluator if isinstance(evaluator, list) else [evaluator]):
            if item is not None and item.get('ann_file'):
                item.ann_file = root + 'annotations/' + osp.basename(item.ann_file)
    return cfg
