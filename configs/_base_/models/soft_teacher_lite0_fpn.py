# SoftTeacher around the pretrained EfficientNet-Lite0 Faster R-CNN (faster_rcnn_lite0_fpn.py): teacher and
# student are two copies of that detector; thresholds and weights are the paper's / reference defaults.
# Experiments set the class count with
#   model = dict(detector=dict(roi_head=dict(bbox_head=dict(num_classes=K))))
_base_ = './faster_rcnn_lite0_fpn.py'

detector = _base_.model

model = dict(
    _delete_=True,
    type='SoftTeacher',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor', data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        freeze_teacher=True,
        sup_weight=1.0,
        unsup_weight=4.0,  # alpha of the paper; a Weighter hook may schedule it
        pseudo_label_initial_score_thr=0.5,
        rpn_pseudo_thr=0.9,
        cls_pseudo_thr=0.9,
        reg_pseudo_thr=0.02,
        jitter_times=10,
        jitter_scale=0.06,
        min_pseudo_bbox_wh=(1e-2, 1e-2),
        teacher_rois_per_pass=2048),
    semi_test_cfg=dict(predict_on='teacher'))
