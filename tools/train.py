"""Train a detector (supervised or semi-supervised) from an mmengine config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp] [--auto-scale-lr]
                                 [--cfg-options key=value ...] [--launcher none|pytorch|slurm]

Distributed: ``tools/dist_train.sh`` (torchrun) and ``tools/slurm_train.sh`` (srun) call this with
``--launcher pytorch`` / ``--launcher slurm``. The config is built and checked by
:func:`ssod.apis.train.training_config`; an unusable config or launch exits with ``error: ...``.
"""
import argparse
import sys

import ssod  # noqa: F401  (registers ssod components and the checkpoint allow-list)
from ssod.apis.config_checks import ConfigError
from ssod.apis.distributed import LauncherError
from ssod.apis.runner import add_common_arguments, build_runner, export_local_rank
from ssod.apis.train import training_config
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS
from ssod.engine.errors import TrainingStoppedError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the checkpoint PATH; without PATH, from the latest checkpoint in the '
        'work dir (if any)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate linearly with the actual total batch size')
    add_common_arguments(parser, cfg_options_example='train_cfg.max_iters=1000 fold=3')
    return export_local_rank(parser.parse_args(argv))


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = training_config(args.config, args.launcher, args.cfg_options, args.work_dir,
                              resume=args.resume, amp=args.amp, auto_scale_lr=args.auto_scale_lr)
        runner = build_runner(cfg, args.launcher)
    except (ConfigError, LauncherError) as error:
        sys.exit(f'error: {error}')
    try:
        runner.train()
    except (TrainingStoppedError, *CHECKPOINT_LOAD_ERRORS) as error:
        # a fault check stopped the run, or the checkpoint to resume/load is refused: the message says
        # why and what to do
        sys.exit(f'error: {error}')


if __name__ == '__main__':
    main()
