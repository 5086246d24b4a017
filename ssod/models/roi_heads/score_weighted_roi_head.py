"""``ScoreWeightedRoIHead``: the R-CNN classification loss of each positive RoI weighted by the score of
the ground-truth box it is assigned to.

Noisy Student (Xie et al., CVPR 2020) trains the student on the teacher's soft labels, i.e. it lets the
teacher's confidence decide how much an image's label counts. For detection the analogue is to weight the
classification of the RoIs matched to a pseudo box by that box's score (``gt_instances.scores``, packed by
:class:`~ssod.datasets.transforms.formatting.PackScoredDetInputs`): a box the teacher was sure of
teaches its class fully, a doubtful one less. Exactly:

* a positive RoI's label weight (mmdet's, i.e. 1 or ``rcnn.pos_weight``) is multiplied by the score of
  its assigned ground-truth box; instances without ``scores`` count 1.0;
* negatives keep weight 1;
* the normaliser stays mmdet's: the count of sampled RoIs with label weight > 0 (``BBoxHead.loss``). A
  score of exactly 0 gives weight 0, so that RoI leaves the count as any zero-weight RoI does in mmdet;
  ``PseudoLabeledCocoDataset`` with ``score_thr > 0`` never yields one.

With every score 1 the losses are bit-identical to ``StandardRoIHead``'s.

Not weighted: the box regression (a pseudo box's score is the teacher's confidence in its class, not in
its extent; the paper weights the classification of soft labels, it has no boxes) and the RPN (its
objectness is class-agnostic and comes before any RoI is assigned; it is a separate head anyway).

The ``bbox_head`` must lay out its targets like mmdet's ``BBoxHead.get_targets`` (per image, the
positives first in sampling order, then the negatives): every ``ConvFCBBoxHead`` does, including
:class:`~ssod.models.roi_heads.bbox_heads.dropout_shared2fc_bbox_head.DropoutShared2FCBBoxHead`.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.structures.bbox import bbox2roi
from torch import Tensor

from ssod.registry import MODELS


def gt_scores_of(gt_instances) -> Optional[Tensor]:
    """The ``scores`` of an image's ground-truth instances, or None (every box counts 1.0)."""
    return gt_instances.scores if 'scores' in gt_instances else None


def roi_score_weights(sampling_results: Sequence[SamplingResult],
                      batch_gt_scores: Sequence[Optional[Tensor]]) -> Tensor:
    """Per sampled RoI, in ``BBoxHead.get_targets`` order (per image: positives, then negatives), the score
    of its assigned ground-truth box (positives) or 1 (negatives); ``None`` scores count 1.0."""
    weights = []
    for result, scores in zip(sampling_results, batch_gt_scores):
        num_pos, num_neg = len(result.pos_inds), len(result.neg_inds)
        device = result.pos_inds.device
        if scores is None:
            pos = torch.ones(num_pos, device=device)
        else:
            pos = scores.to(device=device, dtype=torch.float32)[result.pos_assigned_gt_inds.long()]
        weights.append(torch.cat([pos, torch.ones(num_neg, device=device)]))
    return torch.cat(weights) if weights else torch.zeros(0)


@MODELS.register_module()
class ScoreWeightedRoIHead(StandardRoIHead):
    """``StandardRoIHead`` whose classification loss weights each positive RoI by its ground truth's
    score (see the module docstring). Arguments as ``StandardRoIHead``."""

    # The scores of the batch being trained, set by ``loss`` for ``bbox_loss`` (StandardRoIHead.loss builds
    # the sampling results and passes only them on).
    _batch_gt_scores: Optional[List[Optional[Tensor]]] = None

    def loss(self, x: Tuple[Tensor], rpn_results_list, batch_data_samples) -> dict:
        self._batch_gt_scores = [gt_scores_of(sample.gt_instances) for sample in batch_data_samples]
        try:
            return super().loss(x, rpn_results_list, batch_data_samples)
        finally:
            self._batch_gt_scores = None

    def bbox_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult]) -> dict:
        """``StandardRoIHead.bbox_loss`` with the positives' label weights multiplied by their scores."""
        rois = bbox2roi([res.priors for res in sampling_results])
        bbox_results = self._bbox_forward(x, rois)
        labels, label_weights, bbox_targets, bbox_weights = self.bbox_head.get_targets(
            sampling_results, self.train_cfg, concat=True)
        if self._batch_gt_scores is not None and any(s is not None for s in self._batch_gt_scores):
            weights = roi_score_weights(sampling_results, self._batch_gt_scores)
            label_weights = label_weights * weights.to(label_weights)
        loss_bbox = self.bbox_head.loss(bbox_results['cls_score'], bbox_results['bbox_pred'], rois, labels,
                                        label_weights, bbox_targets, bbox_weights)
        bbox_results.update(loss_bbox=loss_bbox)
        return bbox_results
