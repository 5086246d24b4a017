"""Fixtures of the fault-injection tests (real training processes on tiny synthetic data)."""
import shutil

import pytest

from .helpers import ForkTrainer


@pytest.fixture(scope='session')
def fork_trainer():
    trainer = ForkTrainer()
    yield trainer
    trainer.close()


@pytest.fixture
def data_copy(synthetic_data, tmp_path):
    """A private copy of the synthetic data set (tests damage images and annotation files)."""
    root = str(tmp_path / 'data')
    shutil.copytree(synthetic_data, root)
    return root
