"""Horizontal-flip test-time augmentation of detections: mirror boxes back and merge two sets.

A detector run on an image and on its left-right mirror gives two sets of detections. The mirror's
boxes are mapped back to the image (``x -> width - x``: boxes are continuous pixel coordinates whose
edges run from 0 to ``width``, the convention of mmdet's ``bbox_flip``), the two sets are pooled and
class-wise NMS keeps the best box of each overlapping group, as a detector's own post-processing does.
This is the flip augmentation of STAC (Sohn et al. 2020) and of mmdet's test-time augmentation
(``DetTTAModel``: pool the augmented views' boxes, then NMS); here it is one pure function.

Boxes are ``(n, 4)`` tensors ``(x1, y1, x2, y2)`` in pixels of the original image.
"""
from typing import Optional, Tuple

import torch
from mmcv.ops import batched_nms
from torch import Tensor

Detections = Tuple[Tensor, Tensor, Tensor]  # bboxes (n, 4) float, scores (n,) float, labels (n,) long


def mirror_boxes(bboxes: Tensor, width: float) -> Tensor:
    """``(n, 4)`` boxes of an image ``width`` pixels wide, mirrored left-right (an involution)."""
    mirrored = bboxes.clone()
    mirrored[:, 0] = width - bboxes[:, 2]
    mirrored[:, 2] = width - bboxes[:, 0]
    return mirrored


def merge_flip_detections(direct: Detections, mirrored: Detections, width: float,
                          iou_threshold: float = 0.5,
                          max_per_img: Optional[int] = None) -> Detections:
    """Pool the detections on the image (``direct``) with those on its mirror (``mirrored``, in the
    mirror's pixels), then class-wise NMS.

    Args:
        direct: (bboxes, scores, labels) predicted on the image.
        mirrored: (bboxes, scores, labels) predicted on the left-right mirror of the image.
        width: image width in pixels (the mirror has the same width).
        iou_threshold: boxes of one class overlapping a higher-scored kept box by IoU > this are dropped.
        max_per_img: keep at most this many boxes (the highest scores); ``None`` keeps all.

    Returns:
        (bboxes, scores, labels) in the image's pixels, by descending score.
    """
    bboxes = torch.cat([direct[0].reshape(-1, 4), mirror_boxes(mirrored[0].reshape(-1, 4), width)])
    scores = torch.cat([direct[1].reshape(-1), mirrored[1].reshape(-1)])
    labels = torch.cat([direct[2].reshape(-1), mirrored[2].reshape(-1)]).long()
    if len(bboxes) == 0:
        return bboxes.float(), scores.float(), labels
    _, keep = batched_nms(bboxes.float(), scores.float(), labels,
                          dict(type='nms', iou_threshold=float(iou_threshold)))
    if max_per_img is not None:
        keep = keep[:int(max_per_img)]
    return bboxes[keep], scores[keep], labels[keep]
