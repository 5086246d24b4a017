"""Options shared by tools/train.py and tools/test.py."""
import argparse
import os

import pytest

from ssod.utils.cli import add_common_arguments, export_local_rank


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
