# Noisy Student data on the synthetic shapes (tools/data/make_synthetic.py; sizes relative to the image as in
# semi_synthetic.py, whose val/test loaders and evaluator this inherits): the labeled images with the
# supervised augmentation, and the unlabeled images with a teacher's boxes (tools/pseudo_label.py; each round of
# tools/self_train.py sets the pseudo dataset's ann_file) through the strong view of the Soft Teacher pipelines,
# each box's score kept aligned (KeepInstanceScores) and packed as gt_instances.scores (PackScoredDetInputs).
# See noisy_student_tree_crowns.py for the reasoning; 4 labeled + 4 pseudo-labeled images per batch.
_base_ = './semi_synthetic.py'

flip_directions = ['horizontal', 'vertical', 'diagonal']
random_rescale = dict(
    type='RandomChoice',
    transforms=[[dict(type='Resize', scale_factor=factor, keep_ratio=True)]
                for factor in (0.75, 0.875, 1.0, 1.125, 1.25)])
color_space = [[dict(type=op)] for op in ('ColorTransform', 'AutoContrast', 'Equalize', 'Sharpness',
                                          'Posterize', 'Solarize', 'Color', 'Contrast', 'Brightness')]
geometric_space = [[dict(type=op)] for op in ('Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY')]

labeled_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    random_rescale,
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(type='PhotoMetricDistortion'),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PackScoredDetInputs'),
]
pseudo_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='KeepInstanceScores',
        transforms=[
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
        ]),
    dict(type='PackScoredDetInputs'),
]

data_root = 'data/synthetic/'
metainfo = dict(classes=('ellipse', 'rectangle', 'triangle'),
                palette=[(220, 20, 60), (0, 128, 255), (255, 170, 0)])
labeled_dataset = dict(
    type='CocoDataset',
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/labeled.json',
    data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=0),
    pipeline=labeled_pipeline)
pseudo_dataset = dict(
    type='PseudoLabeledCocoDataset',
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/pseudo_labels.json',  # set per round by tools/self_train.py
    score_thr=0.5,
    data_prefix=dict(img='images/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=0),
    pipeline=pseudo_pipeline)
unlabeled_dataset = None  # the unlabeled images enter as pseudo_dataset

batch_size = 8
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 1]),
    batch_sampler=None,
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, pseudo_dataset]))
