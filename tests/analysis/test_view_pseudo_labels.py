"""Tests of ssod/analysis/view_pseudo_labels.py on the synthetic set: the data path the view pictures rely
on (hidden ground truth projected into the views = the same boxes carried through the pipeline as
annotations), the projection of the teacher's boxes, per-image seeds."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.registry import init_default_scope

from ssod.analysis.pseudo_label_inputs import (PseudoLabelInputError, build_unlabeled_dataset, load_config,
                                               unlabeled_dataset_cfg)
from ssod.analysis.transform_trace import trace_transforms
from ssod.analysis.view_pseudo_labels import (image_seed, prepare_views, project_hidden_gt, training_views,
                                              view_homography, view_pseudo_labels)
from ssod.datasets.hidden_gt import HIDDEN_GT_BBOXES, HIDDEN_GT_LABELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
VIEWS = ('unsup_teacher', 'unsup_student')
MIN_WH = (1e-2, 1e-2)

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def _options(root):
    return {'train_dataloader.dataset.datasets.1.data_root': root + '/'}


def _with_annotations(pipeline):
    """The unlabeled pipeline reading boxes (LoadAnnotations instead of LoadEmptyAnnotations); random
    erasing keeps every box (only coordinates are compared). Neither change draws a random number."""
    pipeline = copy.deepcopy(pipeline)
    for i, step in enumerate(pipeline):
        if step['type'] == 'LoadEmptyAnnotations':
            pipeline[i] = dict(type='LoadAnnotations', with_bbox=True)
        if step['type'] == 'MultiBranch':
            for branch in VIEWS:
                for inner in step[branch]:
                    if inner['type'] == 'RandomErasing':
                        inner['bbox_erased_thr'] = 1.01
    return pipeline


def _inside(boxes, shape, margin=1.0):
    """Boxes that projection did not clip: at least ``margin`` pixels from every border."""
    height, width = shape[:2]
    return ((boxes[:, 0] >= margin) & (boxes[:, 1] >= margin) & (boxes[:, 2] <= width - margin)
            & (boxes[:, 3] <= height - margin))


def _best_iou(boxes, labels, others, other_labels):
    """For each box, the highest IoU with a box of ``others`` of the same label (0 if none)."""
    if len(boxes) == 0:
        return np.zeros((0,))
    if len(others) == 0:
        return np.zeros((len(boxes),))
    iou = bbox_overlaps(torch.as_tensor(boxes, dtype=torch.float32),
                        torch.as_tensor(others, dtype=torch.float32)).numpy()
    iou[np.asarray(labels)[:, None] != np.asarray(other_labels)[None, :]] = 0.0
    return iou.max(axis=1)


def test_hidden_gt_in_the_views_is_where_the_pipeline_moves_annotations(synthetic_data):
    init_default_scope('ssod')
    cfg = load_config(SYNTHETIC_CONFIG, _options(synthetic_data))
    views_cfg = unlabeled_dataset_cfg(cfg, pipeline='train')
    views = build_unlabeled_dataset(views_cfg)
    trace_transforms(views.pipeline)
    # The same images read from the hidden-GT file, their boxes carried through the pipeline as annotations.
    annotated_cfg = copy.deepcopy(views_cfg)
    annotated_cfg['ann_file'] = annotated_cfg['hidden_gt_file']
    annotated_cfg['pipeline'] = _with_annotations(views_cfg['pipeline'])
    annotated = build_unlabeled_dataset(annotated_cfg)
    index_of = {annotated.get_data_info(j)['img_id']: j for j in range(len(annotated))}

    compared = moved_by_rotation_or_shear = 0
    for seed in (0, 1):
        for index in range(len(views)):
            info = views.get_data_info(index)
            data = training_views(views, index, seed)
            reference = training_views(annotated, index_of[info['img_id']], seed)
            for view in VIEWS:
                sample, ref = data['data_samples'][view], reference['data_samples'][view]
                # Same seed, same random draws: the same view.
                assert sample.img_shape == ref.img_shape
                np.testing.assert_allclose(view_homography(sample), view_homography(ref), atol=1e-5)
                boxes, labels = project_hidden_gt(info[HIDDEN_GT_BBOXES], info[HIDDEN_GT_LABELS],
                                                  view_homography(sample), sample.img_shape, MIN_WH)
                ref_boxes = ref.gt_instances.bboxes
                ref_boxes = getattr(ref_boxes, 'tensor', ref_boxes).numpy()
                ref_labels = ref.gt_instances.labels.numpy()
                inside, ref_inside = _inside(boxes, sample.img_shape), _inside(ref_boxes, ref.img_shape)
                assert np.all(_best_iou(boxes[inside], labels[inside], ref_boxes, ref_labels) > 0.99)
                assert np.all(_best_iou(ref_boxes[ref_inside], ref_labels[ref_inside], boxes, labels) > 0.99)
                assert inside.sum() == ref_inside.sum()
                compared += int(inside.sum())
            applied = ' '.join(data['data_samples']['unsup_student'].applied_transforms)
            moved_by_rotation_or_shear += ('Rotate' in applied) or ('Shear' in applied)
    # The check covered many boxes and the non-axis-aligned geometric ops, not only flips and rescales.
    assert compared >= 100
    assert moved_by_rotation_or_shear >= 4


def test_image_seeds_differ_per_image_and_seed():
    seeds = {image_seed(s, i) for s in range(3) for i in range(50)}
    assert len(seeds) == 150 and image_seed(0, 7) == image_seed(0, 7)


def _corner_hull(boxes, matrix, shape):
    """Reference projection in numpy: the 4 corners through ``matrix``, their hull, clipped."""
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x, y, np.ones_like(x)]) for x, y in
                        ((x1, y1), (x2, y1), (x1, y2), (x2, y2))])  # (4, 3, n)
    mapped = np.einsum('ij,kjn->kin', matrix, corners)
    xs, ys = mapped[:, 0] / mapped[:, 2], mapped[:, 1] / mapped[:, 2]
    hull = np.stack([xs.min(0), ys.min(0), xs.max(0), ys.max(0)], axis=1)
    hull[:, 0::2] = hull[:, 0::2].clip(0, shape[1])
    hull[:, 1::2] = hull[:, 1::2].clip(0, shape[0])
    return hull


def test_teacher_boxes_are_projected_into_the_strong_view(synthetic_data, init_checkpoint):
    setup = prepare_views(SYNTHETIC_CONFIG, init_checkpoint, cfg_options=_options(synthetic_data))
    for index in range(2):
        image = view_pseudo_labels(setup.model, setup.dataset, index, seed=5)
        teacher, student = image.teacher, image.student
        assert len(teacher.bboxes) > 0 and image.seed == image_seed(5, image.img_id)
        matrix = student.homography @ np.linalg.inv(teacher.homography)
        hull = _corner_hull(teacher.bboxes.astype(np.float64), matrix, student.shape)
        keep = (hull[:, 2] - hull[:, 0] >= MIN_WH[0]) & (hull[:, 3] - hull[:, 1] >= MIN_WH[1])
        np.testing.assert_allclose(student.bboxes, hull[keep], atol=1e-3)
        for field in ('scores', 'labels', 'stages'):
            np.testing.assert_array_equal(getattr(student, field), getattr(teacher, field)[keep])
        assert image.num_left_view == int((~keep).sum())
        # Pixels are the packed views; the teacher view's hidden GT is the original boxes moved by H.
        assert teacher.pixels.dtype == np.uint8 and teacher.pixels.shape[2] == 3
        info = setup.dataset.get_data_info(index)
        np.testing.assert_allclose(teacher.gt_bboxes, _corner_hull(info[HIDDEN_GT_BBOXES].astype(np.float64),
                                                                   teacher.homography, teacher.shape),
                                   atol=1e-3)
    again = view_pseudo_labels(setup.model, setup.dataset, 1, seed=5)
    assert np.array_equal(again.student.pixels, image.student.pixels)
    np.testing.assert_array_equal(again.student.bboxes, image.student.bboxes)


def test_a_plain_detector_config_has_no_views(synthetic_data, init_checkpoint):
    cfg = load_config(SYNTHETIC_CONFIG, _options(synthetic_data))
    cfg.train_dataloader.dataset.datasets = cfg.train_dataloader.dataset.datasets[:1]  # labeled only
    with pytest.raises(PseudoLabelInputError, match='no unlabeled training dataset with a pipeline'):
        unlabeled_dataset_cfg(cfg, pipeline='train')
