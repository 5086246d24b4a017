"""Command-line options and start-up steps that ``tools/train.py`` and ``tools/test.py`` share: loading
the config with its overrides, and building the Runner after the launcher's set-up. Errors are raised
(:class:`~ssod.apis.config_checks.ConfigError`, :class:`~ssod.apis.distributed.LauncherError`); the tools
turn them into an ``error: ...`` exit."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from ssod.registry import RUNNERS

from .config_checks import ConfigError
from .distributed import setup_launcher
from .split_placeholders import resolve_split_placeholders

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


def load_config(config: str, launcher: str, cfg_options: Optional[dict], work_dir: Optional[str],
                work_dir_per_fold: bool = False) -> Config:
    """The config file with ``--cfg-options`` merged, the launcher and the work dir set, and
    ``{fold}`` / ``{percent}`` split templates filled in (after the merge, so ``fold=3`` counts).

    Work dir: ``work_dir`` if given, else the config's, else ``./work_dirs/<config name>`` (with
    ``work_dir_per_fold``, plus ``fold<N>`` for configs that have a ``fold``: one folder per split).
    """
    if not osp.isfile(config):
        raise ConfigError(f'config file {config} does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
        if work_dir_per_fold and cfg.get('fold') is not None:
            cfg.work_dir = osp.join(cfg.work_dir, 'fold{fold}')
    return resolve_split_placeholders(cfg)


def build_runner(cfg: Config, launcher: str):
    """The Runner of ``cfg`` (the config's ``runner_type`` if it names one), after the launcher's
    process-group set-up (:func:`~ssod.apis.distributed.setup_launcher`, which raises
    :class:`~ssod.apis.distributed.LauncherError` for a launch that cannot work)."""
    setup_launcher(cfg, launcher)  # rank variables; gloo on machines without CUDA
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
