"""The supervised tree-crown config trains, validates, checkpoints and resumes through tools/train.py,
here on a small synthetic data set so that it runs in seconds on a CPU."""
import glob
import json
import os.path as osp
import uuid

import pytest
import torch

from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
train = load_script('tools/train.py')

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo',
                       'faster_rcnn_r18_tiny_tree_crowns_supervised.py')
SYNTHETIC_CLASSES = ('ellipse', 'rectangle', 'triangle')


def synthetic_overrides(data_root, max_iters):
    """--cfg-options that point the demo config at the synthetic data set and shorten it."""
    root = data_root.rstrip('/') + '/'
    classes = '(' + ','.join(f"'{c}'" for c in SYNTHETIC_CLASSES) + ')'
    options = [
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
        'model.roi_head.bbox_head.num_classes=3',
        'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=3', f'val_evaluator.ann_file={root}annotations/val.json',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={root}', f'{loader}.dataset.metainfo.classes={classes}',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False', f'{loader}.batch_size=4'
        ]
    return options


def test_train_then_resume_continues_from_the_checkpoint(synthetic_data, tmp_path):
    work_dir = str(tmp_path / 'run')
    # A visualizer of its own for both runs: mmengine hands a Runner the existing instance of the same
    # name, which an earlier test in this process may have created with its own save dir.
    visualizer = f'visualizer.name=demo_resume_{uuid.uuid4().hex}'
    train.main([DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
                *synthetic_overrides(synthetic_data, max_iters=2), visualizer])
    first = torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)
    assert first['meta']['iter'] == 2

    train.main([DEMO_CONFIG, '--work-dir', work_dir, '--resume', '--cfg-options',
                *synthetic_overrides(synthetic_data, max_iters=4), visualizer])
    second = torch.load(osp.join(work_dir, 'iter_4.pth'), weights_only=True)
    assert second['meta']['iter'] == 4
    # Resuming restored the optimizer state and continued: weights moved on from iteration 2.
    key = 'roi_head.bbox_head.fc_cls.weight'
    assert not torch.equal(first['state_dict'][key], second['state_dict'][key])
    assert second['optimizer']['state'], 'optimizer momentum was not carried over'
    # Both runs validated after their last iteration, and the resumed run continued the linear
    # warm-up where it stopped instead of restarting it (one visualizer per process collects both).
    records = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            records += [json.loads(line) for line in f]
    assert sum('coco/bbox_mAP' in record for record in records) == 2
    learning_rates = [record['lr'] for record in records if 'lr' in record]
    assert len(learning_rates) == 4
    assert learning_rates == sorted(learning_rates) and len(set(learning_rates)) == 4
