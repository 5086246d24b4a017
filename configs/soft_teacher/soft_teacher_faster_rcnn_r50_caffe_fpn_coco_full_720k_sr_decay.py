# The full-COCO config with the Soft Teacher paper's sample-ratio decay: the labeled fraction is 0.5 and
# decreases linearly to 0 over the last 20k iterations (configs/_base_/sample_ratio/full_labeled_decay.py).
_base_ = [
    './soft_teacher_faster_rcnn_r50_caffe_fpn_coco_full_720k.py',
    '../_base_/sample_ratio/full_labeled_decay.py',
]

train_dataloader = dict(sampler=dict(ratio_schedule=_base_.sample_ratio_schedule))
