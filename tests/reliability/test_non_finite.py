"""A diverging run (lr=1e6) stops with a message naming the iteration, the loss keys and the newest
checkpoint; every checkpoint it wrote has finite weights, and skipped steps did not move the teacher."""
import glob
import os.path as osp
import re

import torch

from ssod.engine.non_finite_guard import non_finite_keys

from .helpers import read, train_argv, write_config

MAX_ITERS = 10


def test_lr_1e6_stops_with_the_iteration_keys_and_a_finite_checkpoint(fork_trainer, data_copy,
                                                                     tmp_path):
    config = write_config(tmp_path / 'diverge.py', MAX_ITERS, checkpoint_interval=1,
                          max_keep_ckpts=MAX_ITERS,
                          extra='optim_wrapper = dict(optimizer=dict(lr=1e6))\n'
                                "default_hooks.update(non_finite_guard=dict(max_consecutive_skips=2))")
    work_dir = str(tmp_path / 'work')
    log_path = tmp_path / 'diverge.log'
    result = fork_trainer.train(train_argv(config, work_dir, data_copy), log_path)
    log = read(log_path)
    assert result['exit_code'] == 1, log[-3000:]

    error_lines = [line for line in log.splitlines() if line.startswith('error: non-finite guard')]
    assert len(error_lines) == 1, log[-3000:]
    error = error_lines[0]
    stop = re.match(r'error: non-finite guard: (stopped at iteration (\d+): |the optimizer step of '
                    r'iteration (\d+) made weights non-finite)', error)
    assert stop, error
    newest = re.search(r'[Tt]he newest checkpoint, (\S+), has finite weights', error)
    assert newest, error
    if stop.group(2):  # too many non-finite losses in a row
        iteration = int(stop.group(2))
        assert 'non-finite loss keys: ' in error and 'branch: ' in error and 'images: ' in error
        assert 'This is non-finite iteration 3 in a row (max_consecutive_skips=2)' in error
        skipped = [int(i) for i in re.findall(
            r'non-finite guard: skipped the optimizer step and the teacher update of iteration (\d+)',
            log)]
        assert skipped == [iteration - 2, iteration - 1]
    checkpoints = sorted(glob.glob(osp.join(work_dir, 'iter_*.pth')),
                         key=lambda p: int(re.search(r'iter_(\d+)', p).group(1)))
    assert checkpoints and newest.group(1) == checkpoints[-1]
    states = {}
    for path in checkpoints:
        state = torch.load(path, weights_only=True)['state_dict']
        assert non_finite_keys(state) == [], path
        states[int(re.search(r'iter_(\d+)', path).group(1))] = state
    if stop.group(2):
        # An iteration whose step was skipped leaves student and teacher exactly as they were.
        for i in skipped:
            if i in states and i - 1 in states:
                for key, value in states[i].items():
                    assert torch.equal(value, states[i - 1][key]), (i, key)
