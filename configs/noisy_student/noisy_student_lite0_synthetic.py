# Noisy Student on the synthetic shapes (3 classes; data/synthetic by default, the accuracy benchmark points
# data_root at its 1 % / 10 % splits), round by round with tools/self_train.py. The round-0 teacher is the
# accuracy benchmark's synthetic burn-in (a teacher-student checkpoint whose teacher equals its student); each
# round's noised Lite0 student starts from the last model and trains like the Soft Teacher arm
# (configs/accuracy/synthetic/soft_teacher.py): 150 iterations, 4 labeled + 4 pseudo-labeled images, lr 0.002.
_base_ = [
    '../_base_/models/faster_rcnn_lite0_fpn_noisy_student.py',
    '../_base_/datasets/noisy_student_synthetic.py',
    '../_base_/schedules/cpu_round_150it.py',
    '../_base_/default_runtime.py',
]

model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))

self_training = dict(
    teacher_config='configs/accuracy/synthetic/burn_in.py',
    teacher_checkpoint=None,
    teacher_model='teacher',
    unlabeled_ann_file='data/synthetic/annotations/unlabeled.json',
    hidden_gt_file='data/synthetic/annotations/unlabeled-hidden-gt.json',
    score_floor=0.05,
    flip=True,
    student_init='previous')

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=50, max_keep_ckpts=1),
    visualization=dict(draw=False))
