# Soft Teacher, Faster R-CNN R50-caffe FPN, COCO with 2 % of train2017 labeled: the 10 % config with
# another split file (instances_train2017.{fold}@2.json); choose the fold with --cfg-options fold=N.
_base_ = './soft_teacher_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py'

percent = 2
