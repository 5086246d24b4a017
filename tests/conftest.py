"""Shared fixtures: small generated data sets (no network, no downloads)."""
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'data'))


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory):
    """A 24-image synthetic shapes set (64 px, 3 classes, 50 % labeled) plus 8 val images.

    Returns the data root; annotation files are ``annotations/{labeled,unlabeled,...}.json``.
    """
    import make_synthetic
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic.generate(root, num_images=24, image_size=64, num_classes=3, labeled_percent=50,
                            val_images=8, seed=0, workers=1, print_fn=lambda *_: None)
    return root
