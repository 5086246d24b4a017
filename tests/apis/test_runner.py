"""Options shared by tools/train.py and tools/test.py."""
import argparse
import os

import pytest

from ssod.apis.runner import add_common_arguments, export_local_rank


def parser():
    p = argparse.ArgumentParser()
    add_common_arguments(p, cfg_options_example='fold=3')
    return p


def test_cfg_options_become_a_dict_and_the_launcher_is_checked(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    args = export_local_rank(parser().parse_args(
        ['--cfg-options', 'fold=3', 'train_cfg.max_iters=10', '--launcher', 'slurm', '--local-rank', '2']))
    assert args.cfg_options == {'fold': 3, 'train_cfg.max_iters': 10}
    assert args.launcher == 'slurm'
    assert os.environ['LOCAL_RANK'] == '2'
    with pytest.raises(SystemExit):
        parser().parse_args(['--launcher', 'kubernetes'])


def test_an_existing_local_rank_wins(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '1')
    export_local_rank(parser().parse_args(['--local_rank', '5']))
    assert os.environ['LOCAL_RANK'] == '1'


def test_load_config_merges_options_then_fills_the_split_templates(tmp_path):
    from ssod.apis.runner import load_config
    from ssod.apis.config_checks import ConfigError
    config = tmp_path / 'semi_cfg.py'
    config.write_text("fold = 1\npercent = 10\nann_file = 'x.{fold}@{percent}.json'\n")
    cfg = load_config(str(config), 'none', {'fold': 3}, None, work_dir_per_fold=True)
    assert cfg.ann_file == 'x.3@10.json' and cfg.launcher == 'none'
    assert cfg.work_dir == './work_dirs/semi_cfg/fold3'
    assert load_config(str(config), 'slurm', None, None).work_dir == './work_dirs/semi_cfg'
    assert load_config(str(config), 'none', None, 'elsewhere').work_dir == 'elsewhere'
    with pytest.raises(ConfigError, match='config file .*missing.py does not exist'):
        load_config(str(tmp_path / 'missing.py'), 'none', None, None)
