"""Build, split and write COCO-format annotation files for semi-supervised training.

A semi-supervised data set is written as four files in one folder (names are fixed so that configs can
point at them without knowing how the data were made):

* ``labeled.json``            images with their boxes (the supervised branch);
* ``unlabeled.json``          images with ``annotations: []`` but the full ``categories`` list, so that
                              mmdet's ``CocoDataset`` builds it with the same class metainfo;
* ``unlabeled-hidden-gt.json`` the boxes of the unlabeled images, kept apart: training never reads it,
                              it exists only to measure pseudo-label quality;
* ``val.json``                the evaluation split.

Boxes are COCO ``[x, y, w, h]`` in pixels. Everything here is plain Python + numpy.
"""
import json
import os
import os.path as osp
import tempfile
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

SPLIT_FILE_NAMES = {
    'labeled': 'labeled.json',
    'unlabeled': 'unlabeled.json',
    'hidden_gt': 'unlabeled-hidden-gt.json',
    'val': 'val.json',
}


def percent_text(percent: float) -> str:
    """How a percent is spelled in split file and config names: ``10 -> '10'``, ``10.0 -> '10'``,
    ``0.5 -> '0.5'`` (tools/data/split_coco.py writes, tools/analysis/benchmark_matrix.py reads them)."""
    percent = float(percent)
    return str(int(percent)) if percent.is_integer() else repr(percent)


def make_categories(class_names: Sequence[str]) -> List[dict]:
    """COCO ``categories`` with ids 1..K in the given order."""
    if len(set(class_names)) != len(class_names):
        raise ValueError(f'class names must be unique, got {list(class_names)}')
    return [dict(id=i + 1, name=name, supercategory=name) for i, name in enumerate(class_names)]


def coco_dict(images: List[dict], annotations: List[dict], categories: List[dict],
              description: str = '') -> dict:
    """A COCO dict whose annotation ids are renumbered 1..N (unique within the file)."""
    annotations = [dict(ann, id=i + 1) for i, ann in enumerate(annotations)]
    return dict(info=dict(description=description), licenses=[], images=list(images),
                annotations=annotations, categories=list(categories))


def box_annotation(image_id: int, category_id: int, x1: float, y1: float, x2: float,
                   y2: float) -> dict:
    """One COCO box annotation from corner coordinates (pixels); ``id`` is set by :func:`coco_dict`."""
    w, h = float(x2 - x1), float(y2 - y1)
    if w <= 0 or h <= 0:
        raise ValueError(f'degenerate box ({x1}, {y1}, {x2}, {y2}) for image {image_id}')
    return dict(image_id=int(image_id), category_id=int(category_id),
                bbox=[float(x1), float(y1), w, h], area=w * h, iscrowd=0)


def choose_labeled(image_ids: Sequence[int], percent: float, seed: int) -> Tuple[List[int], List[int]]:
    """Split ``image_ids`` into (labeled, unlabeled), drawing ``percent`` % **without replacement**.

    The labeled count is ``round(len * percent / 100)``, at least 1 and at most ``len - 1`` when both
    parts can be non-empty, so "10 %" really is 10 % (up to rounding). Deterministic in ``seed``.
    """
    if not 0 < percent < 100:
        raise ValueError(f'labeled percent must be in (0, 100), got {percent}')
    ids = sorted(int(i) for i in image_ids)
    if len(ids) < 2:
        raise ValueError(f'need at least 2 images to split into labeled and unlabeled, got {len(ids)}')
    n_labeled = int(round(len(ids) * percent / 100.0))
    n_labeled = min(max(n_labeled, 1), len(ids) - 1)
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(len(ids), size=n_labeled, replace=False).tolist())
    labeled = [i for k, i in enumerate(ids) if k in chosen]
    unlabeled = [i for k, i in enumerate(ids) if k not in chosen]
    return labeled, unlabeled


def subset(coco: dict, image_ids: Iterable[int], keep_annotations: bool = True) -> dict:
    """The images ``image_ids`` of ``coco`` (and their annotations unless ``keep_annotations`` is False)."""
    wanted = set(int(i) for i in image_ids)
    images = [img for img in coco['images'] if img['id'] in wanted]
    anns = [a for a in coco['annotations'] if a['image_id'] in wanted] if keep_annotations else []
    return coco_dict(images, anns, coco['categories'], coco.get('info', {}).get('description', ''))


def write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON atomically (a crash never leaves a half-written annotation file).

    ``json.dumps`` + one write, not ``json.dump``: the latter encodes in pure Python (CPython uses its C
    encoder only for one-shot ``dumps``), about 4x slower on a COCO-sized file; the bytes are the same.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(json.dumps(obj))
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_semi_split(ann_dir: str, train: dict, val: dict, percent: float,
                     seed: int) -> Dict[str, dict]:
    """Split ``train`` into labeled/unlabeled(+hidden GT), write the four files, return them by role."""
    labeled_ids, unlabeled_ids = choose_labeled([img['id'] for img in train['images']], percent, seed)
    files = dict(
        labeled=subset(train, labeled_ids),
        unlabeled=subset(train, unlabeled_ids, keep_annotations=False),
        hidden_gt=subset(train, unlabeled_ids),
        val=val,
    )
    for role, content in files.items():
        write_json(osp.join(ann_dir, SPLIT_FILE_NAMES[role]), content)
    return files


def summary(files: Dict[str, dict]) -> str:
    """One line per split: images, boxes, boxes per image."""
    lines = []
    for role in ('labeled', 'unlabeled', 'hidden_gt', 'val'):
        coco = files[role]
        n_img, n_box = len(coco['images']), len(coco['annotations'])
        per = n_box / n_img if n_img else 0.0
        lines.append(f'  {SPLIT_FILE_NAMES[role]:<26} {n_img:6d} images {n_box:7d} boxes '
                     f'({per:.1f} per image)')
    return '\n'.join(lines)
