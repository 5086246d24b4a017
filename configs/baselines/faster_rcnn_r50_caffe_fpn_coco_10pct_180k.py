# Supervised baseline of the COCO partial-label benchmark: Faster R-CNN R50-caffe FPN trained on the
# labeled 10 % split only (instances_train2017.{fold}@10.json; --cfg-options fold=N), 180k iterations on
# 8 GPUs x 1 image, lr 0.01 (the Soft Teacher paper's baselines). The 1 / 2 / 5 % configs inherit this
# file and change only `percent`. Reported baselines (microsoft/SoftTeacher README, mean of 5 folds;
# not reproduced here): 1 % 10.0, 5 % 20.92, 10 % 26.94 mAP.
_base_ = [
    '../_base_/models/faster_rcnn_r50_caffe_fpn.py',
    '../_base_/datasets/coco_partial.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

percent = 10
val_interval = 5000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=180000, val_interval=val_interval)
default_hooks = dict(
    checkpoint=dict(interval=val_interval, max_keep_ckpts=3, save_best='coco/bbox_mAP',
                    rule='greater'))
# The learning rate of schedule_180k.py is for 8 GPUs x 1 image here.
auto_scale_lr = dict(base_batch_size=8)
