"""The config of a training run as ``tools/train.py`` builds it: the config file with its command-line
overrides, ``--amp`` / ``--auto-scale-lr``, ``--resume``, and the data checked before anything is built.
Raises :class:`~ssod.apis.config_checks.ConfigError` (the message says what to do)."""
from typing import Optional

from mmengine.config import Config

from .config_checks import apply_common_options
from .data_checks import preflight_check
from .runner import load_config


def preflight_phases(cfg: Config) -> tuple:
    """The dataloaders a training run reads: train, and val when validation is configured."""
    return ('train', 'val') if cfg.get('val_cfg') and cfg.get('val_dataloader') else ('train', )


def training_config(config: str, launcher: str = 'none', cfg_options: Optional[dict] = None,
                    work_dir: Optional[str] = None, resume: Optional[str] = None, amp: bool = False,
                    auto_scale_lr: bool = False) -> Config:
    """The checked config of a training run.

    ``resume``: ``None`` (a new run), ``'auto'`` (the latest checkpoint in the work dir, if any) or the
    path of a checkpoint. The work dir defaults to ``./work_dirs/<config name>[/fold<N>]``.
    """
    cfg = load_config(config, launcher, cfg_options, work_dir, work_dir_per_fold=True)
    apply_common_options(cfg, amp=amp, auto_scale_lr=auto_scale_lr)
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume
    # Mismatched classes or missing data files fail here, before any model or worker is built.
    preflight_check(cfg, phases=preflight_phases(cfg))
    return cfg
