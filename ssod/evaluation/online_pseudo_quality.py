"""Online pseudo-label quality: precision / recall of the teacher's pseudo boxes against hidden GT.

Called by the semi-supervised detectors once per unlabeled batch, with the teacher's candidates in the
**teacher (weak) view** frame. The detectors do not import it: ``SemiBaseDetector(pseudo_quality=...)``
builds it from the ``TASK_UTILS`` registry (default ``dict(type='PseudoLabelQualityLogger')``), so
``ssod.models`` does not depend on ``ssod.evaluation``. The hidden ground truth travels in the teacher
samples' metainfo in the original image frame (``hidden_gt_bboxes`` / ``hidden_gt_labels``, see
:mod:`ssod.datasets.hidden_gt`); it is projected here into the teacher view with that view's recorded ``homography_matrix`` (clipped to
``img_shape``, boxes that left the view dropped), so predictions and truth are compared in one frame.
The weak view only rescales and flips, so this projection is exact.

Filter stages (each one a subset of the previous), decided by the detectors' own function
:func:`ssod.models.pseudo_labels.stage_masks`:

* ``initial``: every candidate the detector keeps before thresholding with ``cls_pseudo_thr``
  (SoftTeacher: ``score > pseudo_label_initial_score_thr``; SemiBaseDetector: all teacher detections);
* ``cls``: ``score > cls_pseudo_thr`` (the hard labels that supervise classification), or, when the
  detector passes per-class ``thresholds`` (``semi_train_cfg.adaptive_thr``), above its class's one;
* ``reg``: ``cls`` and ``reg_uncertainty < reg_pseudo_thr`` (SoftTeacher only: the boxes that
  supervise regression).

All stages are measured in the teacher view, before the projection into the student view (which drops
the few boxes that a strong geometric augmentation pushes out of the student image): the metric is
about the teacher's labels, not about the augmentation.

Per batch and stage, true positives, predictions and ground-truth boxes are pooled over the images
(:mod:`ssod.evaluation.pseudo_label_quality`: class-aware, IoU >= 0.5, greedy by score), and these
scalars go to the message hub (text log and every visualisation backend, e.g. TensorBoard; the
``LogProcessor`` averages them over its window, which is the smoothing):

* ``train/pseudo/precision_<stage>``, ``train/pseudo/recall_<stage>`` (only with hidden GT; a ratio
  with a zero denominator in this batch is not logged);
* ``train/pseudo/gt_per_img`` (hidden GT boxes per image in the teacher view);
* ``train/pseudo/cls_per_img/<label>``: pseudo boxes per image of each class after the ``cls``
  filter; logged with or without hidden GT (it needs none).

Without hidden GT in the batch the precision/recall keys are simply absent; one info line says so.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MessageHub, print_log
from mmengine.structures import InstanceData
from torch import Tensor

from ssod.datasets.hidden_gt import HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS
from ssod.models.pseudo_labels import project_boxes, stage_masks
from ssod.registry import TASK_UTILS
from .pseudo_label_quality import DEFAULT_IOU_THR, MatchCounts, count_matches, sum_counts

PREFIX = 'train/pseudo/'
STAGES = ('initial', 'cls', 'reg')
ABSENT_MESSAGE = (
    'Pseudo-label precision/recall are not logged: the unlabeled samples carry no hidden ground truth. '
    "To log them, use type='CocoWithHiddenGT' with hidden_gt_file for the unlabeled data set and add "
    "'hidden_gt_bboxes', 'hidden_gt_labels' to the meta_keys of the teacher view's PackDetInputs.")


def hidden_gt_in_view(sample) -> Optional[InstanceData]:
    """The hidden GT of ``sample`` projected into its view (``bboxes``, ``labels``), or ``None``.

    Boxes go through the sample's ``homography_matrix`` (identity when absent), are clipped to its
    ``img_shape`` and dropped when narrower or lower than 1 pixel there (they left the view).
    """
    meta = sample.metainfo
    if HIDDEN_GT_BBOXES not in meta or HIDDEN_GT_LABELS not in meta:
        return None
    boxes = torch.as_tensor(np.asarray(meta[HIDDEN_GT_BBOXES], dtype=np.float32)).reshape(-1, 4)
    labels = torch.as_tensor(np.asarray(meta[HIDDEN_GT_LABELS], dtype=np.int64)).reshape(-1)
    matrix = meta.get('homography_matrix', np.eye(3))
    boxes, keep = project_boxes(boxes, matrix, meta['img_shape'], min_wh=(1.0, 1.0))
    return InstanceData(bboxes=boxes[keep], labels=labels[keep])


@TASK_UTILS.register_module()
class PseudoLabelQualityLogger:
    """Measures and logs pseudo-label quality of one unlabeled batch per call (see module doc).

    Args:
        num_classes: number of classes of the detector, so that every class gets a per-class count
            (zeros included); ``None`` logs only the classes present in the batch.
        iou_thr: IoU a pseudo box needs with a hidden GT box of its class to count as correct.
    """

    def __init__(self, num_classes: Optional[int] = None, iou_thr: float = DEFAULT_IOU_THR) -> None:
        self.num_classes = num_classes
        self.iou_thr = iou_thr
        self._said_absent = False

    def log(self, candidates: Sequence[InstanceData], samples: Sequence, semi_train_cfg,
            thresholds: Optional[Dict[str, Tensor]] = None) -> None:
        """Log the metrics of ``candidates`` (teacher-view boxes with ``bboxes, scores, labels`` and
        optionally ``reg_uncertainty``), one per teacher sample in ``samples``. ``thresholds``: the
        detector's per-class stage thresholds, when it has adaptive ones (see ``stage_masks``)."""
        if not len(candidates):
            return
        # One host transfer per image; the matching itself is a few Python-level steps per box.
        candidates = [c.cpu() for c in candidates]
        if thresholds is not None:
            thresholds = {stage: thr.cpu() if isinstance(thr, Tensor) else thr
                          for stage, thr in thresholds.items()}
        masks = [logged_stages(c, semi_train_cfg, thresholds) for c in candidates]
        hub = MessageHub.get_current_instance()
        self._log_class_counts(hub, [c.labels[m['cls']] for c, m in zip(candidates, masks)])
        truths = [hidden_gt_in_view(s) for s in samples]
        if any(t is None for t in truths):
            if not self._said_absent:
                print_log(ABSENT_MESSAGE, logger='current')
                self._said_absent = True
            return
        hub.update_scalar(PREFIX + 'gt_per_img', sum(len(t) for t in truths) / len(truths))
        for stage in masks[0]:
            counts = self._stage_counts(candidates, masks, truths, stage)
            if counts.precision is not None:
                hub.update_scalar(f'{PREFIX}precision_{stage}', counts.precision)
            if counts.recall is not None:
                hub.update_scalar(f'{PREFIX}recall_{stage}', counts.recall)

    def _stage_counts(self, candidates: List[InstanceData], masks: List[dict],
                      truths: List[InstanceData], stage: str) -> MatchCounts:
        per_image = []
        for c, m, t in zip(candidates, masks, truths):
            keep = m[stage]
            per_image.append(count_matches(c.bboxes[keep], c.labels[keep], t.bboxes, t.labels,
                                           pred_scores=c.scores[keep], iou_thr=self.iou_thr))
        return sum_counts(per_image)

    def _log_class_counts(self, hub: MessageHub, labels: List[Tensor]) -> None:
        all_labels = torch.cat(labels) if labels else torch.zeros((0,), dtype=torch.long)
        per_class = torch.bincount(all_labels, minlength=self.num_classes or 0).tolist()
        for label, count in enumerate(per_class):
            if self.num_classes is None and count == 0:
                continue
            hub.update_scalar(f'{PREFIX}cls_per_img/{label}', count / len(labels))


def logged_stages(candidates: InstanceData, semi_train_cfg,
                  thresholds: Optional[Dict[str, Tensor]] = None) -> dict:
    """The masks of :data:`STAGES` (``reg`` only for candidates with ``reg_uncertainty``) of one
    image's candidates, from :func:`~ssod.models.pseudo_labels.stage_masks` (with per-class
    ``thresholds`` where given)."""
    masks = stage_masks(candidates.scores, semi_train_cfg, candidates.get('reg_uncertainty', None),
                        labels=candidates.labels, thresholds=thresholds)
    return {stage: masks[stage] for stage in STAGES if stage in masks}
