# Semi-supervised synthetic shapes (tools/data/make_synthetic.py: square images of 64-256 px, classes
# ellipse / rectangle / triangle, annotations/{labeled,unlabeled,val}.json). For tests, smoke runs and
# quick experiments; the structure is that of semi_tree_crowns.py (read its header for the branches and
# the homography rules), only the sizes differ.
#
# Sizes are RELATIVE to the image, because the same config serves 64 px test images and 256 px
# experiment images: every view is rescaled by a factor drawn from `scale_factors` (mmdet's Resize with
# scale_factor, which records its homography like any Resize), and the test pipeline keeps the native
# size (scale_factor 1.0). Nothing is cropped. The generator draws shapes in any rotation, so every
# flip direction is valid.
#
# Tests point the config elsewhere by overriding data_root in the datasets (and val_evaluator.ann_file).
dataset_type = 'CocoDataset'
data_root = 'data/synthetic/'
metainfo = dict(classes=('ellipse', 'rectangle', 'triangle'),
                palette=[(220, 20, 60), (0, 128, 255), (255, 170, 0)])
backend_args = None

branch_field = ['sup', 'unsup_teacher', 'unsup_student']
view_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                  'flip_direction', 'homography_matrix')
# Hidden ground truth of the unlabeled images (original image frame), packed into the teacher view's
# metainfo only: the detector measures pseudo-label precision/recall with it, no loss reads it
# (ssod/datasets/hidden_gt.py). Set hidden_gt_file=None in unlabeled_dataset for data without it.
hidden_gt_keys = ('hidden_gt_bboxes', 'hidden_gt_labels')
flip_directions = ['horizontal', 'vertical', 'diagonal']
scale_factors = (0.75, 0.875, 1.0, 1.125, 1.25)
random_rescale = dict(
    type='RandomChoice',
    transforms=[[dict(type='Resize', scale_factor=factor, keep_ratio=True)]
                for factor in scale_factors])

color_space = [
    [dict(type='ColorTransform')],
    [dict(type='AutoContrast')],
    [dict(type='Equalize')],
    [dict(type='Sharpness')],
    [dict(type='Posterize')],
    [dict(type='Solarize')],
    [dict(type='Color')],
    [dict(type='Contrast')],
    [dict(type='Brightness')],
]
geometric_space = [
    [dict(type='Rotate')],
    [dict(type='ShearX')],
    [dict(type='ShearY')],
    [dict(type='TranslateX')],
    [dict(type='TranslateY')],
]

# The augmentation of labeled images (also used, with another packing step, by the Noisy Student
# data bases), then the 'sup' branch.
sup_augmentation = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    random_rescale,
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(type='PhotoMetricDistortion'),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
]
sup_pipeline = sup_augmentation + [
    dict(type='MultiBranch', branch_field=branch_field, sup=dict(type='PackDetInputs')),
]
weak_pipeline = [
    random_rescale,
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(type='PackDetInputs', meta_keys=view_meta_keys + hidden_gt_keys),
]
strong_augmentation = [
    random_rescale,
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(
        type='RandomOrder',
        transforms=[
            dict(type='RandAugment', aug_space=color_space, aug_num=1),
            dict(type='RandAugment', aug_space=geometric_space, aug_num=1),
        ]),
    dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False),
]
strong_pipeline = strong_augmentation + [
    dict(type='PackDetInputs', meta_keys=view_meta_keys),
]
unsup_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadEmptyAnnotations'),
    dict(
        type='MultiBranch',
        branch_field=branch_field,
        unsup_teacher=weak_pipeline,
        unsup_student=strong_pipeline),
]

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]

labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/labeled.json',
    data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=0),
    pipeline=sup_pipeline,
    backend_args=backend_args)
unlabeled_dataset = dict(
    type='CocoWithHiddenGT',
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/unlabeled.json',
    hidden_gt_file='annotations/unlabeled-hidden-gt.json',
    data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=False),
    pipeline=unsup_pipeline,
    backend_args=backend_args)

batch_size = 5
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/val.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
