# Supervised COCO baseline data: the labeled `percent` % split of train2017 only (the file made by
# tools/data/split_coco.py, `{fold}`/`{percent}` resolved by tools/train.py and tools/test.py as in
# semi_coco.py), with the augmentation of the labeled branch of semi_coco.py (random resize to a short
# side of 400-1200 pixels, horizontal flip, one RandAugment colour op); evaluation on val2017.
# The Soft Teacher paper's supervised baselines: 1 image per GPU, 8 GPUs.
_base_ = './semi_coco.py'

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=_base_.train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandAugment', aug_space=_base_.color_space, aug_num=1),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=_base_.dataset_type,
        data_root=_base_.data_root,
        metainfo=_base_.metainfo,
        ann_file=_base_.labeled_ann_file,
        data_prefix=dict(img=_base_.labeled_img_dir),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=_base_.backend_args))
