"""Train a detector (supervised or semi-supervised) from an mmengine config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp] [--auto-scale-lr]
                                 [--cfg-options key=value ...] [--launcher none|pytorch|slurm]

Distributed: ``tools/dist_train.sh`` (torchrun) and ``tools/slurm_train.sh`` (srun) call this with
``--launcher pytorch`` / ``--launcher slurm``.
"""
import argparse
import sys

from mmengine.config import Config

import ssod  # noqa: F401  (registers ssod components and the checkpoint allow-list)
from ssod.utils.cli import add_common_arguments, build_runner, export_local_rank, load_config
from ssod.utils.config_checks import ConfigError, apply_common_options
from ssod.utils.data_checks import preflight_check


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


def build_config(args) -> Config:
    cfg = load_config(args.config, args.launcher, args.cfg_options, args.work_dir,
                      work_dir_per_fold=True)
    apply_common_options(cfg, amp=args.amp, auto_scale_lr=args.auto_scale_lr)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def preflight_phases(cfg) -> tuple:
    """The dataloaders a training run reads: train, and val when validation is configured."""
    return ('train', 'val') if cfg.get('val_cfg') and cfg.get('val_dataloader') else ('train', )


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        # Mismatched classes or missing data files fail here, before any model or worker is built.
        preflight_check(cfg, phases=preflight_phases(cfg))
    except ConfigError as error:
        sys.exit(f'error: {error}')
    runner = build_runner(cfg, args.launcher)
    runner.train()


if __name__ == '__main__':
    main()
