"""ScoreWeightedRoIHead: with all scores 1 (or none) bit-identical to StandardRoIHead; with a score of 0.5
on one of two ground truths the classification loss equals the hand-weighted cross entropy, while the box
regression stays unweighted."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from ssod.registry import MODELS
from tests.models.detectors.semi_test_utils import NUM_CLASSES, SIZE, tiny_faster_rcnn

GT_BOXES = torch.tensor([[6., 8., 30., 34.], [34., 30., 60., 58.]])
GT_LABELS = torch.tensor([2, 0])
NUM_IMAGES = 2


def build_head(type_):
    init_default_scope('ssod')
    cfg = tiny_faster_rcnn()
    head_cfg = copy.deepcopy(cfg['roi_head'])
    head_cfg.update(type=type_, train_cfg=ConfigDict(cfg['train_cfg']['rcnn']),
                    test_cfg=ConfigDict(cfg['test_cfg']['rcnn']))
    return MODELS.build(head_cfg)


@pytest.fixture
def heads():
    """A ScoreWeightedRoIHead and a StandardRoIHead with the same weights."""
    torch.manual_seed(0)
    weighted = build_head('ScoreWeightedRoIHead')
    standard = build_head('StandardRoIHead')
    standard.load_state_dict(weighted.state_dict())
    assert type(weighted).__name__ == 'ScoreWeightedRoIHead' and type(standard).__name__ == 'StandardRoIHead'
    return weighted.train(), standard.train()


def features():
    g = torch.Generator().manual_seed(1)
    return tuple(torch.randn(NUM_IMAGES, 16, SIZE // s, SIZE // s, generator=g) for s in (4, 8, 16, 32, 64))


def proposals():
    g = torch.Generator().manual_seed(2)
    out = []
    for _ in range(NUM_IMAGES):
        xy = torch.rand(60, 2, generator=g) * 44
        wh = 8 + torch.rand(60, 2, generator=g) * 20
        boxes = torch.cat([xy, (xy + wh).clamp(max=SIZE)], 1)
        out.append(InstanceData(bboxes=boxes, scores=torch.rand(60, generator=g)))
    return out


def samples(scores):
    out = []
    for _ in range(NUM_IMAGES):
        s = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE),
                                        batch_input_shape=(SIZE, SIZE), scale_factor=(1., 1.)))
        gt = InstanceData(bboxes=GT_BOXES.clone(), labels=GT_LABELS.clone())
        if scores is not None:
            gt.scores = torch.tensor(scores, dtype=torch.float32)
        s.gt_instances = gt
        out.append(s)
    return out


def losses(head, scores, seed=3):
    torch.manual_seed(seed)  # the RoI sampler draws with torch
    return head.loss(features(), proposals(), samples(scores))


@pytest.mark.parametrize('scores', [[1.0, 1.0], None])
def test_scores_of_one_or_none_are_bit_identical_to_standard_roi_head(heads, scores):
    weighted, standard = heads
    ours, theirs = losses(weighted, scores), losses(standard, [1.0, 1.0])
    assert set(ours) == set(theirs) == {'loss_cls', 'loss_bbox', 'acc'}
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
    ours['loss_cls'].backward()  # the weighted loss keeps its graph


def test_half_score_weights_the_classification_of_its_positives(heads):
    weighted, standard = heads
    recorded = {}
    sample = weighted.bbox_sampler.sample
    forward = weighted._bbox_forward

    def record_sample(*args, **kwargs):
        result = sample(*args, **kwargs)
        recorded.setdefault('sampling', []).append(result)
        return result

    def record_forward(*args, **kwargs):
        out = forward(*args, **kwargs)
        recorded['cls_score'] = out['cls_score'].detach()
        return out

    weighted.bbox_sampler.sample = record_sample
    weighted._bbox_forward = record_forward
    ours = losses(weighted, [1.0, 0.5])
    theirs = losses(standard, [1.0, 0.5])

    labels, weights = [], []
    for result in recorded['sampling']:
        num_neg = len(result.neg_inds)
        labels += [GT_LABELS[result.pos_assigned_gt_inds], torch.full((num_neg,), NUM_CLASSES)]
        weights += [torch.where(result.pos_assigned_gt_inds == 1, 0.5, 1.0), torch.ones(num_neg)]
    labels, weights = torch.cat(labels), torch.cat(weights)
    assert (weights == 0.5).sum() >= NUM_IMAGES  # each image's second gt is a positive of itself at least
    cross_entropy = F.cross_entropy(recorded['cls_score'], labels, reduction='none')
    expected = (cross_entropy * weights).sum() / (weights > 0).sum()
    unweighted = cross_entropy.mean()

    assert ours['loss_cls'].item() == pytest.approx(float(expected), rel=1e-5)
    assert theirs['loss_cls'].item() == pytest.approx(float(unweighted), rel=1e-5)
    assert abs(float(expected) - float(unweighted)) > 1e-3
    # regression and accuracy are not weighted
    assert torch.equal(ours['loss_bbox'], theirs['loss_bbox'])
    assert torch.equal(ours['acc'], theirs['acc'])
    assert weighted._batch_gt_scores is None  # nothing of the batch stays on the head


def test_in_a_faster_rcnn_with_box_head_dropout_only_the_classification_follows_the_scores():
    """The student model of docs/noisy_student_data.md: scores reach the RoI head through the detector."""
    init_default_scope('ssod')
    cfg = tiny_faster_rcnn()
    cfg['roi_head']['type'] = 'ScoreWeightedRoIHead'
    cfg['roi_head']['bbox_head'].update(type='DropoutShared2FCBBoxHead', dropout=0.5)
    torch.manual_seed(0)
    detector = MODELS.build(ConfigDict(cfg)).train()
    inputs = torch.randn(NUM_IMAGES, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))

    def run(scores):
        torch.manual_seed(5)  # the same proposals' sampling and dropout masks
        return detector.loss(inputs, samples(scores))

    ones, halves = run([1.0, 1.0]), run([0.5, 0.5])
    assert torch.equal(ones['loss_bbox'], halves['loss_bbox'])
    assert torch.equal(ones['loss_rpn_cls'][0], halves['loss_rpn_cls'][0])
    assert halves['loss_cls'].item() < ones['loss_cls'].item()
    halves['loss_cls'].backward()
    assert detector.roi_head.bbox_head.shared_fcs[0].weight.grad.abs().sum() > 0
