"""Tiny detectors and hand-made multi-branch batches for the semi-supervised detector tests.

Models: a ResNet-18 Faster R-CNN at 8 base channels with a 16-channel FPN, and a RetinaNet of the same
size; random init (``init_cfg=None``), 64 x 64 images, 3 classes. Batches are built by hand (already
normalised tensors + DetDataSample lists), as ``MultiBranchDataPreprocessor`` would return them.
"""
import copy
import os.path as osp

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import ssod.models  # noqa: F401  (registers the ssod models)
from ssod.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
NUM_CLASSES = 3
SIZE = 64

PREPROCESSOR = dict(type='DetDataPreprocessor', mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0],
                    bgr_to_rgb=False, pad_size_divisor=32)
SEMI_TRAIN_CFG = dict(
    freeze_teacher=True, sup_weight=1.0, unsup_weight=4.0,
    pseudo_label_initial_score_thr=0.5, rpn_pseudo_thr=0.9, cls_pseudo_thr=0.9, reg_pseudo_thr=0.02,
    jitter_times=10, jitter_scale=0.06, min_pseudo_bbox_wh=(1e-2, 1e-2))


def tiny_backbone():
    return dict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), base_channels=8,
                stem_channels=8, frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True),
                norm_eval=False, zero_init_residual=False, style='pytorch', init_cfg=None)


def tiny_faster_rcnn() -> dict:
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/faster_rcnn_r50_caffe_fpn.py')).model
    cfg = copy.deepcopy(cfg.to_dict())
    cfg['data_preprocessor'] = dict(PREPROCESSOR)
    cfg['backbone'] = tiny_backbone()
    cfg['neck'].update(in_channels=[8, 16, 32, 64], out_channels=16)
    cfg['rpn_head'].update(in_channels=16, feat_channels=16)
    cfg['roi_head']['bbox_roi_extractor'].update(out_channels=16)
    cfg['roi_head']['bbox_head'].update(in_channels=16, fc_out_channels=32, num_classes=NUM_CLASSES)
    cfg['train_cfg']['rpn_proposal'].update(nms_pre=200, max_per_img=50)
    cfg['train_cfg']['rcnn']['sampler'].update(num=64)
    cfg['test_cfg']['rpn'].update(nms_pre=200, max_per_img=50)
    return cfg


def tiny_retinanet() -> dict:
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(PREPROCESSOR),
        backbone=tiny_backbone(),
        neck=dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=16, start_level=1,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=NUM_CLASSES, in_channels=16, stacked_convs=1,
            feat_channels=16,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                  ratios=[1.0], strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                            target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                       debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))


def build_semi(type_='SoftTeacher', detector=None, seed=0, **semi_train_overrides):
    """Build a semi detector in the ssod scope (random init, seeded); teacher = copy of student."""
    init_default_scope('ssod')
    torch.manual_seed(seed)
    detector = detector or tiny_faster_rcnn()
    model = MODELS.build(dict(
        type=type_, detector=detector,
        data_preprocessor=dict(type='MultiBranchDataPreprocessor',
                               data_preprocessor=detector['data_preprocessor']),
        semi_train_cfg={**SEMI_TRAIN_CFG, **semi_train_overrides},
        semi_test_cfg=dict(predict_on='teacher')))
    model.teacher.load_state_dict(model.student.state_dict())
    return model


def flip_matrix(width):
    return np.array([[-1, 0, width], [0, 1, 0], [0, 0, 1]], dtype=np.float32)


def sample(homography=None, boxes=None, labels=None, shape=(SIZE, SIZE), path=None):
    """A DetDataSample as PackDetInputs + DetDataPreprocessor would produce it."""
    meta = dict(img_shape=shape, ori_shape=(SIZE, SIZE), pad_shape=shape, batch_input_shape=shape,
                scale_factor=(shape[1] / SIZE, shape[0] / SIZE), flip=False, flip_direction=None,
                homography_matrix=(np.eye(3, dtype=np.float32) if homography is None
                                   else np.asarray(homography, dtype=np.float32)))
    if path is not None:
        meta['img_path'] = path
    s = DetDataSample(metainfo=meta)
    boxes = torch.zeros((0, 4)) if boxes is None else torch.as_tensor(boxes, dtype=torch.float32)
    labels = (torch.zeros((len(boxes),), dtype=torch.long) if labels is None
              else torch.as_tensor(labels, dtype=torch.long))
    s.gt_instances = InstanceData(bboxes=boxes, labels=labels)
    return s


def images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, 3, SIZE, SIZE), generator=g)


def multi_batch(num_sup=1, num_unsup=2, student_flip=True):
    """inputs / data_samples dicts keyed by branch; empty branches are left out."""
    inputs, samples = {}, {}
    if num_sup:
        inputs['sup'] = images(num_sup, 1)
        samples['sup'] = [sample(boxes=[[8, 8, 40, 36]], labels=[1]) for _ in range(num_sup)]
    if num_unsup:
        weak = images(num_unsup, 2)
        inputs['unsup_teacher'] = weak
        inputs['unsup_student'] = weak.flip(-1) if student_flip else weak.clone()
        samples['unsup_teacher'] = [sample(path=f'u{i}.jpg') for i in range(num_unsup)]
        samples['unsup_student'] = [
            sample(homography=flip_matrix(SIZE) if student_flip else None, path=f'u{i}.jpg')
            for i in range(num_unsup)]
        for s in samples['unsup_student']:
            s.hidden_gt_instances = InstanceData(bboxes=torch.tensor([[1., 1., 5., 5.]]),
                                                 labels=torch.tensor([0]))
    return inputs, samples


def fake_detections(boxes, scores, labels):
    """InstanceData a teacher could have produced (teacher-view pixels)."""
    return InstanceData(bboxes=torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        scores=torch.as_tensor(scores, dtype=torch.float32),
                        labels=torch.as_tensor(labels, dtype=torch.long))


def assert_finite(losses):
    for key, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            assert torch.isfinite(torch.as_tensor(v)).all(), (key, v)


def total(losses):
    out = 0.0
    for key, value in losses.items():
        if 'loss' in key:
            out = out + (sum(value) if isinstance(value, (list, tuple)) else value)
    return out


def as_float(x):
    """A Python float of a (possibly grad-requiring) scalar tensor or number."""
    return float(torch.as_tensor(x).detach())


#: ``semi_train_cfg.adaptive_thr`` of the adaptive-threshold tests (fixed fallbacks: the 0.9 above).
ADAPTIVE_THR = dict(queue_size=1000, min_count=200, min_thr=0.3, max_thr=0.95, stages=('cls', 'rpn'))


def prefill_score_queues(model, seed=0):
    """Fill the adaptive-threshold queues of ``model`` with known teacher scores: class 0 bimodal around
    0.25 / 0.8 (boundary about 0.59), class 2 around 0.3 / 0.9 (about 0.73), class 1 empty (so it uses
    the fixed thresholds)."""
    rng = np.random.default_rng(seed)
    class0 = np.concatenate([rng.normal(0.25, 0.08, 700), rng.normal(0.8, 0.05, 300)])
    class2 = np.concatenate([rng.normal(0.3, 0.08, 500), rng.normal(0.9, 0.03, 500)])
    scores = torch.tensor(np.clip(np.concatenate([class0, class2]), 0.06, 1.0), dtype=torch.float32)
    labels = torch.cat([torch.zeros(1000), torch.full((1000,), 2)]).long()
    model.adaptive_thresholds.observe(scores, labels)
