# A Faster R-CNN small enough to train from scratch on a 2-core CPU in minutes (demo and tests).
# Only what differs from the R50-caffe FPN detector is stated:
# * ResNet-18 at a quarter of the usual width (16 stem / base channels instead of 64), FPN and heads
#   narrowed to match;
# * no pretrained weights can be fetched here, so the norm layers train (requires_grad, norm_eval=False),
#   nothing is frozen, and zero_init_residual is off: with frozen, zero-initialised BN every residual
#   branch would stay exactly zero;
# * RGB input normalised with ImageNet statistics;
# * fewer proposals and RoIs, sized for ~256 px images with tens of objects, and RoIAlign with a
#   fixed 2x2 sampling grid per bin (the adaptive grid dominates the CPU time on large RoIs).
_base_ = './faster_rcnn_r50_caffe_fpn.py'

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        zero_init_residual=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))
