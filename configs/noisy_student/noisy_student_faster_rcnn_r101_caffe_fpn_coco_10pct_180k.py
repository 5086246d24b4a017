# Noisy Student on COCO 10 % with a larger student (the paper's "equal-or-larger"): R101-caffe FPN from its
# ImageNet weights; the round-0 teacher is still the R50 supervised baseline of the split. Everything else as
# noisy_student_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py.
_base_ = './noisy_student_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py'

model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained',
                                           checkpoint='open-mmlab://detectron2/resnet101_caffe')))
