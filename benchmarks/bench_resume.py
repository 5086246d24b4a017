"""Resume cost: mmengine's IterBasedTrainLoop (replays k batches) vs ssod's SemiIterBasedTrainLoop (O(1)).

Measured: seconds from ``Runner.train()`` being called on a resumed runner to the end of the first
resumed iteration (building the loop, loading the checkpoint, hooks, positioning the data, one iteration).
The data set's ``__getitem__`` sleeps 2 ms (a realistic decode + augment cost per image), batch size 2,
``num_workers=0``; both loops use ssod's GroupSemiBalanceSampler (labeled:unlabeled 1:4), which
implements ``set_start_iter`` (mmengine's loop ignores it and replays). The checkpoint for iteration k is
a checkpoint of iteration 20 whose ``meta['iter']`` is set to k (only the iteration number matters for
the resume path).

Usage: python benchmarks/bench_resume.py [--repeats 3]
Runs in about a minute on a laptop CPU; prints a table, asserts nothing.
"""
import argparse
import os.path as osp
import statistics
import tempfile
import time
import uuid

import torch
from mmengine.dataset import BaseDataset, ConcatDataset, pseudo_collate
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

import ssod  # noqa: F401  (checkpoint loading under weights_only=True)
from ssod.datasets.samplers import GroupSemiBalanceSampler

BATCH_SIZE = 2
ITEM_SECONDS = 0.002
KS = (20, 2000)


class SlowSource(BaseDataset):
    """``n`` landscape 'images' whose ``__getitem__`` costs ITEM_SECONDS (a decode + augment stand-in)."""
    METAINFO = dict(classes=('a', ))

    def __init__(self, n):
        self.n = n
        super().__init__(serialize_data=False, lazy_init=False)

    def load_data_list(self):
        return [dict(width=640, height=480) for _ in range(self.n)]

    def __getitem__(self, index):
        time.sleep(ITEM_SECONDS)
        return dict(inputs=torch.tensor([float(index % 7)]), data_samples=None)


def semi_loader():
    """ssod's GroupSemiBalanceSampler over a labeled (100) + unlabeled (900) ConcatDataset, 1:4."""
    dataset = ConcatDataset([SlowSource(100), SlowSource(900)])
    sampler = GroupSemiBalanceSampler(dataset, batch_size=BATCH_SIZE, source_ratio=[1, 4], seed=0,
                                      world_size=1, rank=0)
    return DataLoader(dataset, batch_size=BATCH_SIZE, sampler=sampler, num_workers=0,
                      collate_fn=pseudo_collate)


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs).view(-1, 1))
        return dict(loss=(out ** 2).mean()) if mode == 'loss' else out


class FirstIterDone(Exception):
    pass


class StopAfterFirstIter(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.done_at = None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.done_at = time.perf_counter()
        raise FirstIterDone


def make_runner(work_dir, loop_type, max_iters, custom_hooks=(), resume_from=None):
    loader = semi_loader()
    return Runner(
        model=TinyModel(),
        work_dir=work_dir,
        experiment_name=f'bench_resume_{uuid.uuid4().hex}',
        default_scope='ssod',
        train_dataloader=loader,
        train_cfg=dict(type=loop_type, max_iters=max_iters, val_interval=10**9),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=10**6),
                           checkpoint=dict(type='CheckpointHook', interval=20, by_epoch=False)),
        custom_hooks=list(custom_hooks),
        randomness=dict(seed=0),
        log_level='ERROR',
        resume=resume_from is not None,
        load_from=resume_from)


def make_checkpoints(root):
    """iter_20.pth from a real 20-iteration run, and copies claiming iteration k."""
    runner = make_runner(osp.join(root, 'base'), 'SemiIterBasedTrainLoop', max_iters=20)
    runner.train()
    base = torch.load(osp.join(root, 'base', 'iter_20.pth'), weights_only=True)
    paths = {}
    for k in KS:
        base['meta']['iter'] = k
        paths[k] = osp.join(root, f'claims_iter_{k}.pth')
        torch.save(base, paths[k])
    return paths


def resume_seconds(root, loop_type, k, checkpoint):
    stop = StopAfterFirstIter()
    runner = make_runner(osp.join(root, f'{loop_type}_{k}_{uuid.uuid4().hex[:6]}'), loop_type,
                         max_iters=k + 100, custom_hooks=[stop], resume_from=checkpoint)
    start = time.perf_counter()
    try:
        runner.train()
    except FirstIterDone:
        pass
    assert runner.iter == k, (runner.iter, k)
    return stop.done_at - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3, help='median over this many runs')
    args = parser.parse_args()
    loops = (('replay (mmengine IterBasedTrainLoop)', 'IterBasedTrainLoop'),
             ('ours (SemiIterBasedTrainLoop)', 'SemiIterBasedTrainLoop'))
    with tempfile.TemporaryDirectory() as root:
        checkpoints = make_checkpoints(root)
        results = {}
        for _, loop_type in loops:
            for k in KS:
                runs = [resume_seconds(root, loop_type, k, checkpoints[k]) for _ in range(args.repeats)]
                results[loop_type, k] = statistics.median(runs)

    print(f'\nResume time, Runner.train() -> first resumed iteration done (median of {args.repeats}; '
          f'__getitem__ {ITEM_SECONDS * 1e3:.0f} ms, batch {BATCH_SIZE}, num_workers=0)')
    header = f'{"loop":<38}' + ''.join(f'{"k=" + str(k):>12}' for k in KS)
    print(header)
    print('-' * len(header))
    for name, loop_type in loops:
        print(f'{name:<38}' + ''.join(f'{results[loop_type, k]:>11.3f}s' for k in KS))
    ours, replay = 'SemiIterBasedTrainLoop', 'IterBasedTrainLoop'
    print(f'\nours k={KS[1]} / ours k={KS[0]}:     {results[ours, KS[1]] / results[ours, KS[0]]:.2f}x')
    print(f'replay k={KS[1]} / ours k={KS[1]}:   {results[replay, KS[1]] / results[ours, KS[1]]:.1f}x')


if __name__ == '__main__':
    main()
