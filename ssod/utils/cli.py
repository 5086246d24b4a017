"""Command-line options that ``tools/train.py`` and ``tools/test.py`` share."""
import argparse
import os

from mmengine.config import DictAction

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_common_arguments(parser: argparse.ArgumentParser, cfg_options_example: str) -> None:
    """``--cfg-options``, ``--launcher`` and the ``--local-rank`` that older launchers pass."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config entries, e.g. {cfg_options_example}')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace) -> argparse.Namespace:
    """Make ``--local-rank`` visible as ``LOCAL_RANK`` (torchrun sets it itself; the old
    ``torch.distributed.launch`` passes the option instead)."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args
