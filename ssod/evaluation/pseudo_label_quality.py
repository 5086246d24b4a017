"""How good are the pseudo-labels? Match predicted boxes against (hidden) ground truth.

Pure tensor functions, no registry, no MMDetection data structures, so that the online metric in the
detector, the threshold-sweep report and the picture tool all count true positives the same way.

Matching rule (the PASCAL VOC / COCO detection-evaluation convention, at one IoU threshold):

* boxes are ``(x1, y1, x2, y2)`` in pixels of one common image frame; the area of a box is
  ``(x2 - x1) * (y2 - y1)`` (continuous coordinates, no ``+1``);
* class-aware: a prediction can only match a ground-truth box of the same label;
* greedy by score: predictions are visited from the highest score down (ties and missing scores keep
  the given order); each one takes the still-unmatched ground-truth box of its class with the largest
  IoU, provided that IoU is ``>= iou_thr`` (default 0.5);
* each ground-truth box is matched at most once, so duplicates of one object count as false positives.

Counts rather than ratios are returned so a caller can pool them over the images of a batch (or a whole
data set) before dividing: ``precision = TP / #predictions`` and ``recall = TP / #ground truth``.
"""
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import torch
from torch import Tensor

DEFAULT_IOU_THR = 0.5


@dataclass(frozen=True)
class MatchCounts:
    """Pooled matching counts of one or more images.

    ``true_positives``: predictions matched to a ground-truth box; ``num_predictions``: all predictions;
    ``num_ground_truths``: all ground-truth boxes. Add two instances to pool them.
    """

    true_positives: int = 0
    num_predictions: int = 0
    num_ground_truths: int = 0

    def __add__(self, other: 'MatchCounts') -> 'MatchCounts':
        return MatchCounts(self.true_positives + other.true_positives,
                           self.num_predictions + other.num_predictions,
                           self.num_ground_truths + other.num_ground_truths)

    @property
    def precision(self) -> Optional[float]:
        """TP / #predictions, ``None`` when there is no prediction (undefined, not 0 or 1)."""
        if self.num_predictions == 0:
            return None
        return self.true_positives / self.num_predictions

    @property
    def recall(self) -> Optional[float]:
        """TP / #ground truth, ``None`` when there is no ground-truth box (undefined)."""
        if self.num_ground_truths == 0:
            return None
        return self.true_positives / self.num_ground_truths


def sum_counts(counts: Iterable[MatchCounts]) -> MatchCounts:
    """Pool the counts of several images (an empty iterable gives all zeros)."""
    total = MatchCounts()
    for count in counts:
        total = total + count
    return total


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU matrix ``(N, M)`` of ``(N, 4)`` and ``(M, 4)`` xyxy boxes in pixels.

    Degenerate boxes (zero or negative width/height) have area 0 and IoU 0 with everything.
    """
    boxes1 = boxes1.float()
    boxes2 = boxes2.float()
    area1 = (boxes1[:, 2] - boxes1[:, 0]).clamp(min=0) * (boxes1[:, 3] - boxes1[:, 1]).clamp(min=0)
    area2 = (boxes2[:, 2] - boxes2[:, 0]).clamp(min=0) * (boxes2[:, 3] - boxes2[:, 1]).clamp(min=0)
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    union = area1[:, None] + area2[None, :] - overlap
    return torch.where(union > 0, overlap / union.clamp(min=1e-12), torch.zeros_like(overlap))


def _as_boxes(boxes, name: str) -> Tensor:
    boxes = torch.as_tensor(boxes)
    if boxes.numel() == 0:
        return boxes.reshape(0, 4).float()
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f'{name} must have shape (N, 4) with xyxy pixel boxes, got {tuple(boxes.shape)}')
    return boxes


def _as_vector(values, length: int, name: str) -> Tensor:
    values = torch.as_tensor(values).reshape(-1)
    if values.numel() != length:
        raise ValueError(f'{name} has {values.numel()} entries but there are {length} boxes')
    return values


def match_predictions(pred_bboxes, pred_labels, gt_bboxes, gt_labels, pred_scores=None,
                      iou_thr: float = DEFAULT_IOU_THR) -> Tensor:
    """Which predictions are true positives: a bool tensor of shape ``(N,)``, in the given order.

    Args:
        pred_bboxes: ``(N, 4)`` predicted xyxy boxes (pixels), tensor or array-like.
        pred_labels: ``(N,)`` predicted class indices.
        gt_bboxes: ``(M, 4)`` ground-truth xyxy boxes in the same image frame.
        gt_labels: ``(M,)`` ground-truth class indices.
        pred_scores: ``(N,)`` confidences deciding the greedy order (highest first); ``None`` keeps
            the given order.
        iou_thr: a match needs IoU ``>= iou_thr``.
    """
    pred_bboxes = _as_boxes(pred_bboxes, 'pred_bboxes')
    gt_bboxes = _as_boxes(gt_bboxes, 'gt_bboxes')
    num_pred, num_gt = pred_bboxes.shape[0], gt_bboxes.shape[0]
    pred_labels = _as_vector(pred_labels, num_pred, 'pred_labels')
    gt_labels = _as_vector(gt_labels, num_gt, 'gt_labels')
    is_tp = torch.zeros(num_pred, dtype=torch.bool)
    if num_pred == 0 or num_gt == 0:
        return is_tp.to(pred_bboxes.device)
    if pred_scores is None:
        order = list(range(num_pred))
    else:
        pred_scores = _as_vector(pred_scores, num_pred, 'pred_scores').to(pred_bboxes.device)
        order = torch.sort(pred_scores.float(), descending=True, stable=True).indices.tolist()
    gt_bboxes = gt_bboxes.to(pred_bboxes.device)
    same_class = pred_labels.to(pred_bboxes.device)[:, None] == gt_labels.to(pred_bboxes.device)[None, :]
    iou = torch.where(same_class, box_iou(pred_bboxes, gt_bboxes), torch.full_like(same_class, -1.0,
                                                                                   dtype=torch.float))
    # One transfer to the host; the greedy loop then runs on plain Python lists (N, M are small).
    iou_rows = iou.cpu().tolist()
    gt_taken = [False] * num_gt
    for pred_index in order:
        best_gt, best_iou = -1, iou_thr
        for gt_index, value in enumerate(iou_rows[pred_index]):
            if not gt_taken[gt_index] and value >= best_iou:
                if best_gt < 0 or value > best_iou:
                    best_gt, best_iou = gt_index, value
        if best_gt >= 0:
            gt_taken[best_gt] = True
            is_tp[pred_index] = True
    return is_tp.to(pred_bboxes.device)


def count_matches(pred_bboxes, pred_labels, gt_bboxes, gt_labels, pred_scores=None,
                  iou_thr: float = DEFAULT_IOU_THR) -> MatchCounts:
    """True positives, #predictions and #ground truth of one image (see :func:`match_predictions`)."""
    is_tp = match_predictions(pred_bboxes, pred_labels, gt_bboxes, gt_labels, pred_scores, iou_thr)
    num_gt = _as_boxes(gt_bboxes, 'gt_bboxes').shape[0]
    return MatchCounts(int(is_tp.sum()), int(is_tp.numel()), int(num_gt))


def count_matches_per_class(pred_bboxes, pred_labels, gt_bboxes, gt_labels, classes: Sequence[int],
                            pred_scores=None, iou_thr: float = DEFAULT_IOU_THR) -> dict:
    """``{class index: MatchCounts}`` of one image for each index in ``classes``.

    Matching is class-aware, so the per-class counts sum to :func:`count_matches` over those classes.
    """
    is_tp = match_predictions(pred_bboxes, pred_labels, gt_bboxes, gt_labels, pred_scores, iou_thr).cpu()
    pred_labels = torch.as_tensor(pred_labels).reshape(-1).cpu()
    gt_labels = torch.as_tensor(gt_labels).reshape(-1).cpu()
    result = {}
    for cls in classes:
        pred_mask = pred_labels == cls
        result[cls] = MatchCounts(int(is_tp[pred_mask].sum()), int(pred_mask.sum()),
                                  int((gt_labels == cls).sum()))
    return result
