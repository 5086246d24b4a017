"""Hidden ground truth of unlabeled images: read it from a COCO file and attach it to the data list.

When the unlabeled images come from a labeled corpus (the demo data, COCO partial benchmarks), their
boxes are known but must never train the model. They are only used to measure how good the teacher's
pseudo-labels are (:mod:`ssod.evaluation.online_pseudo_quality`). The boxes come from either

* the separate file written beside ``unlabeled.json`` (``unlabeled-hidden-gt.json``, see
  :func:`ssod.data.coco_files.write_semi_split`), or
* the original annotation file the unlabeled split was cut from (e.g. ``instances_train2017.json``
  for the COCO partial benchmarks): it may hold more images than the unlabeled set; only the
  unlabeled images' boxes are taken.

Each data info of the unlabeled set gets two extra fields, in the **original image frame** (before any
transform), so that no geometric transform of the pipeline touches them and no loss can read them:

* ``hidden_gt_bboxes``: ``float32 (n, 4)`` ``(x1, y1, x2, y2)`` in pixels of the original image;
* ``hidden_gt_labels``: ``int64 (n,)`` label indices in the order of the data set's ``classes``.

A pipeline passes them on only if the teacher view's ``PackDetInputs`` lists them in ``meta_keys``; the
detector projects them into the teacher view with that view's recorded ``homography_matrix``.

Which boxes count (as ``CocoDataset`` does for training targets): ``iscrowd`` boxes are skipped (crowd
regions are "ignore" areas, not objects), as are boxes narrower or lower than 1 pixel or with no area,
and boxes of categories that are not among the data set's classes (matched by category **name**, so
the file's category ids may differ from the unlabeled file's).
"""
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from mmengine.fileio import load

HIDDEN_GT_BBOXES = 'hidden_gt_bboxes'
HIDDEN_GT_LABELS = 'hidden_gt_labels'
HIDDEN_GT_KEYS = (HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS)
_MAX_EXAMPLES = 5


#: ``{image id: {'bboxes': (n, 4) float32, 'labels': (n,) int64, 'file_name': str}}``
HiddenGT = Dict[int, dict]


def load_hidden_gt(path: str, classes: Sequence[str], backend_args=None) -> HiddenGT:
    """Boxes of every image of the COCO file ``path``, labels indexed by ``classes`` (see module doc)."""
    try:
        coco = load(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'hidden ground-truth file {path} does not exist. Point hidden_gt_file at the boxes of the '
            f'unlabeled images (e.g. annotations/unlabeled-hidden-gt.json, or the original COCO file '
            f'the unlabeled split came from), or set hidden_gt_file=None to train without the '
            f'pseudo-label quality metrics.') from None
    for field in ('images', 'annotations', 'categories'):
        if not isinstance(coco, dict) or field not in coco:
            raise ValueError(f'hidden ground-truth file {path} is not a COCO detection file: no '
                             f'"{field}" list')
    label_of_name = {name: i for i, name in enumerate(classes)}
    label_of_cat = {cat['id']: label_of_name[cat['name']] for cat in coco['categories']
                    if cat['name'] in label_of_name}
    if not label_of_cat:
        raise ValueError(f'hidden ground-truth file {path} has none of the data set classes '
                         f'{list(classes)} among its categories '
                         f'{[c["name"] for c in coco["categories"]][:10]}')
    boxes: Dict[int, List[List[float]]] = {img['id']: [] for img in coco['images']}
    labels: Dict[int, List[int]] = {img['id']: [] for img in coco['images']}
    for ann in coco['annotations']:
        if ann.get('iscrowd', 0) or ann['category_id'] not in label_of_cat:
            continue
        x, y, w, h = ann['bbox']
        if w < 1 or h < 1 or ann.get('area', w * h) <= 0 or ann['image_id'] not in boxes:
            continue
        boxes[ann['image_id']].append([x, y, x + w, y + h])
        labels[ann['image_id']].append(label_of_cat[ann['category_id']])
    hidden: HiddenGT = {}
    for img in coco['images']:
        hidden[img['id']] = dict(
            bboxes=np.asarray(boxes[img['id']], dtype=np.float32).reshape(-1, 4),
            labels=np.asarray(labels[img['id']], dtype=np.int64),
            file_name=img.get('file_name', ''))
    return hidden


def attach_hidden_gt(data_list: List[dict], hidden: HiddenGT, path: str, ann_file: str = '') -> None:
    """Add :data:`HIDDEN_GT_KEYS` to every data info (in place), after checking the images match.

    Every image of ``data_list`` must be in ``hidden`` under the same id, and where both know their
    file name, under the same file name; otherwise a ``ValueError`` names ``path`` and example ids,
    because a wrong file would silently give meaningless precision/recall.
    """
    missing = [info['img_id'] for info in data_list if info['img_id'] not in hidden]
    if missing:
        raise ValueError(
            f'hidden ground-truth file {path} does not match the unlabeled set {ann_file}: '
            f'{len(missing)} of its {len(data_list)} image ids are not in the file (e.g. '
            f'{missing[:_MAX_EXAMPLES]}; the file has e.g. {sorted(hidden)[:_MAX_EXAMPLES]}). Use the '
            f'hidden-GT file written together with the unlabeled split, or the original annotation '
            f'file it was cut from; or set hidden_gt_file=None.')
    renamed = [(info['img_id'], osp.basename(info.get('img_path') or ''),
                osp.basename(hidden[info['img_id']]['file_name']))
               for info in data_list]
    renamed = [r for r in renamed if r[1] and r[2] and r[1] != r[2]]
    if renamed:
        examples = [f'id {i}: {a} vs {b}' for i, a, b in renamed[:_MAX_EXAMPLES]]
        raise ValueError(
            f'hidden ground-truth file {path} does not match the unlabeled set {ann_file}: '
            f'{len(renamed)} image ids name other files ({"; ".join(examples)}). The file must come '
            f'from the same corpus as the unlabeled split; or set hidden_gt_file=None.')
    for info in data_list:
        entry = hidden[info['img_id']]
        info[HIDDEN_GT_BBOXES] = entry['bboxes'].copy()
        info[HIDDEN_GT_LABELS] = entry['labels'].copy()
