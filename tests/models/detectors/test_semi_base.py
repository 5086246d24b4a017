"""SemiBaseDetector: teacher frozen/eval, branch routing, empty branches, projection, predict_on,
plain-checkpoint loading, one-stage (RetinaNet) support, MultiBranchDataPreprocessor path."""
import copy

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from ssod.models.detectors.semi_base import detector_num_classes
from ssod.registry import MODELS
from tests.models.detectors.semi_test_utils import (ADAPTIVE_THR, SIZE, as_float, assert_finite, build_semi,
                                                    fake_detections, images, multi_batch,
                                                    prefill_score_queues, sample, tiny_faster_rcnn,
                                                    tiny_retinanet, total)

KEYS = {f'{p}_{k}' for p in ('sup', 'unsup')
        for k in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc', 'loss_bbox')}


def _values(v):
    return v if isinstance(v, (list, tuple)) else [v]


def _patch_teacher_predictions(model, detections):
    """Make teacher.predict return the given per-image InstanceData (teacher-view pixels)."""
    def predict(inputs, samples, rescale=True):
        out = []
        for s, det in zip(samples, detections):
            s = s.clone()
            s.pred_instances = det
            out.append(s)
        return out
    model.teacher.predict = predict


def test_teacher_frozen_eval_and_unchanged_by_a_training_step():
    model = build_semi('SemiBaseDetector', cls_pseudo_thr=0.0)
    model.train()
    assert model.student.training and not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    assert not any(p.requires_grad for p in model.teacher.parameters())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    student_before = copy.deepcopy(model.student.state_dict())
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    total(model.loss(*multi_batch())).backward()
    optim.step()
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key  # BN statistics included
    assert any(not torch.equal(v, student_before[k]) for k, v in model.student.state_dict().items())
    assert model.sup_weight == 1.0 and model.unsup_weight == 4.0


def test_losses_are_weighted_and_prefixed_and_unsup_weight_is_an_attribute():
    model = build_semi('SemiBaseDetector', cls_pseudo_thr=0.0)
    torch.manual_seed(3)
    base = model.loss(*multi_batch())
    assert set(base) == KEYS
    model.sup_weight, model.unsup_weight = 0.5, 2.0  # what the Weighter hook does
    torch.manual_seed(3)
    scaled = model.loss(*multi_batch())
    torch.testing.assert_close(scaled['sup_loss_cls'], base['sup_loss_cls'] * 0.5)
    torch.testing.assert_close(scaled['unsup_loss_cls'], base['unsup_loss_cls'] / 2.0)
    torch.testing.assert_close(scaled['unsup_acc'], base['unsup_acc'])  # not a loss: unscaled


@pytest.mark.parametrize('num_sup,num_unsup', [(0, 2), (1, 0), (0, 0)])
def test_empty_branches_give_the_same_keys_with_zero_graph_connected_losses(num_sup, num_unsup):
    model = build_semi('SemiBaseDetector', cls_pseudo_thr=0.0)
    losses = model.loss(*multi_batch(num_sup=num_sup, num_unsup=num_unsup))
    assert set(losses) == KEYS
    assert_finite(losses)
    for prefix, present in (('sup_', num_sup), ('unsup_', num_unsup)):
        zeros = [v for k, vs in losses.items() if k.startswith(prefix) for v in _values(vs)]
        if present:
            assert as_float(total({k: v for k, v in losses.items() if k.startswith(prefix)})) > 0
        else:
            assert all(as_float(v) == 0.0 for v in zeros)
    total(losses).backward()
    # every trainable student parameter is in the graph (DDP would otherwise see unused parameters)
    assert all(p.grad is not None for p in model.student.parameters() if p.requires_grad)
    # list-valued terms (RPN per FPN level) keep their length
    assert len(losses['sup_loss_rpn_cls']) == len(losses['unsup_loss_rpn_cls']) == 5


def test_no_pseudo_box_survives_gives_finite_background_only_losses():
    model = build_semi('SemiBaseDetector', cls_pseudo_thr=1.0)  # nothing scores above 1
    losses = model.loss(*multi_batch(num_sup=0))
    assert set(losses) == KEYS
    assert_finite(losses)
    assert as_float(losses['unsup_loss_cls']) > 0  # the student still learns background
    assert as_float(losses['unsup_loss_bbox']) == 0.0
    assert as_float(sum(losses['unsup_loss_rpn_bbox'])) == 0.0


def test_pseudo_labels_are_thresholded_and_projected_into_the_student_view():
    model = build_semi('SemiBaseDetector')
    dets = [fake_detections([[4, 8, 20, 30], [30, 30, 40, 40]], [0.95, 0.5], [2, 1]),
            fake_detections([[0, 0, 10, 10]], [0.91], [0])]
    _patch_teacher_predictions(model, dets)
    seen = {}

    def student_loss(inputs, samples):
        seen['samples'] = samples
        return {'loss_x': inputs.sum() * 0}
    model.student.loss = student_loss
    model.loss(*multi_batch(num_sup=0))  # student view = horizontal flip of the teacher view
    got = seen['samples']
    torch.testing.assert_close(got[0].gt_instances.bboxes, torch.tensor([[SIZE - 20., 8, SIZE - 4, 30]]))
    assert got[0].gt_instances.labels.tolist() == [2]
    torch.testing.assert_close(got[1].gt_instances.bboxes, torch.tensor([[SIZE - 10., 0, SIZE, 10]]))
    assert all('hidden_gt_instances' not in s for s in got)  # never reaches the loss
    assert set(got[0].gt_instances.keys()) == {'bboxes', 'labels'}


def test_hard_pseudo_labels_follow_the_adaptive_per_class_thresholds():
    """adaptive_thr: the teacher's scores update the queues first, then each detection is kept when its
    score exceeds its class's threshold (class 0 about 0.59, class 2 about 0.73, class 1 without a fit
    -> cls_pseudo_thr 0.9)."""
    model = build_semi('SemiBaseDetector', adaptive_thr=ADAPTIVE_THR)
    prefill_score_queues(model)
    dets = fake_detections([[0, 0, 8, 8], [10, 0, 18, 8], [20, 0, 28, 8], [30, 0, 38, 8], [40, 0, 48, 8],
                            [50, 0, 58, 8]], [0.55, 0.7, 0.8, 0.95, 0.65, 0.85], [0, 0, 1, 1, 2, 2])
    _patch_teacher_predictions(model, [dets, dets])
    seen = {}

    def student_loss(inputs, samples):
        seen['samples'] = samples
        return {'loss_x': inputs.sum() * 0}
    model.student.loss = student_loss
    model.loss(*multi_batch(num_sup=0, student_flip=False))
    cls = model.pseudo_thresholds()['cls']
    assert 0.56 < cls[0].item() < 0.62 and 0.7 < cls[2].item() < 0.76 and cls[1].item() == pytest.approx(0.9)
    for got in seen['samples']:
        assert got.gt_instances.bboxes[:, 0].tolist() == [10, 30, 50]
        assert got.gt_instances.labels.tolist() == [0, 1, 2]
    assert model.adaptive_thresholds.queue.count(1) == 4  # this batch's scores were queued


def test_predict_on_selects_the_model_and_rejects_invalid_values():
    model = build_semi('SemiBaseDetector')
    with torch.no_grad():
        for p in model.student.roi_head.bbox_head.parameters():
            p.add_(torch.randn_like(p))
    model.eval()
    inputs = images(1)
    teacher_out = model.teacher.predict(inputs, [sample()])[0].pred_instances
    student_out = model.student.predict(inputs, [sample()])[0].pred_instances
    assert not torch.equal(teacher_out.scores, student_out.scores)
    got = model.predict(inputs, [sample()])[0].pred_instances
    torch.testing.assert_close(got.scores, teacher_out.scores)
    model.semi_test_cfg['predict_on'] = 'student'
    got = model(inputs, [sample()], mode='predict')[0].pred_instances
    torch.testing.assert_close(got.scores, student_out.scores)
    assert model.extract_feat(inputs)[0].shape[1] == 16
    model.semi_test_cfg['predict_on'] = 'ema'
    with pytest.raises(ValueError, match='predict_on'):
        model.predict(inputs, [sample()])
    init_default_scope('ssod')
    with pytest.raises(ValueError, match='predict_on'):
        MODELS.build(dict(type='SemiBaseDetector', detector=tiny_faster_rcnn(),
                          semi_test_cfg=dict(predict_on='teacher_or_student')))
    with pytest.raises(ValueError, match='unknown key'):
        MODELS.build(dict(type='SemiBaseDetector', detector=tiny_faster_rcnn(),
                          semi_train_cfg=dict(unsup_wieght=2.0)))


def test_plain_detector_state_dict_is_loaded_into_teacher_and_student():
    from mmengine.config import ConfigDict
    model = build_semi('SemiBaseDetector')
    init_default_scope('ssod')
    torch.manual_seed(7)
    plain_state = MODELS.build(ConfigDict(tiny_faster_rcnn())).state_dict()  # a supervised checkpoint
    assert not torch.equal(plain_state['roi_head.bbox_head.fc_cls.weight'],
                           model.student.roi_head.bbox_head.fc_cls.weight)
    model.load_state_dict(dict(plain_state), strict=True)
    for key, value in plain_state.items():
        assert torch.equal(model.teacher.state_dict()[key], value)
        assert torch.equal(model.student.state_dict()[key], value)
    # a semi checkpoint loads unchanged (no duplication)
    semi_state = model.state_dict()
    semi_state['student.roi_head.bbox_head.fc_cls.bias'] = torch.ones(4)
    model.load_state_dict(semi_state, strict=True)
    assert torch.equal(model.student.roi_head.bbox_head.fc_cls.bias, torch.ones(4))
    assert not torch.equal(model.teacher.roi_head.bbox_head.fc_cls.bias, torch.ones(4))


def test_one_stage_retinanet_with_hard_pseudo_labels():
    model = build_semi('SemiBaseDetector', detector=tiny_retinanet(), cls_pseudo_thr=0.0)
    model.train()
    losses = model.loss(*multi_batch())
    assert set(losses) == {'sup_loss_cls', 'sup_loss_bbox', 'unsup_loss_cls', 'unsup_loss_bbox'}
    assert_finite(losses)
    assert as_float(sum(losses['unsup_loss_cls'])) > 0
    total(losses).backward()
    empty = model.loss(*multi_batch(num_sup=0))
    assert set(empty) == set(losses) and all(as_float(v) == 0 for v in empty['sup_loss_cls'])


def _synthetic_results(labeled):
    from mmdet.structures.bbox import HorizontalBoxes
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    boxes = [[8., 8., 30., 40.]] if labeled else np.zeros((0, 4))
    return dict(img=img, img_shape=(48, 64), ori_shape=(48, 64), img_path=f'{labeled}.jpg',
                img_id=int(labeled),
                gt_bboxes=HorizontalBoxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
                gt_bboxes_labels=np.zeros(len(boxes), dtype=np.int64),
                gt_ignore_flags=np.zeros(len(boxes), dtype=bool))


def test_multibranch_pipeline_and_preprocessor_feed_the_detector():
    """mmdet MultiBranch transform -> pseudo_collate -> ssod MultiBranchDataPreprocessor -> loss."""
    init_default_scope('ssod')
    from mmcv.transforms import Compose
    meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'homography_matrix')
    branch_field = ['sup', 'unsup_teacher', 'unsup_student']
    sup = Compose([dict(type='MultiBranch', branch_field=branch_field,
                        sup=[dict(type='PackDetInputs')])])
    unsup = Compose([dict(type='MultiBranch', branch_field=branch_field,
                          unsup_teacher=[dict(type='Resize', scale=(64, 48), keep_ratio=True),
                                         dict(type='PackDetInputs', meta_keys=meta_keys)],
                          unsup_student=[dict(type='Resize', scale=(64, 48), keep_ratio=True),
                                         dict(type='RandomFlip', prob=1.0),
                                         dict(type='PackDetInputs', meta_keys=meta_keys)])])
    model = build_semi('SemiBaseDetector')
    dets = [fake_detections([[4, 8, 20, 30]], [0.95], [2])]
    _patch_teacher_predictions(model, dets)
    for batch in ([sup(_synthetic_results(True)), unsup(_synthetic_results(False))],
                  [unsup(_synthetic_results(False))]):  # the second has no labeled image at all
        data = model.data_preprocessor(pseudo_collate(copy.deepcopy(batch)), True)
        assert data['inputs']['unsup_student'].shape == (1, 3, 64, 64)  # padded to 32
        assert ('sup' in data['inputs']) == (len(batch) == 2)
        student_sample = data['data_samples']['unsup_student'][0]
        assert student_sample.homography_matrix[0, 0] == -1  # flip recorded
        losses = model(**data, mode='loss')
        assert set(losses) == KEYS
        assert_finite(losses)
        assert as_float(losses['unsup_loss_bbox']) > 0  # the flipped pseudo box was learned from


def test_loss_weights_live_only_in_attributes_so_a_misaimed_weighter_fails_early():
    from ssod.engine.hooks import Weighter
    from tests.engine.hooks.hook_test_utils import FakeRunner
    model = build_semi('SemiBaseDetector', sup_weight=0.5, unsup_weight=3.0)
    assert (model.sup_weight, model.unsup_weight) == (0.5, 3.0)
    assert 'unsup_weight' not in model.semi_train_cfg and 'sup_weight' not in model.semi_train_cfg
    with pytest.raises(AttributeError, match='semi_train_cfg.unsup_weight'):
        Weighter(name='semi_train_cfg.unsup_weight', schedule=1.0).before_train(FakeRunner(model))
    runner = FakeRunner(model)
    Weighter(name='unsup_weight', steps=[5], vals=[0.0, 4.0]).before_train_iter(runner, 0)
    assert model.unsup_weight == 0.0


def test_detector_num_classes_of_two_and_one_stage_heads():
    class Head:
        num_classes = 7

    class TwoStage:
        roi_head = type('RoIHead', (), {'bbox_head': Head()})()

    class OneStage:
        bbox_head = Head()

    assert detector_num_classes(TwoStage()) == 7
    assert detector_num_classes(OneStage()) == 7
    assert detector_num_classes(object()) is None
