"""--amp and --auto-scale-lr edit configs, or explain why they cannot."""
import pytest
from mmengine.config import Config

from ssod.apis.config_checks import ConfigError, apply_common_options


def config(**fields):
    return Config(fields)


def test_amp_switches_to_mixed_precision_wrapper():
    cfg = config(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01)))
    apply_common_options(cfg, amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.lr == 0.01


def test_amp_keeps_an_existing_loss_scale():
    cfg = config(optim_wrapper=dict(type='OptimWrapper', loss_scale=512.0, optimizer=dict(type='SGD')))
    apply_common_options(cfg, amp=True)
    assert cfg.optim_wrapper.loss_scale == 512.0


def test_amp_without_optim_wrapper_is_a_clear_error():
    with pytest.raises(ConfigError, match='needs an `optim_wrapper`'):
        apply_common_options(config(), amp=True)


def test_amp_with_a_custom_wrapper_is_a_clear_error():
    with pytest.raises(ConfigError, match="'MyWrapper'"):
        apply_common_options(config(optim_wrapper=dict(type='MyWrapper')), amp=True)


def test_auto_scale_lr_enables_scaling():
    cfg = config(auto_scale_lr=dict(enable=False, base_batch_size=40))
    apply_common_options(cfg, auto_scale_lr=True)
    assert cfg.auto_scale_lr.enable is True and cfg.auto_scale_lr.base_batch_size == 40


def test_auto_scale_lr_without_base_batch_size_is_a_clear_error():
    with pytest.raises(ConfigError, match=r'auto_scale_lr = dict\(base_batch_size=N\)'):
        apply_common_options(config(), auto_scale_lr=True)
