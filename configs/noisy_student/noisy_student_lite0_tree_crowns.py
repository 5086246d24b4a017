# Noisy Student on the tree crowns, round by round with tools/self_train.py (2 rounds: about 15 min on 2 cores):
#   teacher (round 0): the demo's burn-in, Lite0 Faster R-CNN on the 20 labeled tiles (trained first in
#                      <work_dir>/round0/teacher unless self_training.teacher_checkpoint names a checkpoint);
#   round r:           the last model labels the unlabeled tiles (flip test-time augmentation, boxes >= 0.05
#                      written, >= 0.5 trained on), and a noised Lite0 student, initialised from that model,
#                      trains on 4 labeled + 4 pseudo-labeled tiles per batch.
# A round has the length, learning rate and labeled tiles per iteration of the demo's Soft Teacher phase and its
# control (configs/demo/soft_teacher_lite0_tree_crowns*.py), so the three compare at equal labeled data.
_base_ = [
    '../_base_/models/faster_rcnn_lite0_fpn_noisy_student.py',
    '../_base_/datasets/noisy_student_tree_crowns.py',
    '../_base_/schedules/cpu_round_150it.py',
    '../_base_/default_runtime.py',
]

model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))

self_training = dict(
    teacher_config='configs/demo/faster_rcnn_lite0_tree_crowns_burn_in.py',
    teacher_checkpoint=None,
    unlabeled_ann_file='data/tree_crowns/annotations/unlabeled.json',
    hidden_gt_file='data/tree_crowns/annotations/unlabeled-hidden-gt.json',
    score_floor=0.05,
    flip=True,
    student_init='previous')

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=50, max_keep_ckpts=1),
    visualization=dict(draw=False))
