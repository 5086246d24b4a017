"""Online pseudo-label quality: hidden GT projected into the teacher view, per-stage precision/recall and
per-class counts in the message hub, on hand-made candidates with known answers."""
import uuid

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from ssod.evaluation import online_pseudo_quality
from ssod.evaluation.online_pseudo_quality import PseudoLabelQualityLogger, hidden_gt_in_view

CFG = ConfigDict(rpn_pseudo_thr=0.9, cls_pseudo_thr=0.9, reg_pseudo_thr=0.02)
# Original frame 64 x 64 -> teacher view: scale by 2, then horizontal flip of the 128 px wide view.
SCALE_THEN_FLIP = np.array([[-1, 0, 128], [0, 1, 0], [0, 0, 1]], dtype=np.float32) @ np.diag(
    [2.0, 2.0, 1.0]).astype(np.float32)


@pytest.fixture
def hub():
    """A fresh current message hub (get_instance makes the newest instance the current one)."""
    return MessageHub.get_instance(f'test_online_pseudo_quality_{uuid.uuid4().hex}')


def scalars(hub):
    return {k: v.current() for k, v in hub.log_scalars.items() if k.startswith('train/pseudo/')}


def teacher_sample(homography, img_shape, gt_boxes=None, gt_labels=None):
    meta = dict(img_shape=img_shape, ori_shape=(64, 64), homography_matrix=homography)
    if gt_boxes is not None:
        meta.update(hidden_gt_bboxes=np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4),
                    hidden_gt_labels=np.asarray(gt_labels, dtype=np.int64))
    return DetDataSample(metainfo=meta)


def candidates(boxes, scores, labels, uncertainty=None):
    c = InstanceData(bboxes=torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                     scores=torch.as_tensor(scores, dtype=torch.float32),
                     labels=torch.as_tensor(labels, dtype=torch.long))
    if uncertainty is not None:
        c.reg_uncertainty = torch.tensor(uncertainty, dtype=torch.float32)
    return c


def two_images(with_gt=True):
    """Image 1 (scaled x2 and flipped): 2 GT boxes, 4 candidates; image 2 (identity): 1 GT, none."""
    samples = [
        teacher_sample(SCALE_THEN_FLIP, (128, 128),
                       *(([[0, 0, 10, 10], [30, 30, 50, 50]], [0, 1]) if with_gt else (None, None))),
        teacher_sample(np.eye(3, dtype=np.float32), (64, 64),
                       *(([[0, 0, 20, 20]], [2]) if with_gt else (None, None))),
    ]
    # In the view, GT A (label 0) is at [108, 0, 128, 20] and GT B (label 1) at [28, 60, 68, 100].
    cands = [
        candidates([[108, 0, 128, 20],   # right place, right class, certain         -> TP
                    [28, 60, 68, 100],   # right place, wrong class (0 instead of 1) -> FP
                    [28, 60, 68, 100],   # right place and class, but score 0.6      -> TP initially
                    [0, 0, 10, 10]],     # nothing there                             -> FP
                   scores=[0.95, 0.92, 0.6, 0.97], labels=[0, 0, 1, 1],
                   uncertainty=[0.01, 0.05, float('inf'), 0.001]),
        candidates(np.zeros((0, 4)), [], [], uncertainty=[]),
    ]
    return cands, samples


def test_hidden_gt_is_projected_with_the_view_homography():
    sample = teacher_sample(SCALE_THEN_FLIP, (128, 128), [[0, 0, 10, 10], [30, 30, 50, 50]], [0, 1])
    gt = hidden_gt_in_view(sample)
    torch.testing.assert_close(gt.bboxes, torch.tensor([[108., 0., 128., 20.], [28., 60., 68., 100.]]))
    assert gt.labels.tolist() == [0, 1]
    assert hidden_gt_in_view(teacher_sample(np.eye(3), (64, 64))) is None


def test_boxes_outside_the_view_are_dropped():
    # The view is the left half (img_shape 64 x 32): the box at x 40..60 is no longer visible.
    sample = teacher_sample(np.eye(3, dtype=np.float32), (64, 32), [[0, 0, 10, 10], [40, 0, 60, 10]],
                            [0, 2])
    gt = hidden_gt_in_view(sample)
    assert gt.bboxes.tolist() == [[0., 0., 10., 10.]] and gt.labels.tolist() == [0]


def test_precision_and_recall_after_each_filter_stage(hub):
    cands, samples = two_images()
    PseudoLabelQualityLogger(num_classes=3).log(cands, samples, CFG)
    got = scalars(hub)
    # initial: 4 predictions, TP = first and third, 3 GT over the two images
    assert got['train/pseudo/precision_initial'] == pytest.approx(2 / 4)
    assert got['train/pseudo/recall_initial'] == pytest.approx(2 / 3)
    # cls (score > 0.9): first, second, fourth -> 1 TP of 3
    assert got['train/pseudo/precision_cls'] == pytest.approx(1 / 3)
    assert got['train/pseudo/recall_cls'] == pytest.approx(1 / 3)
    # reg (also uncertainty < 0.02): first and fourth -> 1 TP of 2
    assert got['train/pseudo/precision_reg'] == pytest.approx(1 / 2)
    assert got['train/pseudo/recall_reg'] == pytest.approx(1 / 3)
    assert got['train/pseudo/gt_per_img'] == pytest.approx(1.5)
    # per-class counts per image after the cls filter: labels 0, 0, 1 over 2 images; class 2 none
    assert got['train/pseudo/cls_per_img/0'] == pytest.approx(1.0)
    assert got['train/pseudo/cls_per_img/1'] == pytest.approx(0.5)
    assert got['train/pseudo/cls_per_img/2'] == 0.0


def test_per_class_thresholds_decide_the_cls_stage(hub):
    """A detector with adaptive thresholds passes them per class: class 0 needs > 0.93, class 1 > 0.5."""
    cands, samples = two_images()
    PseudoLabelQualityLogger(num_classes=3).log(cands, samples, CFG,
                                                thresholds=dict(cls=torch.tensor([0.93, 0.5, 0.9])))
    got = scalars(hub)
    # cls: first (0.95, class 0: TP), third (0.6, class 1: TP), fourth (0.97, class 1: FP)
    assert got['train/pseudo/precision_cls'] == pytest.approx(2 / 3)
    assert got['train/pseudo/recall_cls'] == pytest.approx(2 / 3)
    # reg: of those, uncertainty < 0.02: first and fourth
    assert got['train/pseudo/precision_reg'] == pytest.approx(1 / 2)
    assert got['train/pseudo/cls_per_img/0'] == pytest.approx(0.5)
    assert got['train/pseudo/cls_per_img/1'] == pytest.approx(1.0)


def test_without_uncertainty_there_is_no_reg_stage(hub):
    cands, samples = two_images()
    for c in cands:
        del c.reg_uncertainty
    PseudoLabelQualityLogger(num_classes=3).log(cands, samples, CFG)
    got = scalars(hub)
    assert 'train/pseudo/precision_reg' not in got and 'train/pseudo/recall_reg' not in got
    assert got['train/pseudo/precision_cls'] == pytest.approx(1 / 3)


def test_undefined_precision_is_not_logged(hub):
    cands, samples = two_images()
    low = [candidates(c.bboxes, torch.full_like(c.scores, 0.5), c.labels) for c in cands]
    PseudoLabelQualityLogger(num_classes=3).log(low, samples, CFG)
    got = scalars(hub)
    assert 'train/pseudo/precision_cls' not in got  # no box above 0.9: precision undefined
    assert got['train/pseudo/recall_cls'] == 0.0
    assert got['train/pseudo/precision_initial'] == pytest.approx(2 / 4)


def test_absent_hidden_gt_logs_no_quality_and_says_so_once(hub, monkeypatch):
    said = []
    monkeypatch.setattr(online_pseudo_quality, 'print_log', lambda msg, **kw: said.append(msg))
    quality = PseudoLabelQualityLogger(num_classes=3)
    for _ in range(3):
        quality.log(*two_images(with_gt=False), CFG)
    got = scalars(hub)
    assert not [k for k in got if 'precision' in k or 'recall' in k or 'gt_per_img' in k]
    assert len(said) == 1 and 'hidden_gt_file' in said[0]
    # the per-class counts need no ground truth and are still there
    assert got['train/pseudo/cls_per_img/0'] == pytest.approx(1.0)
