"""Noisy Student self-training: label the unlabeled images with the teacher, train a noised student on
labeled + pseudo-labeled images, let the student label the next round (ssod/experiments/self_training.py).

    python tools/self_train.py CONFIG --rounds N [--work-dir DIR] [--seed S] [--cfg-options key=value ...]

CONFIG is the student's training config with a ``self_training`` section (configs/noisy_student/). Each
round keeps its own folder (``round<r>/pseudo_labels.json``, ``round<r>/student/``); running the command
again continues where a killed run stopped. Prints the per-round table (also written to rounds.md).
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from ssod.apis.config_checks import ConfigError
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS
from ssod.engine.errors import TrainingStoppedError
from ssod.experiments.self_training import markdown_table, run_self_training


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--work-dir', help='default: work_dirs/<config name>')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help="merged into the student's config (key=value, as tools/train.py)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    work_dir = args.work_dir or osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        records = run_self_training(cfg, args.rounds, work_dir, seed=args.seed)
    except (ConfigError, TrainingStoppedError, FileNotFoundError, *CHECKPOINT_LOAD_ERRORS) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    table = markdown_table(records)
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'rounds.md'), 'w') as f:
        f.write(table)
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
