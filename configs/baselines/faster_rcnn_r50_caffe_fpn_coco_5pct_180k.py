# Supervised baseline on the labeled 5 % split of COCO (instances_train2017.{fold}@5.json): the 10 %
# baseline with another split file; choose the fold with --cfg-options fold=N.
_base_ = './faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py'

percent = 5
