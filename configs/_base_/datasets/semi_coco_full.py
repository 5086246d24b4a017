# Semi-supervised COCO, fully labeled (the Soft Teacher paper's "full" setting): all of train2017 is the
# labeled set, unlabeled2017 (123k images, no boxes: annotations/image_info_unlabeled2017.json) the
# unlabeled set; evaluation on val2017. Pipelines and branches are those of semi_coco.py.
# Per GPU: 4 labeled + 4 unlabeled images (sr = 0.5, the paper's 1:1), 8 GPUs: 32 + 32.
_base_ = './semi_coco.py'

labeled_dataset = _base_.labeled_dataset
labeled_dataset.update(ann_file='annotations/instances_train2017.json',
                       data_prefix=dict(img='train2017/'))
unlabeled_dataset = _base_.unlabeled_dataset
# unlabeled2017 has no boxes anywhere: no hidden ground truth, no pseudo-label precision/recall.
unlabeled_dataset.update(ann_file='annotations/image_info_unlabeled2017.json',
                         data_prefix=dict(img='unlabeled2017/'), hidden_gt_file=None)

batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=8,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 1]),
    dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))
