"""Tests of ssod/analysis/transform_trace.py: the words for each kind of homography step, and the record
of an instrumented pipeline (per branch, packed into the metainfo, random draws unchanged)."""
import copy

import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

from ssod.analysis.transform_trace import APPLIED_TRANSFORMS, describe_step, leaf_transforms, trace_transforms


@pytest.mark.parametrize('matrix, words', [
    ([[1.25, 0, 0], [0, 1.25, 0], [0, 0, 1]], 'scale 1.25'),
    ([[0.75, 0, 0], [0, 0.8, 0], [0, 0, 1]], 'scale 0.75 x 0.8'),
    ([[-1, 0, 80], [0, 1, 0], [0, 0, 1]], 'flip horizontal'),
    ([[1, 0, 0], [0, -1, 64], [0, 0, 1]], 'flip vertical'),
    ([[-1, 0, 80], [0, -1, 64], [0, 0, 1]], 'flip diagonal'),
    # OpenCV's angle -30 (its positive angles turn counter-clockwise on screen): clockwise 30 degrees.
    (np.vstack([cv2.getRotationMatrix2D((32, 32), -30, 1.0), [0, 0, 1]]), 'rotate 30.0 deg'),
    ([[1, 0.21, 0], [0, 1, 0], [0, 0, 1]], 'shear x 0.21'),
    ([[1, 0, 0], [-0.3, 1, 0], [0, 0, 1]], 'shear y -0.3'),
    ([[1, 0, 4], [0, 1, -2.5], [0, 0, 1]], 'translate (+4.0, -2.5) px'),
    ([[1, 0.5, 0], [0.5, 1, 0], [0, 0, 1]], 'matrix [1 0.5 0; 0.5 1 0; 0 0 1]'),
])
def test_each_kind_of_step_is_named(matrix, words):
    assert describe_step(np.asarray(matrix, dtype=np.float32)) == words


def test_a_step_must_be_3_by_3():
    with pytest.raises(ValueError, match='3 x 3'):
        describe_step(np.eye(2))


def _pipeline():
    return Compose([
        dict(type='Resize', scale_factor=2.0, keep_ratio=True),
        dict(type='MultiBranch', branch_field=['first', 'second'],
             first=[dict(type='RandomFlip', prob=1.0, direction='vertical'),
                    dict(type='RandomFlip', prob=0.0, direction='horizontal'),  # never flips
                    dict(type='Rotate', prob=1.0, level=5, reversal_prob=0.0),  # 15 deg, anticlockwise
                    dict(type='PackDetInputs', meta_keys=('img_shape', 'homography_matrix'))],
             second=[dict(type='RandomOrder', transforms=[
                         dict(type='RandAugment', aug_space=[[dict(type='Brightness', level=8)]], aug_num=1),
                         dict(type='RandomErasing', n_patches=1, ratio=0.3)]),
                     dict(type='PackDetInputs', meta_keys=('img_shape', 'homography_matrix'))]),
    ])


def _results():
    image = (np.arange(20 * 30 * 3) % 251).astype(np.uint8).reshape(20, 30, 3)
    return dict(img=image, img_shape=(20, 30), ori_shape=(20, 30), gt_bboxes=np.zeros((0, 4), np.float32),
                gt_bboxes_labels=np.zeros((0,), np.int64), gt_ignore_flags=np.zeros((0,), bool))


def test_each_branch_records_what_changed_it_and_the_views_stay_the_same():
    init_default_scope('ssod')
    plain, traced = _pipeline(), _pipeline()
    assert trace_transforms(traced) == len(list(leaf_transforms(plain))) == 8
    np.random.seed(3)
    expected = plain(copy.deepcopy(_results()))
    np.random.seed(3)
    out = traced(copy.deepcopy(_results()))
    first, second = out['data_samples']['first'], out['data_samples']['second']
    assert first.metainfo[APPLIED_TRANSFORMS] == [
        'Resize (scale 2)', 'RandomFlip (flip vertical)', 'Rotate (rotate -15.0 deg)']
    applied = second.metainfo[APPLIED_TRANSFORMS]
    assert applied[0] == 'Resize (scale 2)'
    assert sorted(applied[1:]) == ['Brightness', 'RandomErasing']  # in the order RandomOrder drew
    for branch in ('first', 'second'):  # instrumenting drew no random number and changed nothing
        assert np.array_equal(out['inputs'][branch].numpy(), expected['inputs'][branch].numpy())
        assert np.allclose(out['data_samples'][branch].homography_matrix,
                           expected['data_samples'][branch].homography_matrix)
    with pytest.raises(ValueError, match='already traced'):
        trace_transforms(traced)
