# Noisy Student on the COCO partial-label benchmark (10 % labeled; --cfg-options fold=N, percent=1/2/5 for the
# other splits), with tools/self_train.py CONFIG --rounds N:
#   teacher (round 0): the supervised baseline of the same split
#                      (configs/baselines/faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k.py), trained first
#                      unless self_training.teacher_checkpoint names its checkpoint;
#   round r:           the last model labels the unlabeled train2017 images (flip test-time augmentation), and a
#                      noised R50 student, from ImageNet weights as in the paper, trains 180k iterations on
#                      1 labeled + 4 pseudo-labeled images per GPU (8 GPUs), boxes >= 0.9.
# Model noise: dropout 0.5 in the box head; soft classification weights (ScoreWeightedRoIHead). mmdet's ResNet
# has no stochastic depth, so the R50/R101 students get none (the EfficientNet-Lite students do).
_base_ = [
    '../_base_/models/faster_rcnn_r50_caffe_fpn.py',
    '../_base_/datasets/noisy_student_coco.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

percent = 10
model = dict(
    roi_head=dict(type='ScoreWeightedRoIHead', bbox_head=dict(type='DropoutShared2FCBBoxHead', dropout=0.5)))

self_training = dict(
    teacher_config='configs/baselines/faster_rcnn_r50_caffe_fpn_coco_{percent}pct_180k.py',
    teacher_checkpoint=None,
    unlabeled_ann_file='data/coco/annotations/semi_supervised/instances_train2017.{fold}@{percent}-unlabeled.json',
    unlabeled_img_dir='data/coco/train2017/',
    hidden_gt_file='data/coco/annotations/instances_train2017.json',
    score_floor=0.05,
    flip=True,
    student_init='config')

val_interval = 5000
train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=180000, val_interval=val_interval)
train_dataloader = dict(sampler=dict(max_iters=180000))
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=40)
