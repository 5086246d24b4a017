# SoftTeacher around the paper's detector (faster_rcnn_r50_caffe_fpn.py, 80 COCO classes): teacher and
# student are two copies of it, both initialised from the ImageNet caffe ResNet-50. Thresholds and loss
# weights are the paper's: pseudo boxes above 0.9 for the RPN and the classification branch, box-jitter
# uncertainty below 0.02 for regression, unsupervised weight alpha = 4 (the full-COCO configs use 2).
# Prediction (validation, tools/test.py) uses the teacher unless semi_test_cfg.predict_on says otherwise;
# SemiValLoop evaluates both.
_base_ = './faster_rcnn_r50_caffe_fpn.py'

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
        unsup_weight=4.0,
        pseudo_label_initial_score_thr=0.5,
        rpn_pseudo_thr=0.9,
        cls_pseudo_thr=0.9,
        reg_pseudo_thr=0.02,
        jitter_times=10,
        jitter_scale=0.06,
        min_pseudo_bbox_wh=(1e-2, 1e-2),
        teacher_rois_per_pass=2048),  # memory bound of the teacher's second box-head pass
    semi_test_cfg=dict(predict_on='teacher'))
