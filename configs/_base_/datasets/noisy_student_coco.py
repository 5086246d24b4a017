# Noisy Student data on the COCO partial-label splits (semi_coco.py: labeled split
# instances_train2017.{fold}@{percent}.json, the rest of train2017 unlabeled; val2017 for evaluation): the
# labeled images with the supervised augmentation of semi_coco.py, and the unlabeled images with a teacher's
# boxes (tools/pseudo_label.py; each round of tools/self_train.py sets the pseudo dataset's ann_file) through the
# strong view of the Soft Teacher pipelines, each box's score kept aligned (KeepInstanceScores) and packed as
# gt_instances.scores (PackScoredDetInputs). Boxes >= 0.9 train, STAC's threshold (Sohn et al. 2020).
# Batch per GPU: 1 labeled + 4 pseudo-labeled images, Soft Teacher's 5 images at its sample ratio 0.2.
_base_ = './semi_coco.py'

labeled_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=_base_.train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandAugment', aug_space=_base_.color_space, aug_num=1),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackScoredDetInputs'),
]
pseudo_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='KeepInstanceScores',
        transforms=[
            dict(type='RandomResize', scale=_base_.train_scales, keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
            dict(
                type='RandomOrder',
                transforms=[
                    dict(type='RandAugment', aug_space=_base_.color_space, aug_num=1),
                    dict(type='RandAugment', aug_space=_base_.geometric_space, aug_num=1),
                ]),
            dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
            dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False),
        ]),
    dict(type='PackScoredDetInputs'),
]
unlabeled_dataset = None  # the unlabeled images enter as pseudo_dataset

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
            dict(
                type=_base_.dataset_type,
                data_root=_base_.data_root,
                metainfo=_base_.metainfo,
                ann_file=_base_.labeled_ann_file,
                data_prefix=dict(img=_base_.labeled_img_dir),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=labeled_pipeline,
                backend_args=_base_.backend_args),
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
