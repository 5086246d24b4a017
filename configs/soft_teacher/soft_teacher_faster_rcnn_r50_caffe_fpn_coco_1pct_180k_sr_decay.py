# The 1 % config with the Soft Teacher paper's sample-ratio decay: the labeled fraction of every global
# batch is 0.2 and decreases linearly to 0 over the last 10k iterations
# (configs/_base_/sample_ratio/partial_labeled_decay.py, realised exactly by GroupSemiBalanceSampler).
_base_ = [
    './soft_teacher_faster_rcnn_r50_caffe_fpn_coco_1pct_180k.py',
    '../_base_/sample_ratio/partial_labeled_decay.py',
]

train_dataloader = dict(sampler=dict(ratio_schedule=_base_.sample_ratio_schedule))
