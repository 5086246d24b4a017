# Semi-supervised tree-crown data (NEON aerial tiles of 256 px, one class 'tree'), made by
# tools/data/prepare_tree_crowns.py: the labeled split (annotations/labeled.json) and the unlabeled
# split (annotations/unlabeled.json, boxes removed) are drawn together by GroupSemiBalanceSampler;
# evaluation on the val split, as in tree_crowns.py.
#
# Every sample ends in a MultiBranch with the same branch_field (collation takes the keys of the first
# sample, so both sources must produce the same branches):
# * labeled image   -> 'sup': the supervised augmentation of tree_crowns.py (random rescale by 0.75-1.5
#                      cropped back to at most 256 px, flips in every direction, colour jitter);
# * unlabeled image -> 'unsup_teacher' (weak view: rescale + flip) and 'unsup_student' (strong view: its
#                      own rescale + flip, then one colour op and one geometric op of RandAugment in
#                      random order, then random erasing). The two views are drawn independently.
#
# Pseudo-labels move between the views through the homography matrices: every transform of the
# unlabeled branches that moves pixels records its matrix in results['homography_matrix'] (mmdet's
# Resize, RandomFlip incl. diagonal, Rotate, ShearX/Y, TranslateX/Y; RandomErasing and the colour ops
# do not move pixels), and both views pack it ('homography_matrix' in meta_keys: PackDetInputs
# leaves it out by default). Do not add RandomAffine, RandomShift, Expand, Mosaic, MixUp,
# MinIoURandomCrop or batch-level resizes to these branches: they move boxes without recording it.
# The unlabeled views are not cropped either: a crop of the teacher view would hide objects that the
# student view still shows, which would then be trained as background.
#
# Sizes: the views are rescaled by 0.75-1.25 (192-320 px for a 256 px tile) around the 256 px test
# scale; the teacher sees about the same scale as at test time.
#
# Evaluation (val/test loaders and COCO metric on annotations/val.json) is inherited from tree_crowns.py.
_base_ = './tree_crowns.py'

dataset_type = 'CocoDataset'
data_root = 'data/tree_crowns/'
# Identical in both sources (and val): the ConcatDataset and the sampler assume one label space.
metainfo = dict(classes=('tree', ), palette=[(34, 139, 34)])
backend_args = None

branch_field = ['sup', 'unsup_teacher', 'unsup_student']
view_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                  'flip_direction', 'homography_matrix')
# Hidden ground truth of the unlabeled images (original image frame), packed into the teacher view's
# metainfo only: the detector measures pseudo-label precision/recall with it, no loss reads it
# (ssod/datasets/hidden_gt.py). Set hidden_gt_file=None in unlabeled_dataset for data without it.
hidden_gt_keys = ('hidden_gt_bboxes', 'hidden_gt_labels')
# Top-down imagery has no up or down: all flips are valid (diagonal = 180 degree rotation).
flip_directions = ['horizontal', 'vertical', 'diagonal']

# RandAugment spaces (one op of each per strong view). Magnitudes are mmdet's defaults: a random
# level in [0, max]: Rotate up to 30 degrees, ShearX/Y up to 30 degrees, TranslateX/Y up to 0.1 of
# the image side.
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
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(256, 256), allow_negative_crop=False),
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(type='PhotoMetricDistortion'),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
]
sup_pipeline = sup_augmentation + [
    dict(type='MultiBranch', branch_field=branch_field, sup=dict(type='PackDetInputs')),
]

# Weak view: what the teacher predicts pseudo-labels on.
weak_pipeline = [
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(type='PackDetInputs', meta_keys=view_meta_keys + hidden_gt_keys),
]
# Strong view: what the student learns the pseudo-labels on.
strong_augmentation = [
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomFlip', prob=0.75, direction=flip_directions),
    dict(
        type='RandomOrder',
        transforms=[
            dict(type='RandAugment', aug_space=color_space, aug_num=1),
            dict(type='RandAugment', aug_space=geometric_space, aug_num=1),
        ]),
    dict(type='RandomErasing', n_patches=(1, 5), ratio=(0, 0.2)),
    # A no-op on unlabeled images (their boxes are empty); drops boxes that the geometric op pushed
    # out of the image when boxes are present. keep_empty=False: never drop the whole sample.
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

# 1 labeled : 4 unlabeled per batch (the Soft Teacher paper's sr = 0.2). The sampler yields flat
# indices, batch_size of them per iteration (the loader's batch_size must equal the sampler's), and
# replaces the AspectRatioBatchSampler of supervised configs (it groups by aspect ratio itself).
batch_size = 5
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
