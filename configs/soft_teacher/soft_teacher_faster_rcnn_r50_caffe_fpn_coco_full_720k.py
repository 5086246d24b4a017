# Soft Teacher, Faster R-CNN R50-caffe FPN, COCO full: train2017 labeled + unlabeled2017 unlabeled,
# 720k iterations on 8 GPUs x (4 labeled + 4 unlabeled images), unsupervised weight 2 (the paper's and
# microsoft/SoftTeacher's full-data setting). Reported (not reproduced here): 44.05 mAP
# (microsoft/SoftTeacher README, score threshold 0.05); supervised baseline 40.9.
_base_ = [
    '../_base_/models/soft_teacher_r50_caffe_fpn.py',
    '../_base_/datasets/semi_coco_full.py',
    '../_base_/schedules/schedule_720k.py',
    '../_base_/default_runtime.py',
]

max_iters = 720000
val_interval = 20000

model = dict(semi_train_cfg=dict(unsup_weight=2.0))
train_dataloader = dict(sampler=dict(max_iters=max_iters))
train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='SemiValLoop')

custom_hooks = [dict(type='EMATeacherHook', teacher_momentum='softteacher_warmup')]

default_hooks = dict(
    checkpoint=dict(interval=val_interval, max_keep_ckpts=3, save_best='teacher/coco/bbox_mAP',
                    rule='greater'))
