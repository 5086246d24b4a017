"""Counts and quality of a pseudo-label file (the COCO json with a ``score`` per box written by
``tools/pseudo_label.py``), at the score threshold a student trains with.

Quality is measured as the online metric of the detectors measures it (:mod:`.pseudo_label_quality`:
class-aware greedy matching at IoU 0.5), pooled over all images of the file, against the hidden ground
truth of the unlabeled images (:func:`ssod.datasets.hidden_gt.load_hidden_gt`, matched by category name).
"""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import load

from ..datasets.hidden_gt import load_hidden_gt
from .pseudo_label_quality import MatchCounts, count_matches, sum_counts


def _boxes_by_image(coco: dict, score_thr: float, label_of_cat: Optional[dict] = None) -> dict:
    """``{image id: (xyxy boxes (n, 4), labels (n,), scores (n,))}`` of the boxes with score >= thr."""
    boxes = {image['id']: ([], [], []) for image in coco['images']}
    for ann in coco['annotations']:
        if ann['score'] < score_thr:
            continue
        if label_of_cat is not None and ann['category_id'] not in label_of_cat:
            continue
        x, y, w, h = ann['bbox']
        entry = boxes.setdefault(ann['image_id'], ([], [], []))
        entry[0].append([x, y, x + w, y + h])
        entry[1].append(label_of_cat[ann['category_id']] if label_of_cat else ann['category_id'])
        entry[2].append(ann['score'])
    return {k: (np.asarray(b, dtype=np.float32).reshape(-1, 4), np.asarray(lab, dtype=np.int64),
                np.asarray(s, dtype=np.float32)) for k, (b, lab, s) in boxes.items()}


def pseudo_label_counts(path: str, score_thr: float) -> Tuple[int, int]:
    """(images holding at least one box with score >= ``score_thr``, number of such boxes)."""
    per_image = _boxes_by_image(load(path), score_thr)
    counts = [len(v[0]) for v in per_image.values()]
    return sum(1 for c in counts if c), sum(counts)


def pseudo_label_quality(path: str, hidden_gt_file: str, classes: Sequence[str],
                         score_thr: float) -> Tuple[Optional[float], Optional[float]]:
    """Pooled (precision, recall) of the boxes with score >= ``score_thr`` against the hidden ground
    truth of the same images (``None`` where undefined: no box, or no ground truth)."""
    coco = load(path)
    label_of_name = {name: i for i, name in enumerate(classes)}
    label_of_cat = {c['id']: label_of_name[c['name']] for c in coco['categories'] if c['name'] in label_of_name}
    predictions = _boxes_by_image(coco, score_thr, label_of_cat)
    hidden = load_hidden_gt(hidden_gt_file, classes)
    counts = []
    for image_id, (boxes, labels, scores) in predictions.items():
        gt = hidden.get(image_id)
        if gt is None:
            raise ValueError(f'{hidden_gt_file} has no image with id {image_id} of {path}: the hidden '
                             f'ground truth must cover the pseudo-labeled images')
        counts.append(count_matches(boxes, labels, gt['bboxes'], gt['labels'], pred_scores=scores))
    total: MatchCounts = sum_counts(counts)
    return total.precision, total.recall
