"""Shared fixtures: small generated data sets (no network, no downloads), single-threaded torch."""
import pytest
import torch

from ssod.data import synthetic


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory):
    """A 24-image synthetic shapes set (64 px, 3 classes, 50 % labeled) plus 8 val images.

    Returns the data root; annotation files are ``annotations/{labeled,unlabeled,...}.json``.
    """
    root = str(tmp_path_factory.mktemp('synthetic'))
    synthetic.generate(root, num_images=24, image_size=64, num_classes=3, labeled_percent=50,
                            val_images=8, seed=0, workers=1, print_fn=lambda *_: None)
    return root


@pytest.fixture
def single_torch_thread():
    """torch single-threaded for one test, restored after it: the tiny models gain nothing from
    intra-op threads, and on a shared 2-core machine spinning OpenMP threads make them 10x slower.
    Used with ``pytestmark = pytest.mark.usefixtures('single_torch_thread')`` (or by a conftest)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
