"""SoftTeacher: soft background weighting and its normalisation, jitter uncertainty, one student R-CNN
pass, regression on certain boxes only, empty cases, statistics, build-time checks."""
import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import CrossEntropyLoss
from mmdet.structures.bbox import bbox_overlaps
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from ssod.models.adaptive_thresholds import mixture_threshold
from ssod.models.detectors.soft_teacher import _regression_mask
from ssod.models.pseudo_labels import score_and_size_keep_mask
from ssod.models.soft_cls_loss import (background_weights, soft_weighted_cls_loss,
                                       softmax_background_prob)
from ssod.registry import MODELS
from tests.models.detectors.semi_test_utils import (ADAPTIVE_THR, as_float, assert_finite, build_semi,
                                                    fake_detections, images, multi_batch,
                                                    prefill_score_queues, sample, tiny_retinanet, total)

KEYS = {f'{p}_{k}' for p in ('sup', 'unsup')
        for k in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc', 'loss_bbox')}


def _patch_teacher_detections(model, detections):
    """The teacher's R-CNN returns these per-image detections (teacher-view pixels)."""
    model.teacher.roi_head.predict_bbox = lambda feats, metas, proposals, rcnn_test_cfg, rescale: [
        copy.deepcopy(d) for d in detections]


def _scalars():
    return {k: v.current() for k, v in MessageHub.get_current_instance().log_scalars.items()
            if k.startswith('train/pseudo/')}


# ---------------------------------------------------------------- background weighting (eq. 2-3)
def test_background_weights_replace_only_negatives():
    labels = torch.tensor([0, 3, 2, 3, 3])  # 3 classes: label 3 = background
    weights = background_weights(labels, torch.ones(5), torch.tensor([.9, .2, .9, .7, .0]), 3)
    torch.testing.assert_close(weights, torch.tensor([1., .2, 1., .7, .0]))


def test_soft_weighted_cls_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.1, -1.0, 0.3], [0.5, 0.5, 0.5, 2.5], [-1.0, 3.0, 0.0, 0.0],
                           [0.2, -0.4, 1.0, 1.5], [1.0, 1.0, 1.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 3, 1, 3, 3])
    weights = torch.tensor([1.0, 0.8, 1.0, 0.3, 0.1])
    ce = -F.log_softmax(logits, dim=1)[torch.arange(5), labels]
    expected = (ce * weights).sum() / weights.sum()  # (sum_fg CE + sum_bg r CE) / (N_fg + sum_bg r)
    got = soft_weighted_cls_loss(CrossEntropyLoss(), logits, labels, weights)
    torch.testing.assert_close(got, expected)
    got.backward()
    assert logits.grad is not None
    # the floor: with sum(w) < 1 the loss is divided by 1, not blown up
    small = torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1])
    torch.testing.assert_close(soft_weighted_cls_loss(CrossEntropyLoss(), logits, labels, small),
                               (ce * small).sum())
    # loss_weight of the head's loss still applies
    torch.testing.assert_close(
        soft_weighted_cls_loss(CrossEntropyLoss(loss_weight=2.0), logits, labels, weights), 2 * expected)
    empty = soft_weighted_cls_loss(CrossEntropyLoss(), logits[:0], labels[:0], weights[:0])
    assert as_float(empty) == 0.0 and empty.requires_grad
    torch.testing.assert_close(softmax_background_prob(logits)[1], torch.softmax(logits[1], 0)[3])


def test_teacher_background_probability_weights_the_negatives_end_to_end():
    model = build_semi('SoftTeacher')
    _patch_teacher_detections(model, [fake_detections([[4, 8, 30, 40]], [0.95], [1])] * 2)
    model.teacher_rcnn_outputs = lambda feats, t_samples, s_samples, results, negative, jittered: (
        [torch.zeros(len(c)) for c in jittered],
        torch.full((sum(len(r.priors) for r in results),), 0.25))
    losses = model.loss(*multi_batch(num_sup=0))
    assert_finite(losses)
    assert _scalars()['train/pseudo/bg_weight_mean'] == pytest.approx(0.25)
    assert _scalars()['train/pseudo/reg_uncertainty_mean'] == 0.0


def _record_teacher_forwards(model):
    """List that receives the number of RoIs of every teacher box-head forward from now on."""
    sizes = []
    real_forward = model.teacher.roi_head._bbox_forward
    model.teacher.roi_head._bbox_forward = lambda f, rois: (sizes.append(rois.shape[0]),
                                                            real_forward(f, rois))[1]
    return sizes


def test_one_teacher_pass_scores_the_jittered_boxes_and_only_the_negative_rois():
    """Positives keep weight 1, so besides the jittered candidates the teacher's box head sees only the
    background RoIs; jitter and background share one forward (after the detection pass)."""
    model = build_semi('SoftTeacher')
    # one candidate per image above cls_pseudo_thr (jittered), one below it (not jittered)
    _patch_teacher_detections(model, [fake_detections([[4, 8, 30, 40], [30, 30, 50, 60]],
                                                      [0.95, 0.6], [1, 0])] * 2)
    scored, negatives = _record_teacher_forwards(model), []
    real_outputs = model.teacher_rcnn_outputs

    def recording_outputs(feats, t_samples, s_samples, results, negative, jittered):
        negatives.append(int(negative.sum()))
        assert [len(c) for c in jittered] == [1, 1]
        uncertainties, prob = real_outputs(feats, t_samples, s_samples, results, negative, jittered)
        assert torch.all(prob[~negative] == 1)
        assert torch.all((prob[negative] >= 0) & (prob[negative] <= 1))
        assert [u.shape for u in uncertainties] == [(1,), (1,)]
        return uncertainties, prob

    model.teacher_rcnn_outputs = recording_outputs
    assert_finite(model.loss(*multi_batch(num_sup=0)))
    # the detection pass is patched out: the one remaining teacher R-CNN forward holds
    # 10 jittered copies x 2 images plus exactly the negatives
    assert len(negatives) == 1 and scored == [10 * 2 + negatives[0]]


def test_teacher_rois_per_pass_splits_the_pass_without_changing_its_outputs():
    """The teacher's second pass is cut into forwards of at most ``teacher_rois_per_pass`` RoIs (its
    memory stays bounded); uncertainties and background probabilities are those of a single forward."""
    results = {}
    for per_pass in (100000, 7):
        model = build_semi('SoftTeacher', teacher_rois_per_pass=per_pass)
        _patch_teacher_detections(model, [fake_detections([[4, 8, 30, 40], [30, 30, 50, 60]],
                                                          [0.95, 0.93], [1, 0])] * 2)
        sizes, outputs = _record_teacher_forwards(model), []
        real_outputs = model.teacher_rcnn_outputs
        model.teacher_rcnn_outputs = lambda *a: (outputs.append(real_outputs(*a)), outputs[-1])[1]
        torch.manual_seed(5)
        model.loss(*multi_batch(num_sup=0))
        results[per_pass] = (sizes, outputs[0])
    (one_sizes, (one_unc, one_prob)), (cut_sizes, (cut_unc, cut_prob)) = results[100000], results[7]
    total_rois = one_sizes[0]
    assert len(one_sizes) == 1 and total_rois == 2 * 2 * 10 + int((one_prob < 1).sum()) > 40
    assert cut_sizes == [7] * (total_rois // 7) + ([total_rois % 7] if total_rois % 7 else [])
    assert torch.allclose(cut_prob, one_prob, atol=1e-6)
    for cut, one in zip(cut_unc, one_unc):
        assert cut.shape == (2,) and torch.allclose(cut, one, atol=1e-6)


# ---------------------------------------------------------------- jitter uncertainty
def _teacher_head_returning(model, deltas_fn):
    calls = []
    real = model.teacher.roi_head._bbox_forward

    def bbox_forward(feats, rois):
        calls.append(rois.shape[0])
        out = real(feats, rois)
        out['bbox_pred'] = deltas_fn(rois, out['bbox_pred'])
        return out
    model.teacher.roi_head._bbox_forward = bbox_forward
    return calls


def test_uncertainty_equals_jitter_scale_when_the_head_keeps_boxes_in_one_batched_pass():
    model = build_semi('SoftTeacher')
    calls = _teacher_head_returning(model, lambda rois, pred: torch.zeros_like(pred))  # refined = input
    torch.manual_seed(0)
    boxes = torch.tensor([[16., 16., 40., 44.]]).repeat(200, 1)
    cands = [fake_detections(boxes, torch.full((200,), .9), torch.arange(200) % 3),
             fake_detections(boxes[:100], torch.full((100,), .9), torch.zeros(100, dtype=torch.long))]
    feats = model.teacher.extract_feat(images(2))
    uncertainty = model.jitter_uncertainty(feats, cands, [sample(), sample()])
    assert calls == [10 * 300]  # all jittered boxes of the batch in ONE teacher box-head pass
    assert [u.shape[0] for u in uncertainty] == [200, 100]
    # E[sample std of 10 normals] = 0.9727 sigma; sigma / size = jitter_scale = 0.06
    assert as_float(torch.cat(uncertainty).mean()) == pytest.approx(0.06 * 0.9727, rel=0.04)


def test_uncertainty_is_zero_when_the_head_maps_every_jitter_to_one_box():
    model = build_semi('SoftTeacher')
    coder = model.teacher.roi_head.bbox_head.bbox_coder
    fixed = torch.tensor([[20., 18., 44., 50.]])
    _teacher_head_returning(
        model, lambda rois, pred: coder.encode(rois[:, 1:], fixed.expand(len(rois), 4)).repeat(1, 3))
    cands = [fake_detections([[16., 16., 40., 44.], [10., 10., 30., 30.]], [.9, .8], [2, 0])]
    uncertainty = model.jitter_uncertainty(model.teacher.extract_feat(images(1)), cands, [sample()])
    torch.testing.assert_close(uncertainty[0], torch.zeros(2), atol=1e-5, rtol=0)
    assert model.jitter_uncertainty(None, [fake_detections([], [], [])], [sample()])[0].shape == (0,)


# ---------------------------------------------------------------- one student R-CNN pass, regression
def _count_student_bbox_head(model):
    calls = []
    head = model.student.roi_head.bbox_head
    real = head.forward
    head.forward = lambda x: (calls.append(x.shape[0]), real(x))[1]
    return calls


def test_student_rcnn_runs_once_per_unlabeled_batch():
    model = build_semi('SoftTeacher', pseudo_label_initial_score_thr=0.0, cls_pseudo_thr=0.0,
                       rpn_pseudo_thr=0.0, reg_pseudo_thr=1.0)
    calls = _count_student_bbox_head(model)
    model.loss(*multi_batch(num_sup=0))  # the sup_* zero losses take their keys from unsup_*: no dry run
    assert len(calls) == 1
    calls.clear()
    model.loss(*multi_batch(num_sup=1))
    assert len(calls) == 2  # one for the labeled batch, one for the unlabeled batch


def test_regression_only_on_certain_pseudo_boxes():
    dets = [fake_detections([[4, 8, 30, 40], [34, 30, 60, 60]], [0.95, 0.97], [1, 2])] * 2
    losses = {}
    for reg_thr in (0.0, 1e9):  # every box uncertain / every box certain
        model = build_semi('SoftTeacher', reg_pseudo_thr=reg_thr)
        _patch_teacher_detections(model, dets)
        torch.manual_seed(0)
        losses[reg_thr] = model.loss(*multi_batch(num_sup=0))
        assert_finite(losses[reg_thr])
    assert as_float(losses[0.0]['unsup_loss_bbox']) == 0.0
    assert as_float(losses[1e9]['unsup_loss_bbox']) > 0.0
    # same sampling (same seed): classification does not depend on the regression filter
    torch.testing.assert_close(losses[0.0]['unsup_loss_cls'], losses[1e9]['unsup_loss_cls'])
    scalars = _scalars()
    assert scalars['train/pseudo/cls_per_img'] == 2 and scalars['train/pseudo/reg_per_img'] == 2


def test_regression_mask_zeroes_positives_matched_to_uncertain_boxes_and_negatives():
    results = [SimpleNamespace(pos_assigned_gt_inds=torch.tensor([1, 0, 1]),
                               neg_priors=torch.zeros(2, 4)),
               SimpleNamespace(pos_assigned_gt_inds=torch.tensor([0]), neg_priors=torch.zeros(1, 4))]
    certain = [torch.tensor([False, True]), torch.tensor([True])]
    mask = _regression_mask(results, certain, torch.zeros(1))
    assert mask.tolist() == [1, 0, 1, 0, 0, 1, 0]


# ---------------------------------------------------------------- edge cases, statistics, checks
def test_no_pseudo_box_in_one_image_or_in_the_whole_batch():
    for dets in ([fake_detections([[4, 8, 30, 40]], [0.95], [1]), fake_detections([], [], [])],
                 [fake_detections([[4, 8, 30, 40]], [0.3], [1])] * 2,  # below every threshold
                 [fake_detections([], [], [])] * 2):
        model = build_semi('SoftTeacher')
        _patch_teacher_detections(model, dets)
        losses = model.loss(*multi_batch(num_sup=0))
        assert set(losses) == KEYS
        assert_finite(losses)
        assert as_float(losses['unsup_loss_cls']) > 0
        total(losses).backward()
    assert as_float(losses['unsup_loss_bbox']) == 0.0


def test_empty_branches_and_teacher_unchanged_by_training():
    model = build_semi('SoftTeacher')
    model.train()
    assert not model.teacher.training
    before = copy.deepcopy(model.teacher.state_dict())
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    _patch_teacher_detections(model, [fake_detections([[4, 8, 30, 40]], [0.95], [1])] * 2)
    for num_sup, num_unsup in ((1, 2), (0, 2), (1, 0)):
        losses = model.loss(*multi_batch(num_sup=num_sup, num_unsup=num_unsup))
        assert set(losses) == KEYS
        assert_finite(losses)
        optim.zero_grad()
        total(losses).backward()
        optim.step()
        if not num_unsup:
            assert all(as_float(v) == 0 for k in KEYS if k.startswith('unsup_')
                       for v in (losses[k] if isinstance(losses[k], list) else [losses[k]]))
    assert all(torch.equal(v, before[k]) for k, v in model.teacher.state_dict().items())


def test_statistics_are_logged():
    model = build_semi('SoftTeacher')
    _patch_teacher_detections(model, [fake_detections([[4, 8, 30, 40], [2, 2, 9, 9]], [0.95, 0.6],
                                                      [1, 0])] * 2)
    model.loss(*multi_batch(num_sup=0))
    scalars = _scalars()
    assert scalars['train/pseudo/initial_per_img'] == 2
    assert scalars['train/pseudo/rpn_per_img'] == 1 and scalars['train/pseudo/cls_per_img'] == 1
    assert scalars['train/pseudo/score_mean'] == pytest.approx(0.775)
    for key in ('reg_per_img', 'reg_uncertainty_mean', 'bg_weight_mean'):
        assert f'train/pseudo/{key}' in scalars


def test_soft_teacher_needs_a_two_stage_detector():
    with pytest.raises(TypeError, match=r"RetinaNet.*SemiBaseDetector"):
        build_semi('SoftTeacher', detector=tiny_retinanet())
    init_default_scope('ssod')
    assert MODELS.get('SoftTeacher').__module__ == 'ssod.models.detectors.soft_teacher'


def test_only_candidates_above_cls_threshold_are_jittered():
    """Uncertainty is read only for classification pseudo boxes (score > cls_pseudo_thr), so only those
    go through the jitter pass; the others are marked infinitely uncertain."""
    model = build_semi('SoftTeacher', jitter_times=10)
    _patch_teacher_detections(model, [fake_detections([[4, 8, 30, 40], [2, 2, 9, 9], [10, 10, 40, 30]],
                                                      [0.95, 0.6, 0.92], [1, 0, 2])])
    seen_rois = _record_teacher_forwards(model)
    _, candidates = model.teacher_candidates(images(1), [sample()])
    uncertainty = candidates[0].reg_uncertainty
    assert torch.isinf(uncertainty[1]) and torch.isfinite(uncertainty[[0, 2]]).all()
    assert seen_rois == [2 * 10]  # 2 boxes above 0.9, jittered 10 times, in one forward


def test_teacher_nms_skips_scores_below_the_initial_threshold_without_changing_the_candidates(
        monkeypatch):
    """The teacher's R-CNN runs with its test score threshold raised to the initial pseudo-label
    threshold (fewer boxes through NMS); the candidates equal those filtered from a plain
    ``teacher.predict`` (score > 0.5, w and h >= min_pseudo_bbox_wh), and the teacher's own test config
    is not modified."""
    import mmdet.models.roi_heads.bbox_heads.bbox_head as bbox_head_module
    model = build_semi('SoftTeacher', pseudo_label_initial_score_thr=0.5)
    with torch.no_grad():  # a teacher whose class scores spread over (0, 1)
        model.teacher.roi_head.bbox_head.fc_cls.weight.normal_(0.0, 3.0)
    inputs, samples = images(2, seed=3), [sample(), sample()]
    expected = [r.pred_instances for r in model.teacher.predict(inputs, samples, rescale=False)]
    scores = torch.cat([e.scores for e in expected])
    assert ((scores > 0.05) & (scores <= 0.5)).sum() >= 10 and (scores > 0.5).sum() >= 5

    thresholds = []
    original_nms = bbox_head_module.multiclass_nms

    def recording_nms(boxes, scores, score_thr, *args, **kwargs):
        thresholds.append(score_thr)
        return original_nms(boxes, scores, score_thr, *args, **kwargs)

    monkeypatch.setattr(bbox_head_module, 'multiclass_nms', recording_nms)
    _, candidates = model.teacher_candidates(inputs, samples, with_uncertainty=False)
    assert thresholds == [0.5, 0.5]
    assert model.teacher.roi_head.test_cfg.score_thr == 0.05
    for got, want in zip(candidates, expected):
        want = want[score_and_size_keep_mask(want.bboxes, want.scores, 0.5, (1e-2, 1e-2))]
        order_got, order_want = got.scores.argsort(), want.scores.argsort()
        assert torch.equal(got.scores[order_got], want.scores[order_want])
        assert torch.equal(got.bboxes[order_got], want.bboxes[order_want])
        assert torch.equal(got.labels[order_got], want.labels[order_want])


def _record_assignments(assigner, store):
    original = assigner.assign

    def assign(pred_instances, gt_instances, gt_instances_ignore=None, **kwargs):
        result = original(pred_instances, gt_instances, gt_instances_ignore, **kwargs)
        store.append((pred_instances.priors.clone(), gt_instances_ignore, result.gt_inds.clone(),
                      assigner.ignore_iof_thr))
        return result
    assigner.assign = assign


@pytest.mark.parametrize('ignore_score_thr', [None, 0.1])
def test_ignore_regions_keep_uncertain_teacher_boxes_out_of_the_background(monkeypatch, ignore_score_thr):
    """A teacher box scored 0.3 (below the 0.9 thresholds, above ignore_score_thr 0.1) is an ignore
    region for the student's RPN and R-CNN assigners: anchors/proposals inside it are assigned -1
    (ignored) instead of 0 (background). Off (None): they are background, the paper's behaviour."""
    torch.manual_seed(0)
    model = build_semi(ignore_score_thr=ignore_score_thr, unsup_weight=1.0)
    confident, uncertain = [2., 2., 14., 14.], [18., 18., 63., 63.]

    def detections(inputs, samples, score_thr=None):
        detections.thr = score_thr
        feats = model.teacher.extract_feat(inputs)
        return feats, [fake_detections([confident, uncertain], [0.95, 0.3], [0, 0]) for _ in samples]
    monkeypatch.setattr(model, 'teacher_detections', detections)
    rpn_calls, rcnn_calls = [], []
    _record_assignments(model.student.rpn_head.assigner, rpn_calls)
    _record_assignments(model.student.roi_head.bbox_assigner, rcnn_calls)
    inputs, samples = multi_batch(num_sup=0, num_unsup=1, student_flip=False)
    model.loss(inputs, samples)

    assert detections.thr == (0.5 if ignore_score_thr is None else 0.1)
    for calls in (rpn_calls, rcnn_calls):
        priors, ignored, gt_inds, iof_thr = calls[-1]
        # mostly inside the uncertain box, far from the confident one
        inside = ((bbox_overlaps(priors, torch.tensor([uncertain]), mode='iof')[:, 0] > 0.5)
                  & (bbox_overlaps(priors, torch.tensor([confident]))[:, 0] < 0.1))
        assert inside.sum() > 0
        if ignore_score_thr is None:
            assert iof_thr == -1 and (ignored is None or len(ignored) == 0)
            assert (gt_inds[inside] == 0).all()  # taught as background
        else:
            assert iof_thr == 0.5
            assert ignored.bboxes.tolist() == [uncertain]
            assert (gt_inds[inside] == -1).all()  # neither foreground nor background
    # the supervised branch's setting is back after the unlabeled batch
    assert model.student.rpn_head.assigner.ignore_iof_thr == -1
    assert model.student.roi_head.bbox_assigner.ignore_iof_thr == -1


def test_zero_unsup_weight_skips_the_unlabeled_branch(monkeypatch):
    """unsup_weight 0 (the control run): the teacher never runs, unsup_* losses are zeros with the
    usual keys, and the supervised losses are those of a run without unlabeled images."""
    model = build_semi(unsup_weight=0.0)
    calls = []
    monkeypatch.setattr(model, 'unsup_losses', lambda *a: calls.append(a))
    inputs, samples = multi_batch(num_sup=1, num_unsup=2)
    torch.manual_seed(3)
    losses = model.loss(inputs, samples)
    assert calls == []
    unsup = {k: v for k, v in losses.items() if k.startswith('unsup_')}
    assert set(unsup) == {k for k in KEYS if k.startswith('unsup_')}
    assert as_float(total(unsup)) == 0.0
    sup_only_inputs, sup_only_samples = multi_batch(num_sup=1, num_unsup=0)
    torch.manual_seed(3)
    reference = model.loss(sup_only_inputs, sup_only_samples)
    assert as_float(losses['sup_loss_cls']) == as_float(reference['sup_loss_cls'])


# ---------------------------------------------------------------- adaptive per-class thresholds
# One image's teacher detections: per class a box below and a box above its adaptive threshold
# (class 0 about 0.59, class 2 about 0.73, class 1 without a fit: the fixed 0.9).
ADAPTIVE_BOXES = [[2, 2, 14, 14], [20, 2, 34, 14], [40, 2, 60, 16], [2, 30, 16, 44], [24, 30, 40, 46],
                  [44, 30, 62, 50]]
ADAPTIVE_SCORES = [0.55, 0.7, 0.8, 0.95, 0.65, 0.85]
ADAPTIVE_LABELS = [0, 0, 1, 1, 2, 2]


def _record_gt_boxes(assigner, store):
    """``store`` receives the ground-truth boxes of every call of ``assigner.assign``."""
    original = assigner.assign

    def assign(pred_instances, gt_instances, gt_instances_ignore=None, **kwargs):
        store.append(gt_instances.bboxes.clone())
        return original(pred_instances, gt_instances, gt_instances_ignore, **kwargs)
    assigner.assign = assign


def test_adaptive_thresholds_choose_the_rpn_and_cls_pseudo_boxes_per_class():
    model = build_semi('SoftTeacher', adaptive_thr=ADAPTIVE_THR)
    prefill_score_queues(model)
    _patch_teacher_detections(model, [fake_detections(ADAPTIVE_BOXES, ADAPTIVE_SCORES, ADAPTIVE_LABELS)] * 2)
    rpn_gt, rcnn_gt = [], []
    _record_gt_boxes(model.student.rpn_head.assigner, rpn_gt)
    _record_gt_boxes(model.student.roi_head.bbox_assigner, rcnn_gt)
    assert_finite(model.loss(*multi_batch(num_sup=0, student_flip=False)))  # same boxes in both views

    thresholds = model.pseudo_thresholds()
    queue = model.adaptive_thresholds.queue
    assert queue.count(0) == queue.count(2) == 1000 and queue.count(1) == 4  # this batch's scores too
    for label in (0, 2):  # the mixture threshold of the queue after this batch's scores were added
        expected = mixture_threshold(queue.values(label), default=-1.0, min_count=200, min_thr=0.3,
                                     max_thr=0.95)
        assert thresholds['cls'][label].item() == pytest.approx(expected, abs=1e-6)
    assert 0.56 < thresholds['cls'][0].item() < 0.62 and 0.7 < thresholds['cls'][2].item() < 0.76
    assert thresholds['cls'][1].item() == pytest.approx(0.9)  # too few scores: cls_pseudo_thr
    assert torch.equal(thresholds['rpn'], thresholds['cls'])  # rpn_pseudo_thr is 0.9 as well

    # exactly the boxes above their class's threshold: scores 0.7 (class 0), 0.95 (1), 0.85 (2);
    # the fixed 0.9 would have kept only the 0.95 box
    expected_boxes = torch.tensor([ADAPTIVE_BOXES[i] for i in (1, 3, 5)], dtype=torch.float32)
    for calls in (rpn_gt, rcnn_gt):
        assert len(calls) == 2  # one per image
        for boxes in calls:
            assert torch.equal(boxes[boxes[:, 0].argsort()], expected_boxes[expected_boxes[:, 0].argsort()])
    scalars = _scalars()
    assert scalars['train/pseudo/cls_per_img'] == 3 and scalars['train/pseudo/rpn_per_img'] == 3
    # the thresholds in effect are logged per stage and class
    for stage in ('cls', 'rpn'):
        for label in range(3):
            assert scalars[f'train/pseudo/thr_{stage}/{label}'] == pytest.approx(
                thresholds[stage][label].item())
    # the quality logger applies the same per-class thresholds (its per-class counts, teacher view)
    assert [scalars[f'train/pseudo/cls_per_img/{label}'] for label in range(3)] == [1.0, 1.0, 1.0]


def test_adaptive_thresholds_without_a_fit_train_exactly_as_the_fixed_ones():
    """Option on, but no class has min_count scores yet: every stage uses the fixed thresholds, and
    the losses are bit-identical to the option off."""
    dets = [fake_detections(ADAPTIVE_BOXES, ADAPTIVE_SCORES, ADAPTIVE_LABELS)] * 2
    losses = {}
    for adaptive in (None, ADAPTIVE_THR):
        model = build_semi('SoftTeacher', adaptive_thr=adaptive, reg_pseudo_thr=1.0)
        _patch_teacher_detections(model, dets)
        torch.manual_seed(0)
        losses[adaptive is None] = model.loss(*multi_batch(num_sup=1))
    off, on = losses[True], losses[False]
    assert set(on) == set(off) == KEYS and as_float(off['unsup_loss_bbox']) > 0
    for key in KEYS:
        on_values, off_values = ([v.detach() for v in (x if isinstance(x, list) else [x])]
                                 for x in (on[key], off[key]))
        assert len(on_values) == len(off_values)
        assert all(torch.equal(a, b) for a, b in zip(on_values, off_values)), key
    assert _scalars()['train/pseudo/thr_cls/0'] == pytest.approx(0.9)


def test_adaptive_threshold_state_is_saved_and_restored_with_the_model():
    off = build_semi('SoftTeacher')
    assert off.adaptive_thresholds is None and off.pseudo_thresholds() is None
    assert all(key.startswith(('teacher.', 'student.')) for key in off.state_dict())  # unchanged
    model = build_semi('SoftTeacher', adaptive_thr=ADAPTIVE_THR)
    prefill_score_queues(model)
    state = model.state_dict()
    assert {k for k in state if not k.startswith(('teacher.', 'student.'))} == {
        'adaptive_thresholds.fitted_thr', 'adaptive_thresholds.fitted', 'adaptive_thresholds.queue.scores',
        'adaptive_thresholds.queue.written'}
    resumed = build_semi('SoftTeacher', adaptive_thr=ADAPTIVE_THR, seed=1)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.pseudo_thresholds()['cls'], model.pseudo_thresholds()['cls'])
    assert torch.equal(resumed.adaptive_thresholds.queue.scores, model.adaptive_thresholds.queue.scores)
    # a checkpoint of fixed thresholds loads (non-strictly) with empty queues: the fixed fallback
    fresh = build_semi('SoftTeacher', adaptive_thr=ADAPTIVE_THR)
    result = fresh.load_state_dict(off.state_dict(), strict=False)
    assert len(result.missing_keys) == 4 and not result.unexpected_keys
    assert fresh.pseudo_thresholds()['cls'].tolist() == pytest.approx([0.9] * 3)


def test_a_batch_without_unlabeled_images_still_joins_the_score_gathering(monkeypatch):
    """Every rank calls observe once per iteration (it gathers over ranks): with no scores when this
    rank got no unlabeled image; not at all when unsup_weight is 0 on every rank."""
    for unsup_weight, expected_calls in ((4.0, 1), (0.0, 0)):
        model = build_semi('SoftTeacher', adaptive_thr=ADAPTIVE_THR, unsup_weight=unsup_weight)
        calls = []
        real_observe = model.adaptive_thresholds.observe

        def observe(scores, labels, real_observe=real_observe):
            calls.append(scores.numel())
            return real_observe(scores, labels)
        monkeypatch.setattr(model.adaptive_thresholds, 'observe', observe)
        model.loss(*multi_batch(num_sup=1, num_unsup=0))
        assert calls == [0] * expected_calls


def test_unknown_adaptive_threshold_key_is_an_error():
    with pytest.raises(ValueError, match=r"adaptive_thr: unknown key\(s\) \['queue_len'\]"):
        build_semi('SoftTeacher', adaptive_thr=dict(queue_len=100))
