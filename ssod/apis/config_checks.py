"""Command-line options that edit a config, with clear errors when the config cannot take them."""
from mmengine.config import Config


class ConfigError(ValueError):
    """A config that cannot be used as asked; the message names the field and what to do."""


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision with dynamic loss scaling."""
    wrapper = cfg.get('optim_wrapper')
    if wrapper is None:
        raise ConfigError('--amp needs an `optim_wrapper` in the config; this config has none '
                          '(is it a test-only config?).')
    if wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        return
    if wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise ConfigError(f'--amp works with optim_wrapper.type=OptimWrapper, but this config uses '
                          f"{wrapper['type']!r}; set AmpOptimWrapper in the config instead.")
    wrapper.type = 'AmpOptimWrapper'
    wrapper.setdefault('loss_scale', 'dynamic')


def enable_auto_scale_lr(cfg: Config) -> None:
    """Let the Runner scale the learning rate by (actual total batch) / ``auto_scale_lr.base_batch_size``."""
    scale = cfg.get('auto_scale_lr')
    if not scale or 'base_batch_size' not in scale:
        raise ConfigError('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=N)` in the config: '
                          'N is the total batch (GPUs x images per GPU) its learning rate was set for.')
    scale.enable = True


def apply_common_options(cfg: Config, amp: bool = False, auto_scale_lr: bool = False) -> None:
    """Apply ``--amp`` / ``--auto-scale-lr`` to ``cfg`` in place."""
    if amp:
        enable_amp(cfg)
    if auto_scale_lr:
        enable_auto_scale_lr(cfg)
