"""SIGKILL during checkpoint saves never loses every checkpoint, and ``--resume`` continues exactly.

One uninterrupted reference run, then a chain of runs of the same config in the same work dir, each
killed (real SIGKILL) at a seeded random file-system event of a checkpoint save (mid-write of the
checkpoint, before/after its fsync, its rename, the write of last_checkpoint, the deletion of the
rotated one) and restarted with ``--resume``. ``max_keep_ckpts=1``, the value that lost everything with
mmengine's hook. After every kill a complete checkpoint is found and it is never older than the one
found before; the chain's last run finishes, and its losses of every iteration (including iterations
run twice after falling back) and its final weights and optimizer state are bit-identical to the
reference.
"""
import glob
import os
import os.path as osp
import random

import torch

from ssod.compat.checkpoint_files import checkpoint_problem, find_resume_checkpoint

from .helpers import read, scalar_records, train_argv, write_config

MAX_ITERS = 8
KILLS = 20
SEED = 20240612


def losses_by_iter(records):
    out = {}
    for record in records:
        if 'loss' in record:
            out.setdefault(record['iter'], []).append(
                {k: v for k, v in record.items() if k.startswith(('loss', 'sup_', 'unsup_'))})
    return out


def final_state(work_dir):
    checkpoint = torch.load(osp.join(work_dir, f'iter_{MAX_ITERS}.pth'), weights_only=True)
    return checkpoint['state_dict'], checkpoint['optimizer']


def assert_same_tensors(a, b, where):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_tensors(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


def test_sigkill_during_saves_then_resume_is_exact(fork_trainer, data_copy, tmp_path):
    config = write_config(tmp_path / 'tiny.py', MAX_ITERS, checkpoint_interval=1,
                          max_keep_ckpts=1)
    reference_dir = str(tmp_path / 'reference')
    result = fork_trainer.train(train_argv(config, reference_dir, data_copy),
                                tmp_path / 'reference.log')
    assert result['exit_code'] == 0, read(tmp_path / 'reference.log')[-3000:]
    events_per_run = int(read(str(tmp_path / 'reference.log') + '.events'))
    # chunks of the checkpoint, fsyncs, renames (and the rotation's removal, from the second save on)
    events_per_save = -(-events_per_run // MAX_ITERS)
    assert events_per_save >= 16

    # Kill points: each run is killed in its first save, at a seeded random event of it; the last
    # events of a save (after the checkpoint's rename: last_checkpoint, the rotation) are few next to
    # the 1 MiB chunks of the write, so each of them is drawn once for sure.
    rng = random.Random(SEED)
    size = events_per_save
    tail = list(range(size - 7, size + 1))
    kill_points = tail + [rng.randint(1, size) for _ in range(KILLS - len(tail))]
    rng.shuffle(kill_points)

    work_dir = str(tmp_path / 'killed')
    kills, found_steps = 0, []
    for run in range(KILLS + 1):
        log = tmp_path / f'run{run}.log'
        argv = train_argv(config, work_dir, data_copy, *(['--resume'] if run else []))
        kill_at = kill_points[run] if run < KILLS else None
        expected = osp.join(work_dir, f'iter_{found_steps[-1]}.pth') if found_steps else None
        result = fork_trainer.train(argv, log, kill_at=kill_at)
        if expected is not None:  # this run started from the newest complete checkpoint
            assert f'resume: continuing from {expected}, the newest complete' in read(log)
        if kill_at is None:
            assert result['exit_code'] == 0, read(log)[-3000:]
            break
        assert result['signal'] == 9, read(log)[-3000:]
        kills += 1
        found, skipped = find_resume_checkpoint(work_dir, [work_dir])
        assert not skipped, skipped  # rename is atomic: no incomplete iter_N.pth is ever visible
        if found is None:
            assert not found_steps, f'kill {kills}: every checkpoint is gone'
            continue
        assert checkpoint_problem(found) == ''
        step = int(osp.basename(found)[len('iter_'):-len('.pth')])
        assert not found_steps or step >= found_steps[-1], (found_steps, step)
        found_steps.append(step)

    assert kills == KILLS
    assert found_steps, 'no save ever completed'

    # Bit-identical continuation: every iteration's losses, final weights and optimizer state.
    reference_losses = losses_by_iter(scalar_records(reference_dir))
    chain_losses = losses_by_iter(scalar_records(work_dir))
    assert sorted(reference_losses) == list(range(1, MAX_ITERS + 1))
    assert set(chain_losses) == set(reference_losses)
    for iteration, records in chain_losses.items():
        for record in records:
            assert record == reference_losses[iteration][0], iteration
    ref_weights, ref_optim = final_state(reference_dir)
    weights, optim = final_state(work_dir)
    assert_same_tensors(ref_weights, weights, 'state_dict')
    assert_same_tensors(ref_optim, optim, 'optimizer')

    # What is left: the last checkpoint only (max_keep_ckpts=1), no temporary file.
    assert sorted(os.listdir(work_dir)).count(f'iter_{MAX_ITERS}.pth') == 1
    assert glob.glob(osp.join(work_dir, 'iter_*.pth')) == [osp.join(work_dir, f'iter_{MAX_ITERS}.pth')]
    assert not glob.glob(osp.join(work_dir, '*.tmp'))
    assert read(osp.join(work_dir, 'last_checkpoint')).strip().endswith(f'iter_{MAX_ITERS}.pth')
