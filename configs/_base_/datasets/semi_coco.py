# Semi-supervised COCO, partially labeled (the Soft Teacher / STAC protocol): `percent` % of train2017 is
# labeled, the rest of train2017 is the unlabeled set; evaluation on val2017. The split files are made
# by tools/data/split_coco.py with SoftTeacher's names:
#   data/coco/annotations/semi_supervised/instances_train2017.{fold}@{percent}.json
#   data/coco/annotations/semi_supervised/instances_train2017.{fold}@{percent}-unlabeled.json
#
# `fold` (1-5) and `percent` are ordinary config values, chosen on the command line:
#   python tools/train.py CONFIG --cfg-options fold=3 percent=5
# The ann_file strings keep the literal placeholders `{fold}` and `{percent}`: mmengine would freeze a
# value computed here before --cfg-options are merged, so tools/train.py and tools/test.py fill them
# in afterwards (ssod.apis.split_placeholders.resolve_split_placeholders, which also rejects an
# unknown placeholder or a fold outside 1..5).
#
# Branches (every sample ends in a MultiBranch with the same branch_field, see semi_tree_crowns.py):
# * labeled image   -> 'sup': random resize (long side 1333, short side 400-1200 pixels), horizontal
#                      flip, one RandAugment colour op;
# * unlabeled image -> 'unsup_teacher' (weak view: random resize + flip) and 'unsup_student' (strong
#                      view: its own random resize + flip, then in random order one colour op and one
#                      geometric op (rotate, shear, translate), then random erasing), as in the paper.
# Pseudo-labels move from the weak to the strong view through results['homography_matrix']: mmdet 3.3's
# Resize/RandomResize, RandomFlip, Rotate, ShearX/Y and TranslateX/Y record their matrix; RandomErasing
# and the colour ops move no pixel. Both views pack 'homography_matrix' (not a PackDetInputs default).
# Natural images: only horizontal flips.
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
backend_args = None
fold = 1
percent = 10
# Same in every dataset (labeled, unlabeled, val); None = mmdet's 80 COCO classes.
metainfo = None
labeled_ann_file = 'annotations/semi_supervised/instances_train2017.{fold}@{percent}.json'
unlabeled_ann_file = 'annotations/semi_supervised/instances_train2017.{fold}@{percent}-unlabeled.json'
labeled_img_dir = 'train2017/'
unlabeled_img_dir = 'train2017/'

branch_field = ['sup', 'unsup_teacher', 'unsup_student']
view_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                  'flip_direction', 'homography_matrix')
# Hidden ground truth of the unlabeled images (ssod/datasets/hidden_gt.py): the partial splits come from
# the labeled train2017, so their boxes are read from the original file and travel with the teacher
# (weak) view only, in fields no loss reads; the detector logs the pseudo-labels' precision/recall
# against them (train/pseudo/precision_*, recall_*). Set hidden_gt_file=None to skip reading the
# 450 MB file (the metrics are then simply not logged).
hidden_gt_file = 'annotations/instances_train2017.json'
hidden_gt_keys = ('hidden_gt_bboxes', 'hidden_gt_labels')
# (long side, short side) bounds in pixels: the short side is drawn in 400-1200, the long side <= 1333.
train_scales = [(1333, 400), (1333, 1200)]
test_scale = (1333, 800)

# RandAugment spaces, mmdet's default magnitudes (a random level in [0, max]: Rotate and ShearX/Y up
# to 30 degrees, TranslateX/Y up to 0.1 of the image side).
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
    dict(type='RandomResize', scale=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandAugment', aug_space=color_space, aug_num=1),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
]
sup_pipeline = sup_augmentation + [
    dict(type='MultiBranch', branch_field=branch_field, sup=dict(type='PackDetInputs')),
]
weak_pipeline = [
    dict(type='RandomResize', scale=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=view_meta_keys + hidden_gt_keys),
]
strong_augmentation = [
    dict(type='RandomResize', scale=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
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
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]

labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    ann_file=labeled_ann_file,
    data_prefix=dict(img=labeled_img_dir),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=sup_pipeline,
    backend_args=backend_args)
unlabeled_dataset = dict(
    type='CocoWithHiddenGT',
    hidden_gt_file=hidden_gt_file,
    data_root=data_root,
    metainfo=metainfo,
    ann_file=unlabeled_ann_file,
    data_prefix=dict(img=unlabeled_img_dir),
    filter_cfg=dict(filter_empty_gt=False),
    pipeline=unsup_pipeline,
    backend_args=backend_args)

# Per GPU: 1 labeled + 4 unlabeled images (sr = 0.2); 8 GPUs give the paper's 8 + 32. The loader's
# batch_size must equal the sampler's; the sampler groups by aspect ratio itself.
batch_size = 5
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
