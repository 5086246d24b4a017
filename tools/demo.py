"""Train the demo config, evaluate it on the val split and print the mAP (what `make demo` runs).

    python tools/demo.py [CONFIG] [--work-dir DIR] [--cfg-options key=value ...]

Uses the GPU when one is visible, otherwise the CPU. The data must exist first
(`python tools/data/prepare_tree_crowns.py --out data/tree_crowns`).
"""
import argparse
import sys
import time

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

import ssod  # noqa: F401
from ssod.utils.data_checks import missing_data_paths

DEFAULT_CONFIG = 'configs/soft_teacher/soft_teacher_faster_rcnn_r18_tiny_tree_crowns.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


class KeepLastMetrics(Hook):
    """Remembers the metrics of the last validation, so the final one need not be run twice."""
    priority = 'LOWEST'

    def __init__(self):
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


def check_data(cfg: Config) -> None:
    """Stop with the command that makes the data when a file or folder of the demo data is missing."""
    missing = missing_data_paths(cfg, phases=('train', 'val'))
    if missing:
        sys.exit('error: the demo data is missing:\n  ' + '\n  '.join(missing) + '\nMake it first: '
                 'python tools/data/prepare_tree_crowns.py --out data/tree_crowns')


def map_lines(metrics: dict) -> list:
    """One line per evaluated model: a plain detector's ``coco/...`` keys, or the ``teacher/coco/...``
    and ``student/coco/...`` keys of a semi-supervised detector validated by ``SemiValLoop``."""
    prefixes = [p for p in ('teacher/', 'student/') if f'{p}coco/bbox_mAP' in metrics] or ['']
    lines = []
    for prefix in prefixes:
        label = f'val bbox mAP ({prefix[:-1]})' if prefix else 'val bbox mAP'
        lines.append(f'{label}: {metrics[prefix + "coco/bbox_mAP"]:.3f}   '
                     f'mAP@0.5: {metrics[prefix + "coco/bbox_mAP_50"]:.3f}   '
                     f'mAP@0.75: {metrics[prefix + "coco/bbox_mAP_75"]:.3f}')
    return lines


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    check_data(cfg)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    last_metrics = KeepLastMetrics()
    runner.register_hook(last_metrics)
    runner.train()  # the iteration-based loop always validates after its last iteration
    metrics = last_metrics.metrics
    minutes = (time.time() - start) / 60
    print('=' * 72)
    print(f'demo config : {args.config}')
    print(f'iterations  : {cfg.train_cfg.max_iters}  (training + evaluation: {minutes:.1f} min)')
    for line in map_lines(metrics):
        print(line)
    print(f'work dir    : {args.work_dir}')
    print('=' * 72)
    return metrics


if __name__ == '__main__':
    main()
