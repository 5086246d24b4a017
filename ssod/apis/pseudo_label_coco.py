"""COCO records of pseudo-labels: one image's entry, and the whole file assembled from the entries.

Boxes are written as COCO ``[x, y, w, h]`` in pixels of the original image, each with its ``score``
(a probability) so that a later training can choose its own threshold without labeling again. Numbers
are the detector's float32 values written as exact decimal floats, so reading the parts back and
merging them gives the same bytes however the run was split or interrupted.
"""
from typing import Dict, List, Sequence

import numpy as np

from .pseudo_label_images import PseudoLabelError


def image_entry(record: dict, ori_shape: Sequence[int], bboxes: np.ndarray, scores: np.ndarray,
                labels: np.ndarray, categories: List[dict], score_floor: float) -> dict:
    """The finished image: its record (``width`` / ``height`` filled in from the decoded image when
    missing) and one annotation per detection with ``score >= score_floor``, by descending score
    (ties keep the detector's order). ``bboxes`` are ``(n, 4)`` xyxy pixels, ``labels`` class indices
    into ``categories``. Annotation ids are given when the file is assembled."""
    record = dict(record)
    record.setdefault('width', int(ori_shape[1]))
    record.setdefault('height', int(ori_shape[0]))
    keep = np.flatnonzero(np.asarray(scores) >= score_floor)
    order = keep[np.argsort(-np.asarray(scores)[keep], kind='stable')]
    annotations = []
    for x1, y1, x2, y2, score, label in zip(*np.asarray(bboxes)[order].T.tolist(),
                                            np.asarray(scores)[order].tolist(),
                                            np.asarray(labels)[order].tolist()):
        w, h = x2 - x1, y2 - y1
        annotations.append(dict(image_id=record['id'], category_id=categories[int(label)]['id'],
                                bbox=[x1, y1, w, h], area=w * h, iscrowd=0, score=score))
    return dict(image=record, annotations=annotations)


def assemble(image_ids: Sequence, finished: Dict[int, dict], categories: List[dict],
             info: dict) -> dict:
    """The output COCO dict: images in input order, annotations numbered 1..M in image-id order, then
    by descending score within an image. Every image of ``image_ids`` must be in ``finished``."""
    missing = [image_id for image_id in image_ids if image_id not in finished]
    if missing:
        raise PseudoLabelError(f'{len(missing)} image(s) have no finished entry (e.g. id {missing[0]}); '
                               f'run again with the same inputs to label them')
    images = [finished[image_id]['image'] for image_id in image_ids]
    annotations = []
    for image_id in sorted(image_ids):
        for annotation in finished[image_id]['annotations']:
            annotations.append(dict(id=len(annotations) + 1, **annotation))
    return dict(info=info, images=images, annotations=annotations, categories=categories)
