"""Fixtures of the pseudo-label analysis tests."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ssod.registry import MODELS  # importing ssod registers its models

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_SOFT_TEACHER_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                                         'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')


@pytest.fixture(scope='module')
def init_checkpoint(tmp_path_factory):
    """A hand-made checkpoint: the synthetic SoftTeacher model at its (seeded) random init."""
    init_default_scope('ssod')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(SYNTHETIC_SOFT_TEACHER_CONFIG).model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'random_init.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path
