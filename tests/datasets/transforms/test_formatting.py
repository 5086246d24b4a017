"""PackScoredDetInputs: PackDetInputs plus gt_scores -> gt_instances.scores, split by the ignore flags;
ones without gt_scores; a length mismatch is refused."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.registry import TRANSFORMS


@pytest.fixture(autouse=True)
def ssod_scope():
    init_default_scope('ssod')


def results(scores=None):
    out = dict(img=np.zeros((16, 16, 3), np.uint8), img_shape=(16, 16), img_id=3,
               gt_bboxes=HorizontalBoxes(torch.tensor([[0., 0., 4., 4.], [1., 1., 5., 5.], [2., 2., 9., 9.]])),
               gt_bboxes_labels=np.array([2, 0, 1], np.int64),
               gt_ignore_flags=np.array([False, True, False]))
    if scores is not None:
        out['gt_scores'] = np.asarray(scores, np.float32)
    return out


def test_scores_are_split_like_the_boxes():
    packed = TRANSFORMS.build(dict(type='PackScoredDetInputs'))(results([0.9, 0.6, 0.7]))['data_samples']
    plain = TRANSFORMS.build(dict(type='PackDetInputs'))(results([0.9, 0.6, 0.7]))['data_samples']
    assert packed.gt_instances.scores.tolist() == pytest.approx([0.9, 0.7])
    assert packed.ignored_instances.scores.tolist() == pytest.approx([0.6])
    assert packed.gt_instances.labels.tolist() == plain.gt_instances.labels.tolist() == [2, 1]
    assert torch.equal(packed.gt_instances.bboxes.tensor, plain.gt_instances.bboxes.tensor)
    assert 'scores' not in plain.gt_instances
    assert packed.metainfo['img_id'] == 3


def test_missing_scores_are_ones():
    packed = TRANSFORMS.build(dict(type='PackScoredDetInputs'))(results())['data_samples']
    assert packed.gt_instances.scores.dtype == torch.float32
    assert packed.gt_instances.scores.tolist() == [1.0, 1.0]
    assert packed.ignored_instances.scores.tolist() == [1.0]


def test_scores_out_of_step_with_the_boxes_are_refused():
    with pytest.raises(ValueError, match='2 gt_scores for 3 gt_bboxes.*move it inside the wrapper'):
        TRANSFORMS.build(dict(type='PackScoredDetInputs'))(results([0.9, 0.6]))
