# Noisy Student data on the COCO partial-label splits, built from the Soft Teacher data of semi_coco.py
# (labeled split instances_train2017.{fold}@{percent}.json, the rest of train2017 unlabeled; val2017 for
# evaluation): the labeled images with its supervised augmentation, and the unlabeled images with a teacher's
# boxes (tools/pseudo_label.py; each round of tools/self_train.py sets the pseudo dataset's ann_file) through
# its strong view, each box's score kept aligned (KeepInstanceScores) and packed as gt_instances.scores
# (PackScoredDetInputs). Boxes >= 0.9 train, STAC's threshold (Sohn et al. 2020). Batch per GPU: 1 labeled +
# 4 pseudo-labeled images, Soft Teacher's 5 images at its sample ratio 0.2.
_base_ = './semi_coco.py'

labeled_pipeline = _base_.sup_augmentation + [dict(type='PackScoredDetInputs')]
pseudo_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='KeepInstanceScores', transforms=_base_.strong_augmentation),
    dict(type='PackScoredDetInputs'),
]
unlabeled_dataset = None  # the unlabeled images enter as the pseudo-labeled dataset

train_dataloader = dict(
    _delete_=True,
    batch_size=5,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=5, source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(_base_.labeled_dataset, pipeline=labeled_pipeline),
            dict(
                type='PseudoLabeledCocoDataset',
                data_root=_base_.data_root,
                metainfo=_base_.metainfo,
                ann_file='annotations/semi_supervised/pseudo_labels.{fold}@{percent}.json',  # per round
                score_thr=0.9,
                data_prefix=dict(img=_base_.unlabeled_img_dir),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=pseudo_pipeline,
                backend_args=_base_.backend_args),
        ]))
