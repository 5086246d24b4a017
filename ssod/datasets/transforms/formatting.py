"""``PackScoredDetInputs``: mmdet's ``PackDetInputs`` (same arguments) that also packs box scores.

``results['gt_scores']`` (set by :class:`~ssod.datasets.transforms.instance_scores.KeepInstanceScores`)
becomes ``gt_instances.scores``, split by ``gt_ignore_flags`` like the boxes and labels (the ignored
boxes' scores go to ``ignored_instances.scores``). Without ``gt_scores`` (labeled images) every box gets
score 1.0, so labeled and pseudo-labeled samples look the same to
:class:`~ssod.models.roi_heads.score_weighted_roi_head.ScoreWeightedRoIHead`.
"""
import numpy as np
from mmdet.datasets.transforms import PackDetInputs

from ssod.registry import TRANSFORMS
from .instance_scores import GT_SCORES


@TRANSFORMS.register_module()
class PackScoredDetInputs(PackDetInputs):
    """``PackDetInputs`` packing ``gt_scores`` into ``gt_instances.scores`` (ones when absent)."""

    mapping_table = {**PackDetInputs.mapping_table, GT_SCORES: 'scores'}

    def transform(self, results: dict) -> dict:
        if 'gt_bboxes' in results:
            num_boxes = len(results['gt_bboxes'])
            if GT_SCORES not in results:
                results = dict(results)
                results[GT_SCORES] = np.ones(num_boxes, dtype=np.float32)
            elif len(results[GT_SCORES]) != num_boxes:
                raise ValueError(f'PackScoredDetInputs: {len(results[GT_SCORES])} gt_scores for {num_boxes} '
                                 'gt_bboxes; a transform after KeepInstanceScores dropped boxes: move it '
                                 'inside the wrapper')
        return super().transform(results)
