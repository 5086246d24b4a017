"""``train_run``: a finished run is reused, and with ``resume=True`` a run killed midway continues from its
newest checkpoint instead of starting again from ``load_from``."""
import os
import os.path as osp

import pytest
from mmengine.config import Config

from ssod.experiments.accuracy import data_root_options, length_options
from ssod.experiments.training_run import RESULT_FILE, train_run

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def config(root, iters):
    cfg = data_root_options(Config.fromfile('configs/accuracy/synthetic/burn_in.py'), root)
    cfg.merge_from_dict(length_options(cfg, iters))
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg.merge_from_dict({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False,
                             f'{loader}.batch_size': 4})
    cfg.train_dataloader.sampler.batch_size = 4
    cfg.merge_from_dict({'default_hooks.checkpoint.interval': 1, 'default_hooks.checkpoint.max_keep_ckpts': 5})
    return cfg


def test_resume_continues_from_the_newest_checkpoint(synthetic_data, tmp_path):
    work_dir = str(tmp_path / 'run')
    first = train_run(config(synthetic_data, 2), work_dir, 0, 'tiny')
    assert first.iters == 2 and osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    assert train_run(config(synthetic_data, 2), work_dir, 0, 'tiny') == first  # kept, not trained again

    # As if killed after iteration 2 of a 3-iteration run: the result is gone, the checkpoints stay.
    os.remove(osp.join(work_dir, RESULT_FILE))
    stamps = {name: osp.getmtime(osp.join(work_dir, name)) for name in ('iter_1.pth', 'iter_2.pth')}
    resumed = train_run(config(synthetic_data, 3), work_dir, 0, 'tiny', load_from='/does/not/matter.pth',
                        resume=True)
    assert resumed.iters == 3 and resumed.checkpoint == osp.join(work_dir, 'iter_3.pth')
    # iterations 1 and 2 were not trained again (their checkpoints were not rewritten)
    assert {name: osp.getmtime(osp.join(work_dir, name)) for name in stamps} == stamps
