"""``SoftTeacher``: end-to-end semi-supervised two-stage detection (Xu et al., ICCV 2021).

Per unlabeled batch (``unsup_losses``), with ``semi_train_cfg`` keys (defaults in
:data:`~ssod.models.detectors.semi_base.DEFAULT_SEMI_TRAIN_CFG`):

1. **Teacher, weak view, no grad.** Backbone + RPN + R-CNN with the teacher's test config; candidates
   are detections with ``score > pseudo_label_initial_score_thr`` (0.5) and w, h >=
   ``min_pseudo_bbox_wh`` pixels. The R-CNN's score threshold is raised to that threshold for this
   pass, which leaves those candidates unchanged and keeps lower scores out of the NMS
   (:meth:`SoftTeacher.teacher_detections`).
2. **Box jittering** (paper sec. 3.4): every candidate is jittered ``jitter_times`` (10) times with
   Gaussian offsets of ``jitter_scale`` (0.06) x (w, h, w, h); *all* jittered boxes of the batch go
   through the teacher's R-CNN box head in **one** batched pass; each copy is refined with the deltas of
   the candidate's class; the regression uncertainty is the std of the refined coordinates divided by
   the w/h of their mean box (as the reference code; ``uncertainty_scale='candidate'`` divides by the
   candidate's), averaged over the 4 coordinates (:func:`~ssod.models.pseudo_labels.box_uncertainty`).
   The candidates themselves are kept (not replaced by the refined mean), as in the reference.
   The uncertainty is first read in step 5, so that box-head pass is done there, fused with the
   teacher's scoring of the background RoIs: the teacher's R-CNN runs **twice** per unlabeled batch
   (detection, then jitter + background in one RoIAlign and one head forward), the references' three
   times. That second pass runs while the student's activations are alive, so it is cut into forwards
   of at most ``teacher_rois_per_pass`` (2048) RoIs: its memory stays bounded however many pseudo boxes
   are jittered (:meth:`SoftTeacher._teacher_box_head`). (:meth:`SoftTeacher.jitter_uncertainty` does
   the jitter pass alone, for analysis tools.)
3. Candidates are projected into the student view (``H_student @ inv(H_teacher)``, clipped, degenerate
   ones dropped).
4. **Student RPN** on candidates with ``score > rpn_pseudo_thr`` (0.9), class-agnostic.
5. **Student R-CNN, one pass.** Proposals are assigned and sampled **once** with the student's R-CNN
   assigner/sampler against the candidates with ``score > cls_pseudo_thr`` (0.9); the box head runs
   **once** on the sampled RoIs. From that single forward:

   * classification: background RoIs are weighted by the teacher's background probability of the same
     box mapped into the teacher view (teacher box head on the teacher features, the pass of step 2);
     positives have weight 1; normalised by the sum of weights (:mod:`ssod.models.soft_cls_loss`);
   * regression: ``BBoxHead.loss`` on the same targets, with the regression weights of positives whose
     assigned pseudo box has uncertainty >= ``reg_pseudo_thr`` (0.02) set to 0. Normalisation is the
     head's own: sum over positives / number of sampled RoIs, as in the reference's regression branch.

   **Difference from the references.** microsoft/SoftTeacher and mmdet 3.3 run the student's R-CNN
   twice: once for classification, and once, with a new assignment and sampling against the boxes
   with ``score > 0.5`` and uncertainty < ``reg_pseudo_thr``, for regression (mmdet even discards that
   pass's classification output). Here it runs once, so (a) regression is learned only from RoIs that
   are positives of the classification sampling, i.e. matched (IoU >= 0.5) to a pseudo box with
   score > ``cls_pseudo_thr``; boxes with 0.5 < score <= 0.9 that are certain do not supervise
   regression here; (b) positives matched to an uncertain pseudo box are still classification positives
   but get zero regression weight; (c) the regression RoIs follow the classification sampler's
   fg/bg balance instead of an independent sample. This saves one RoI-head forward/backward per
   unlabeled batch and one assignment/sampling per image.

   It also means the uncertainty of a candidate with score <= ``cls_pseudo_thr`` is never read, so only
   candidates above ``cls_pseudo_thr`` are jittered (the others get ``reg_uncertainty = inf``,
   :func:`~ssod.models.pseudo_labels.fill_uncertainty`). The
   references jitter every candidate above 0.5; on CPU the jitter pass's RoIAlign is the largest
   single cost of an unlabeled batch.
6. Statistics to the message hub, per iteration (``train/pseudo/...``): ``initial_per_img``,
   ``rpn_per_img``, ``cls_per_img``, ``reg_per_img`` (pseudo boxes per image after each filter; initial
   in the teacher view, the others after projection), ``score_mean`` (teacher score of the initial
   candidates), ``reg_uncertainty_mean`` (of the jittered candidates), ``bg_weight_mean`` (mean weight
   of the background RoIs). A mean over no element is not logged.

**Adaptive thresholds** (``adaptive_thr``, off by default; then nothing above changes). Between steps 1
and 2, the teacher's detections with ``score > adaptive_thr.score_floor`` (0.05; the NMS of step 1 then
starts at that floor instead of 0.5, which leaves the candidates unchanged, see
:meth:`SoftTeacher.teacher_detections`) go into per-class score queues, and each class seen gets its
threshold refitted: the boundary of a two-component Gaussian mixture of its queued scores (Consistent
Teacher's idea; :mod:`ssod.models.adaptive_thresholds`, :mod:`ssod.models.class_thresholds`). The stages
named in ``adaptive_thr.stages`` ('cls', 'rpn') then compare each box with its class's threshold instead
of ``cls_pseudo_thr`` / ``rpn_pseudo_thr`` (which remain the fallback of a class without a fit),
everywhere a stage is decided: jitter, RPN and R-CNN pseudo boxes, ignore regions, quality logger. The
thresholds in effect are logged as ``train/pseudo/thr_<stage>/<label>``. A threshold below
``pseudo_label_initial_score_thr`` acts as that one, since only candidates above it become pseudo boxes.

Which box passes which filter (initial, rpn, cls, reg) is decided by one function,
:func:`~ssod.models.pseudo_labels.stage_masks` (called through
:meth:`~ssod.models.detectors.semi_base.SemiBaseDetector.pseudo_label_stages`, which supplies the
per-class thresholds), which the quality logger uses too (with the same thresholds) and the analysis
tools (with the config's fixed ones).
The candidates are never modified: the student-view pseudo boxes are new structures that carry the
``candidate_index`` of the candidate they come from, and the measured uncertainty comes back as new
candidate structures with a ``reg_uncertainty`` field (:meth:`SoftTeacher.candidates_with_uncertainty`).

Other reference behaviours kept or fixed: no ``KeyError 'loss_cls'`` when no RoI is left (a zero,
graph-connected loss instead); the teacher runs in eval mode (mmdet's SoftTeacher leaves it in train
mode); the RPN key renaming does not mutate a dict while iterating it.
"""
import contextlib
import copy
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.models.losses import accuracy
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData
from torch import Tensor

from ssod.registry import MODELS
from ..pseudo_labels import (box_uncertainty, fill_uncertainty, initial_candidate_mask, jitter_boxes,
                             project_boxes, score_and_size_keep_mask, view_to_view_matrix)
from ..soft_cls_loss import background_weights, soft_weighted_cls_loss, softmax_background_prob
from .semi_base import SemiBaseDetector, log_pseudo_scalar, with_pseudo_gt


@MODELS.register_module()
class SoftTeacher(SemiBaseDetector):
    """Soft Teacher for two-stage detectors with an RPN and a softmax R-CNN box head (Faster R-CNN).

    Arguments as :class:`SemiBaseDetector`. One-stage detectors: use ``SemiBaseDetector``.
    """

    def __init__(self, detector: dict, **kwargs) -> None:
        super().__init__(detector=detector, **kwargs)
        _check_two_stage(self.student, detector.get('type', '?'))

    # ------------------------------------------------------------------ teacher side
    def unsup_losses(self, teacher_inputs: Tensor, teacher_samples: SampleList,
                     student_inputs: Tensor, student_samples: SampleList) -> dict:
        """Unweighted, unprefixed losses ``loss_rpn_cls, loss_rpn_bbox, loss_cls, acc, loss_bbox``."""
        with torch.no_grad():
            teacher_feats, candidates, uncertain = self.teacher_candidates(
                teacher_inputs, teacher_samples, with_uncertainty=False, with_ignore_regions=True,
                observe_scores=True)
            pseudo = self.pseudo_labels_to_student(_indexed(candidates), teacher_samples, student_samples)
            rpn_samples = cls_samples = student_samples
            if uncertain is not None:  # ignore regions are on
                uncertain = self.pseudo_labels_to_student(uncertain, teacher_samples, student_samples)
                rpn_samples = self._with_ignored(student_samples, uncertain, 'rpn')
                cls_samples = self._with_ignored(student_samples, uncertain, 'cls')
        feats = self.student.extract_feat(student_inputs)
        with self._ignore_regions_enabled():
            losses, proposals = self.student_rpn_losses(feats, rpn_samples, pseudo)
            losses.update(self.student_rcnn_losses(feats, proposals, cls_samples, pseudo, teacher_feats,
                                                   teacher_samples, candidates))
        return losses

    # ------------------------------------------------------------------ ignore regions
    def _with_ignored(self, samples: SampleList, uncertain: Sequence[InstanceData],
                      stage: str) -> SampleList:
        """``samples`` with ``ignored_instances`` = the student-view teacher detections with
        ``ignore_score_thr < score <= <stage>_pseudo_thr`` (``stage`` 'rpn' or 'cls'). Logs
        ``ignore_<stage>_per_img``."""
        out, regions = [], []
        for sample, dets in zip(samples, uncertain):
            sample = sample.clone()
            region = dets[~self.pseudo_label_stages(dets)[stage]]  # not that stage's box
            sample.ignored_instances = InstanceData(bboxes=region.bboxes, labels=region.labels)
            out.append(sample)
            regions.append(region)
        self._log_counts(f'ignore_{stage}', regions)
        return out

    @contextlib.contextmanager
    def _ignore_regions_enabled(self):
        """Within the block, the student's RPN and R-CNN assigners ignore anchors/proposals covered by
        an ``ignored_instances`` box (mmdet's ``MaxIoUAssigner.ignore_iof_thr``); their own setting
        (the supervised branch's) is restored afterwards."""
        if self.semi_train_cfg.ignore_score_thr is None:
            yield
            return
        assigners = [self.student.rpn_head.assigner, self.student.roi_head.bbox_assigner]
        for assigner in assigners:
            if not hasattr(assigner, 'ignore_iof_thr'):
                raise TypeError(f'ignore_score_thr needs assigners with ignore regions (MaxIoUAssigner); '
                                f'the student has {type(assigner).__name__}')
        saved = [(a.ignore_iof_thr, a.ignore_wrt_candidates) for a in assigners]
        try:
            for assigner in assigners:
                assigner.ignore_iof_thr = float(self.semi_train_cfg.ignore_iof_thr)
                assigner.ignore_wrt_candidates = True
            yield
        finally:
            for assigner, (thr, wrt) in zip(assigners, saved):
                assigner.ignore_iof_thr, assigner.ignore_wrt_candidates = thr, wrt

    @torch.no_grad()
    def teacher_candidates(self, inputs: Tensor, samples: SampleList, with_uncertainty: bool = True,
                           with_ignore_regions: bool = False, observe_scores: bool = False) -> tuple:
        """Teacher features and, per image, candidate pseudo boxes (teacher-view pixels) with
        ``bboxes, scores, labels`` and, if ``with_uncertainty``, ``reg_uncertainty`` (training computes
        it later, in the teacher's single R-CNN pass of :meth:`teacher_rcnn_outputs`). Candidates are
        the detections of the ``initial`` stage
        (:func:`~ssod.models.pseudo_labels.initial_candidate_mask`).

        ``with_ignore_regions``: a third item, per image the detections with ``score >
        ignore_score_thr``, from which each stage takes its ignore regions; ``None`` when ignore regions
        are off (``ignore_score_thr=None``).

        ``observe_scores`` (training): with ``adaptive_thr``, the detections with ``score >
        adaptive_thr.score_floor`` update the per-class thresholds before any of them is applied
        (:meth:`observe_teacher_scores`); the teacher's NMS then starts at that floor."""
        cfg = self.semi_train_cfg
        detection_thr = cfg.pseudo_label_initial_score_thr
        if cfg.ignore_score_thr is not None:
            detection_thr = min(detection_thr, cfg.ignore_score_thr)
        observe_scores = observe_scores and self.adaptive_thresholds is not None
        if observe_scores:
            detection_thr = min(detection_thr, self.adaptive_thresholds.score_floor)
        feats, detections = self.teacher_detections(inputs, samples, score_thr=detection_thr)
        if observe_scores:
            self.observe_teacher_scores(detections)
        candidates = []
        uncertain = None if cfg.ignore_score_thr is None else []
        for det in detections:
            keep = initial_candidate_mask(det.bboxes, det.scores, cfg)
            candidates.append(InstanceData(bboxes=det.bboxes[keep], scores=det.scores[keep],
                                           labels=det.labels[keep]))
            if uncertain is not None:
                keep = score_and_size_keep_mask(det.bboxes, det.scores, cfg.ignore_score_thr,
                                                cfg.min_pseudo_bbox_wh)
                uncertain.append(InstanceData(bboxes=det.bboxes[keep], scores=det.scores[keep],
                                              labels=det.labels[keep]))

        self._log_counts('initial', candidates)
        _log_mean('score_mean', [c.scores for c in candidates])
        if with_uncertainty:
            jittered = self.jittered_candidates(candidates)
            uncertainties = self.jitter_uncertainty(feats, [c[m] for c, m in zip(candidates, jittered)],
                                                    samples)
            candidates = self.candidates_with_uncertainty(candidates, jittered, uncertainties)
        return (feats, candidates, uncertain) if with_ignore_regions else (feats, candidates)

    @torch.no_grad()
    def teacher_detections(self, inputs: Tensor, samples: SampleList,
                           score_thr: Optional[float] = None
                           ) -> Tuple[Tuple[Tensor], List[InstanceData]]:
        """Teacher features and its box detections with its test config (teacher-view pixels): what
        ``teacher.predict(..., rescale=False)`` computes, with the features kept for the teacher's later
        R-CNN pass.

        ``score_thr``: the caller needs only detections with ``score > score_thr``; the R-CNN's test
        ``score_thr`` (0.05) is raised to it (never lowered) for this call, so lower scores never reach
        the per-class NMS. The detections above ``score_thr`` are the same as without it: NMS lets a box
        be suppressed only by a higher-scoring box of its class, and the ``max_per_img`` cut keeps the
        highest scores (only the order among exactly equal scores may differ). With 80 classes the
        unraised threshold sends thousands of boxes per image through NMS.
        """
        teacher = self.teacher
        feats = teacher.extract_feat(inputs)
        if samples[0].get('proposals', None) is None:
            proposals = teacher.rpn_head.predict(feats, samples, rescale=False)
        else:
            proposals = [s.proposals for s in samples]
        rcnn_cfg = teacher.roi_head.test_cfg
        if score_thr is not None and rcnn_cfg is not None and score_thr > rcnn_cfg.get('score_thr', 0):
            rcnn_cfg = copy.deepcopy(rcnn_cfg)
            rcnn_cfg.score_thr = float(score_thr)
        return feats, teacher.roi_head.predict_bbox(feats, [s.metainfo for s in samples], proposals,
                                                    rcnn_test_cfg=rcnn_cfg, rescale=False)

    def jittered_candidates(self, candidates: Sequence[InstanceData]) -> List[Tensor]:
        """Per image, the mask of the candidates whose regression uncertainty is needed: those that can
        become classification (hence regression) pseudo boxes: the ``cls`` stage."""
        return [self.pseudo_label_stages(c)['cls'] for c in candidates]

    def candidates_with_uncertainty(self, candidates: Sequence[InstanceData], jittered: Sequence[Tensor],
                                    uncertainties: Sequence[Tensor]) -> List[InstanceData]:
        """New candidate structures (same tensors) with ``reg_uncertainty`` (``inf`` where not
        jittered, :func:`~ssod.models.pseudo_labels.fill_uncertainty`); logs its mean. ``candidates``
        are left as they are."""
        scored = []
        for instances, mask, uncertainty in zip(candidates, jittered, uncertainties):
            instances = instances.new()  # shares the tensors; a field added here stays here
            instances.reg_uncertainty = fill_uncertainty(instances.scores, mask, uncertainty)
            scored.append(instances)
        _log_mean('reg_uncertainty_mean', uncertainties)
        return scored

    @torch.no_grad()
    def jitter_uncertainty(self, feats: Tuple[Tensor], candidates: Sequence[InstanceData],
                           samples: SampleList) -> List[Tensor]:
        """Per image, the jitter regression uncertainty ``(n,)`` of each candidate (dimensionless).

        One teacher box-head forward on the RoI features of all ``jitter_times x n`` jittered boxes of
        all images; each copy is decoded with the deltas of its candidate's class, clipped to its image.
        (Training fuses this forward with the background scoring: :meth:`teacher_rcnn_outputs`.)
        """
        rois, jittered = self._jitter_rois(candidates)
        if rois.shape[0] == 0:
            return [c.bboxes.new_zeros((0,)) for c in candidates]
        bbox_pred = self.teacher.roi_head._bbox_forward(feats, rois)['bbox_pred']
        return self._uncertainty_from_deltas(bbox_pred, rois, jittered, candidates, samples)

    def _jitter_rois(self, candidates: Sequence[InstanceData]) -> Tuple[Tensor, List[Tensor]]:
        """RoIs ``(sum_i times x n_i, 5)`` of the jittered candidates and the per-image jittered boxes
        ``(times, n_i, 4)``."""
        times, scale = int(self.semi_train_cfg.jitter_times), float(self.semi_train_cfg.jitter_scale)
        jittered = [jitter_boxes(c.bboxes, times, scale) for c in candidates]
        return bbox2roi([j.reshape(-1, 4) for j in jittered]), jittered

    def _uncertainty_from_deltas(self, bbox_pred: Tensor, rois: Tensor, jittered: Sequence[Tensor],
                                 candidates: Sequence[InstanceData], samples: SampleList) -> List[Tensor]:
        """Decode each jittered copy with the deltas of its candidate's class, clipped to its image,
        and reduce to one uncertainty per candidate (:func:`box_uncertainty`)."""
        times = int(self.semi_train_cfg.jitter_times)
        bbox_head = self.teacher.roi_head.bbox_head
        if rois.shape[0] == 0:
            return [c.bboxes.new_zeros((0,)) for c in candidates]
        labels = torch.cat([c.labels.repeat(times) for c in candidates])
        deltas = _deltas_of_class(bbox_head, bbox_pred, labels)
        counts = [j.shape[0] * j.shape[1] for j in jittered]
        uncertainties = []
        for c, j, sample, roi_i, delta_i in zip(candidates, jittered, samples,
                                                rois.split(counts), deltas.split(counts)):
            refined = bbox_head.bbox_coder.decode(roi_i[:, 1:], delta_i, max_shape=sample.img_shape)
            uncertainties.append(box_uncertainty(refined.reshape(j.shape), c.bboxes,
                                                 scale_by=self.semi_train_cfg.uncertainty_scale))
        return uncertainties

    # ------------------------------------------------------------------ student side
    def student_rpn_losses(self, feats: Tuple[Tensor], samples: SampleList,
                           pseudo: Sequence[InstanceData]) -> Tuple[dict, List[InstanceData]]:
        """Class-agnostic RPN loss on pseudo boxes with ``score > rpn_pseudo_thr``, and the proposals."""
        rpn_gt = [p[self.pseudo_label_stages(p)['rpn']] for p in pseudo]
        self._log_counts('rpn', rpn_gt)
        rpn_gt = [InstanceData(bboxes=g.bboxes, labels=torch.zeros_like(g.labels)) for g in rpn_gt]
        student = self.student
        proposal_cfg = student.train_cfg.get('rpn_proposal', student.test_cfg.rpn)
        losses, proposals = student.rpn_head.loss_and_predict(
            feats, with_pseudo_gt(samples, rpn_gt), proposal_cfg=proposal_cfg)
        losses = {(f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v for k, v in losses.items()}
        return losses, proposals

    def student_rcnn_losses(self, feats: Tuple[Tensor], proposals: Sequence[InstanceData],
                            samples: SampleList, pseudo: Sequence[InstanceData],
                            teacher_feats: Tuple[Tensor], teacher_samples: SampleList,
                            candidates: Sequence[InstanceData]) -> dict:
        """``loss_cls`` (soft background weights), ``acc`` and ``loss_bbox`` (certain boxes only) from a
        single sampling and a single box-head forward (see the module docstring, step 5).

        ``candidates`` are the teacher-view candidates that ``pseudo`` (student view) came from
        (``pseudo[i].candidate_index``); their jitter uncertainty is computed here, in the same teacher
        box-head pass as the background probabilities.
        """
        roi_head = self.student.roi_head
        bbox_head = roi_head.bbox_head
        cls_gt = [p[self.pseudo_label_stages(p)['cls']] for p in pseudo]
        self._log_counts('cls', cls_gt)

        sampling_results = []
        for i, (props, gt, sample) in enumerate(zip(proposals, cls_gt, samples)):
            priors = InstanceData(priors=props.bboxes)
            gt = InstanceData(bboxes=gt.bboxes, labels=gt.labels)
            assign = roi_head.bbox_assigner.assign(priors, gt, sample.get('ignored_instances', None))
            sampling_results.append(roi_head.bbox_sampler.sample(
                assign, priors, gt, feats=[level[i][None] for level in feats]))
        rois = bbox2roi([res.priors for res in sampling_results])
        head_out = roi_head._bbox_forward(feats, rois)  # the only student R-CNN forward
        cls_score, bbox_pred = head_out['cls_score'], head_out['bbox_pred']
        labels, label_weights, bbox_targets, bbox_weights = bbox_head.get_targets(
            sampling_results, self.student.train_cfg.rcnn)

        negative = labels == bbox_head.num_classes
        jittered = self.jittered_candidates(candidates)
        uncertainties, background_prob = self.teacher_rcnn_outputs(
            teacher_feats, teacher_samples, samples, sampling_results, negative,
            [c[m] for c, m in zip(candidates, jittered)])
        candidates = self.candidates_with_uncertainty(candidates, jittered, uncertainties)
        self.log_pseudo_quality(candidates, teacher_samples)  # vs hidden GT, teacher view
        # cls_gt are cls-stage boxes, so a candidate's reg-stage mask says whether its box is certain.
        certain = [self.pseudo_label_stages(c, c.reg_uncertainty)['reg'][g.candidate_index]
                   for c, g in zip(candidates, cls_gt)]
        self._log_counts('reg', [g[c] for g, c in zip(cls_gt, certain)])
        weights = background_weights(labels, label_weights, background_prob, bbox_head.num_classes)
        if negative.any():
            log_pseudo_scalar('bg_weight_mean', weights[negative].mean())
        reg_weights = bbox_weights * _regression_mask(sampling_results, certain, bbox_weights)[:, None]
        return dict(
            loss_cls=soft_weighted_cls_loss(bbox_head.loss_cls, cls_score, labels, weights),
            acc=accuracy(cls_score, labels),
            loss_bbox=bbox_head.loss(None, bbox_pred, rois, labels, weights, bbox_targets,
                                     reg_weights)['loss_bbox'])

    @torch.no_grad()
    def teacher_rcnn_outputs(self, teacher_feats: Tuple[Tensor], teacher_samples: SampleList,
                             student_samples: SampleList, sampling_results, negative: Tensor,
                             jitter_candidates: Sequence[InstanceData]
                             ) -> Tuple[List[Tensor], Tensor]:
        """The teacher's second and last R-CNN box-head pass of an unlabeled batch, on the RoIs of both
        of its uses at once (one RoIAlign and one head forward instead of two):

        * the jittered copies of ``jitter_candidates`` (teacher view) -> per image, the regression
          uncertainty ``(n_i,)`` of each of them (:meth:`jitter_uncertainty`);
        * the sampled student RoIs marked in ``negative``, mapped into the teacher view
          (``H_teacher @ inv(H_student)``, clipped) -> their teacher background probability. Only
          background RoIs get a soft weight, so only they are scored; the returned ``(num_rois,)``
          tensor is 1 elsewhere, never read.
        """
        jitter_rois, jittered = self._jitter_rois(jitter_candidates)
        boxes = []
        for res, t_sample, s_sample in zip(sampling_results, teacher_samples, student_samples):
            matrix = view_to_view_matrix(s_sample.homography_matrix, t_sample.homography_matrix)
            projected, _ = project_boxes(res.priors, matrix, t_sample.img_shape, min_wh=(0.0, 0.0))
            boxes.append(projected)
        student_rois = bbox2roi(boxes)
        background_prob = student_rois.new_ones((student_rois.shape[0], ))
        num_jittered = jitter_rois.shape[0]
        rois = torch.cat([jitter_rois, student_rois[negative]])
        if rois.shape[0] == 0:
            return [c.bboxes.new_zeros((0,)) for c in jitter_candidates], background_prob
        cls_score, bbox_pred = self._teacher_box_head(teacher_feats, rois)
        uncertainties = self._uncertainty_from_deltas(bbox_pred[:num_jittered], jitter_rois, jittered,
                                                      jitter_candidates, teacher_samples)
        if negative.any():
            background_prob[negative] = softmax_background_prob(cls_score[num_jittered:])
        return uncertainties, background_prob

    @torch.no_grad()
    def _teacher_box_head(self, feats: Tuple[Tensor], rois: Tensor) -> Tuple[Tensor, Tensor]:
        """The teacher's ``cls_score, bbox_pred`` for ``rois`` (``(n, 5)``, teacher view), computed
        ``teacher_rois_per_pass`` RoIs at a time: the RoI features (n x C x 7 x 7 floats) of one chunk
        exist at a time, so the pass's memory does not grow with the number of pseudo boxes x
        ``jitter_times``. The teacher is in eval mode and its head treats every RoI on its own, so the
        chunk size does not change the outputs."""
        chunk = int(self.semi_train_cfg.teacher_rois_per_pass)
        scores, deltas = [], []
        for part in rois.split(chunk):
            head_out = self.teacher.roi_head._bbox_forward(feats, part)
            scores.append(head_out['cls_score'])
            deltas.append(head_out['bbox_pred'])
            del head_out  # drops this chunk's RoI features before the next chunk's are extracted
        return torch.cat(scores), torch.cat(deltas)


def _indexed(candidates: Sequence[InstanceData]) -> List[InstanceData]:
    """New structures (same tensors) with ``candidate_index``: each box's index among its image's
    candidates, so that the student-view pseudo boxes (a filtered subset) find their candidate."""
    indexed = []
    for instances in candidates:
        instances = instances.new()
        instances.candidate_index = torch.arange(len(instances), device=instances.scores.device)
        indexed.append(instances)
    return indexed


def _deltas_of_class(bbox_head: BBoxHead, bbox_pred: Tensor, labels: Tensor) -> Tensor:
    """``(n, 4)`` regression deltas of class ``labels[i]`` for each row (class-agnostic heads: as is)."""
    if bbox_head.reg_class_agnostic:
        return bbox_pred.reshape(bbox_pred.shape[0], 4)
    per_class = bbox_pred.reshape(bbox_pred.shape[0], -1, 4)
    return per_class[torch.arange(per_class.shape[0], device=labels.device), labels]


def _regression_mask(sampling_results, certain: Sequence[Tensor], like: Tensor) -> Tensor:
    """``(num_rois,)`` 1 for positive RoIs whose assigned pseudo box is regression-certain, else 0.

    Row order is that of ``BBoxHead.get_targets`` (per image: positives, then negatives).
    """
    parts = []
    for res, certain_i in zip(sampling_results, certain):
        parts.append(certain_i[res.pos_assigned_gt_inds].to(like.dtype))
        parts.append(like.new_zeros((res.neg_priors.shape[0],)))
    return torch.cat(parts) if parts else like.new_zeros((0,))


def _log_mean(name: str, values: Sequence[Tensor]) -> None:
    values = torch.cat(list(values)) if len(values) else torch.zeros((0,))
    if values.numel():
        log_pseudo_scalar(name, values.mean())


def _check_two_stage(detector, type_name: str) -> None:
    """Build-time check that ``detector`` has what SoftTeacher uses (clear error instead of a crash)."""
    rpn_head = getattr(detector, 'rpn_head', None)
    roi_head = getattr(detector, 'roi_head', None)
    if rpn_head is None or roi_head is None:
        raise TypeError(
            f'SoftTeacher needs a two-stage detector with an RPN (rpn_head) and an R-CNN (roi_head), '
            f'e.g. FasterRCNN; {type_name} has no {"rpn_head" if rpn_head is None else "roi_head"}. '
            f"For one-stage detectors (RetinaNet, FCOS, ...) use type='SemiBaseDetector', which "
            f'trains on hard pseudo-labels.')
    bbox_head = getattr(roi_head, 'bbox_head', None)
    if not isinstance(bbox_head, BBoxHead) or not hasattr(roi_head, 'bbox_sampler'):
        raise TypeError(f'SoftTeacher supports a single-stage R-CNN box head (StandardRoIHead + '
                        f'BBoxHead); {type_name} has {type(roi_head).__name__}. Use SemiBaseDetector.')
    if getattr(bbox_head.loss_cls, 'use_sigmoid', False) or bbox_head.custom_cls_channels:
        raise TypeError('SoftTeacher weights background RoIs by the teacher softmax background '
                        f'probability; the box head of {type_name} does not use a softmax classifier.')
