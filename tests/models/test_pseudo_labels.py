"""Pseudo-label tensor helpers: thresholds, jitter statistics, uncertainty, view projection.

The projection round trip runs real mmdet transforms (Resize, RandomFlip, TranslateX) on a synthetic
image, so the homographies are composed exactly as mmdet records them, and the projected pseudo boxes
are compared with the boxes mmdet's transforms moved themselves.
"""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope

import ssod.models  # noqa: F401
from ssod.models.pseudo_labels import (box_uncertainty, jitter_boxes, project_boxes,
                                       score_and_size_keep_mask, size_keep_mask, stage_masks,
                                       view_to_view_matrix)


def test_score_and_size_filter_is_strict_on_score_and_inclusive_on_size():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0.5, 10], [0, 0, 10, 10.]])
    scores = torch.tensor([0.9, 0.5, 0.95, 0.51])
    keep = score_and_size_keep_mask(boxes, scores, 0.5, min_wh=(1.0, 10.0))
    assert keep.tolist() == [True, False, False, True]
    assert size_keep_mask(boxes, (10.0, 10.0)).tolist() == [True, True, False, True]


STAGE_CFG = ConfigDict(rpn_pseudo_thr=0.9, cls_pseudo_thr=0.7, reg_pseudo_thr=0.02)


def test_stage_masks_with_the_config_thresholds():
    scores = torch.tensor([0.95, 0.9, 0.8, 0.7, 0.6])
    masks = stage_masks(scores, STAGE_CFG, reg_uncertainty=torch.tensor([0.01, 0.0, 0.05, 0.0, 0.0]),
                        initial=torch.tensor([True, True, True, True, False]))
    assert masks['rpn'].tolist() == [True, False, False, False, False]  # strict: 0.9 is not > 0.9
    assert masks['cls'].tolist() == [True, True, True, False, False]
    assert masks['reg'].tolist() == [True, True, False, False, False]
    # the same numbers given as thresholds, or as per-class tensors of one value, change nothing
    labels = torch.tensor([0, 1, 2, 0, 1])
    for thresholds in (dict(rpn=0.9, cls=0.7), dict(rpn=torch.full((3,), 0.9), cls=torch.full((3,), 0.7))):
        again = stage_masks(scores, STAGE_CFG, torch.tensor([0.01, 0.0, 0.05, 0.0, 0.0]),
                            initial=masks['initial'], labels=labels, thresholds=thresholds)
        assert all(torch.equal(again[k], masks[k]) for k in masks)


def test_stage_masks_with_per_class_thresholds():
    scores = torch.tensor([0.95, 0.6, 0.6, 0.75, 0.5])
    labels = torch.tensor([0, 0, 1, 2, 2])
    masks = stage_masks(scores, STAGE_CFG, labels=labels, thresholds=dict(cls=torch.tensor([0.8, 0.5, 0.7])))
    assert masks['cls'].tolist() == [True, False, True, True, False]  # class 0 > 0.8, 1 > 0.5, 2 > 0.7
    assert masks['rpn'].tolist() == [True, False, False, False, False]  # rpn keeps the config's 0.9
    with pytest.raises(ValueError, match='labels'):
        stage_masks(scores, STAGE_CFG, thresholds=dict(cls=torch.tensor([0.8, 0.5, 0.7])))
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['reg'\]"):
        stage_masks(scores, STAGE_CFG, labels=labels, thresholds=dict(reg=0.5))


def test_jitter_std_is_scale_times_box_size_with_1px_floor():
    boxes = torch.tensor([[10., 20., 110., 70.], [5., 5., 5., 5.]])  # 100 x 50, and a 0 x 0 box
    jittered = jitter_boxes(boxes, times=20000, scale=0.06, generator=torch.Generator().manual_seed(0))
    assert jittered.shape == (20000, 2, 4)
    std = (jittered - boxes[None]).std(dim=0)
    torch.testing.assert_close(std[0], torch.tensor([6.0, 3.0, 6.0, 3.0]), rtol=0.03, atol=0)
    torch.testing.assert_close(std[1], torch.full((4,), 0.06), rtol=0.03, atol=0)  # w, h -> 1 px
    torch.testing.assert_close((jittered - boxes[None]).mean(dim=0), torch.zeros(2, 4), atol=0.1,
                               rtol=0)


def test_uncertainty_of_unrefined_jitter_is_the_jitter_scale():
    boxes = torch.tensor([[10., 20., 110., 70.], [0., 0., 40., 30.]])
    jittered = jitter_boxes(boxes, times=5000, scale=0.06, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(box_uncertainty(jittered, boxes), torch.full((2,), 0.06), rtol=0.03,
                               atol=0)
    # a head that maps every jittered copy to the same box is perfectly certain
    fixed = boxes[None].expand(10, -1, -1)
    assert box_uncertainty(fixed, boxes).tolist() == [0.0, 0.0]
    # x coordinates are divided by w, y by h: std (2, 0, 2, 0) on a 100 x 50 box -> (0.02+0.02)/4
    refined = boxes[:1][None].repeat(2, 1, 1)
    refined[0, 0, [0, 2]] += 2 ** 0.5
    refined[1, 0, [0, 2]] -= 2 ** 0.5
    torch.testing.assert_close(box_uncertainty(refined, boxes[:1]), torch.tensor([0.01]))
    assert box_uncertainty(torch.zeros(10, 0, 4), torch.zeros(0, 4)).shape == (0,)


def test_uncertainty_divides_by_the_mean_refined_box_or_the_candidate():
    """The reference divides the spread by the mean of the refined copies; 'candidate' by the box."""
    candidate = torch.tensor([[0., 0., 100., 50.]])
    refined = torch.tensor([[[0., 0., 200., 100.]], [[0., 0., 200., 100.]]])  # head doubles the box
    refined[0, 0, 2] += 4.0  # x2 spread: std of (204, 200) = 2 * 2 ** 0.5
    spread = 2 * 2 ** 0.5
    torch.testing.assert_close(box_uncertainty(refined, candidate),
                               torch.tensor([spread / 202 / 4]))  # mean refined width 202
    torch.testing.assert_close(box_uncertainty(refined, candidate, scale_by='candidate'),
                               torch.tensor([spread / 100 / 4]))
    with pytest.raises(ValueError, match='scale_by'):
        box_uncertainty(refined, candidate, scale_by='box')


def _run(pipeline, img, boxes):
    from mmdet.structures.bbox import HorizontalBoxes
    results = dict(img=img.copy(), img_shape=img.shape[:2], ori_shape=img.shape[:2],
                   gt_bboxes=HorizontalBoxes(torch.as_tensor(boxes, dtype=torch.float32)),
                   gt_bboxes_labels=np.zeros(len(boxes), dtype=np.int64),
                   gt_ignore_flags=np.zeros(len(boxes), dtype=bool))
    out = Compose(pipeline)(results)
    return out['gt_bboxes'].tensor, np.asarray(out['homography_matrix']), out['img_shape']


def test_projection_round_trip_through_mmdet_resize_flip_translate():
    init_default_scope('mmdet')
    img = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    boxes = [[10., 12., 30., 40.], [40., 5., 70., 25.]]
    weak = [dict(type='Resize', scale=(120, 90), keep_ratio=False)]
    strong = [dict(type='Resize', scale=(100, 75), keep_ratio=False),
              dict(type='RandomFlip', prob=1.0, direction='horizontal'),
              dict(type='TranslateX', prob=1.0, min_mag=0.05, max_mag=0.05, reversal_prob=0.0)]
    teacher_boxes, h_teacher, teacher_shape = _run(weak, img, boxes)
    student_boxes, h_student, student_shape = _run(strong, img, boxes)

    to_student = view_to_view_matrix(h_teacher, h_student)
    projected, keep = project_boxes(teacher_boxes, to_student, student_shape)
    assert keep.all()
    # the same boxes mmdet's own transforms produced in the student view (translation clips nothing)
    torch.testing.assert_close(projected, student_boxes, atol=1e-4, rtol=0)
    back, keep_back = project_boxes(projected, view_to_view_matrix(h_student, h_teacher), teacher_shape)
    assert keep_back.all()
    torch.testing.assert_close(back, teacher_boxes, atol=1e-4, rtol=0)


def test_boxes_leaving_the_view_are_clipped_or_dropped_never_degenerate():
    shift = torch.tensor([[1., 0., 30.], [0., 1., 0.], [0., 0., 1.]])  # 30 px to the right
    boxes = torch.tensor([[0., 0., 10., 10.],     # -> (30, 0, 40, 10), inside
                          [20., 5., 60., 15.],    # -> (50, 5, 90, 15), clipped at x = 64
                          [40., 0., 60., 10.],    # -> (70, 0, 90, 10), entirely outside
                          [33.995, 0., 34.0, 8.]])  # -> 0.005 px wide: degenerate
    projected, keep = project_boxes(boxes, shift, (32, 64), min_wh=(1e-2, 1e-2))
    assert keep.tolist() == [True, True, False, False]
    torch.testing.assert_close(projected[:2], torch.tensor([[30., 0., 40., 10.], [50., 5., 64., 15.]]))
    kept = projected[keep]
    assert (kept[:, 0] >= 0).all() and (kept[:, 2] <= 64).all() and (kept[:, 3] <= 32).all()
    assert ((kept[:, 2:] - kept[:, :2]) >= 1e-2).all()
    empty, empty_keep = project_boxes(torch.zeros(0, 4), shift, (32, 64))
    assert empty.shape == (0, 4) and empty_keep.shape == (0,)


def test_teacher_to_student_matrix_is_h_student_times_inverse_h_teacher():
    h_t = np.array([[2., 0., 0.], [0., 2., 0.], [0., 0., 1.]], dtype=np.float32)
    h_s = np.array([[-1., 0., 50.], [0., 1., 3.], [0., 0., 1.]], dtype=np.float32)
    expected = torch.as_tensor(h_s, dtype=torch.float64) @ torch.linalg.inv(
        torch.as_tensor(h_t, dtype=torch.float64))
    torch.testing.assert_close(view_to_view_matrix(h_t, h_s), expected)
    with pytest.raises(ValueError, match='3 x 3'):
        view_to_view_matrix(np.eye(2), h_s)
