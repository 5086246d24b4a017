"""Real mmengine Runners of a 1-parameter teacher/student (batch size 2, 6 iterations on CPU) for the
tests of the train loop and of the hooks it relies on (RNG states, sampler seed).

The loss draws from torch (dropout, rand), numpy and python ``random``, and the data set draws from torch
in ``__getitem__`` (num_workers=0), so a resume that misses any generator state shows in the losses.
"""
import os.path as osp
import random
import uuid

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset, ConcatDataset, InfiniteSampler, pseudo_collate
from mmengine.hooks import Hook
from torch.utils.data import DataLoader, Dataset, Sampler

import ssod.engine.hooks.sampler_seed  # noqa: F401  (registers ssod's DistSamplerSeedHook)
from ssod.datasets.samplers import GroupSemiBalanceSampler
from tests.engine.hooks.hook_test_utils import ToyTeacherStudent

MAX_ITERS = 6
KILL_AFTER = 3
BATCH = 2


class NoisyTeacherStudent(ToyTeacherStudent):
    """The toy model with random draws from every global generator in its loss; records the losses."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs).float().view(-1, 1)
        out = self.student(x)
        if mode != 'loss':
            return out
        out = F.dropout(out, p=0.5, training=True)
        noise = torch.rand_like(out) + float(np.random.rand()) + random.random()
        loss = ((out + 0.1 * noise - 2.0 * x) ** 2).mean() * float(self.unsup_weight)
        self.seen_unsup_weights.append(self.unsup_weight)
        self.losses.append(loss.item())
        return dict(loss=loss)


class CountingDataset(Dataset):
    """8 scalars; ``__getitem__`` adds a random jitter (main-process torch RNG) and counts its calls."""
    metainfo = dict(classes=('a', ))

    def __init__(self):
        self.loaded = []

    def __len__(self):
        return 8

    def __getitem__(self, index):
        self.loaded.append(index)
        return dict(inputs=torch.tensor([float(index + 1)]) + 0.01 * torch.rand(1), data_samples=None)


class IterIndexedSampler(Sampler):
    """Test-only sampler with the ssod protocol: the indices of iteration t are a function of (seed, t)."""

    def __init__(self, dataset, batch_size, seed=0):
        self.size = len(dataset)
        self.batch_size = batch_size
        self.seed = seed
        self.start_iter = 0
        self.max_iters = None
        self.start_calls = []

    def set_start_iter(self, iteration):
        self.start_iter = int(iteration)
        self.start_calls.append(int(iteration))

    def set_max_iters(self, max_iters):
        self.max_iters = int(max_iters)

    def set_epoch(self, epoch):
        pass

    def __len__(self):
        return self.size

    def __iter__(self):
        t = self.start_iter
        while True:
            g = torch.Generator().manual_seed(self.seed * 100003 + t)
            yield from torch.randint(self.size, (self.batch_size, ), generator=g).tolist()
            t += 1


class CountingSource(BaseDataset):
    """A labeled or unlabeled source for the real sampler: ``n`` landscape 'images' whose sample is a
    jittered scalar (source 1 adds 100, so each sample tells its source); counts its loads."""
    METAINFO = dict(classes=('a', ))

    def __init__(self, n, offset, loaded):
        self.n, self.offset, self.loaded = n, offset, loaded
        super().__init__(serialize_data=False, lazy_init=False)

    def load_data_list(self):
        return [dict(width=8, height=6, value=float(i + 1 + self.offset)) for i in range(self.n)]

    def __getitem__(self, index):
        self.loaded.append((self.offset, index))
        value = self.data_list[index]['value']
        return dict(inputs=torch.tensor([value]) + 0.01 * torch.rand(1), data_samples=None)


def semi_balance_loader(batch=BATCH):
    """The real GroupSemiBalanceSampler over ConcatDataset([labeled(5), unlabeled(9)]): labeled fraction
    0.5, decaying linearly to 0 over the last 3 of the MAX_ITERS iterations."""
    loaded = []
    dataset = ConcatDataset([CountingSource(5, 0, loaded), CountingSource(9, 100, loaded)])
    dataset.loaded = loaded
    sampler = GroupSemiBalanceSampler(
        dataset, batch_size=batch, source_ratio=[1, 1], seed=0, world_size=1, rank=0,
        ratio_schedule=dict(type='linear', begin=-3, end=-1, start_value=0.5, end_value=0.0))
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=0,
                        collate_fn=pseudo_collate)
    return loader, dataset, sampler


class Interrupt(Exception):
    pass


class KillAfter(Hook):
    """Stands in for a killed job: raises after the checkpoint of iteration ``n`` has been written."""
    priority = 'LOWEST'

    def __init__(self, n):
        self.n = n

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.n:
            raise Interrupt


class NoTrainingGuard(Hook):
    """Fails the test instead of hanging if an epoch loop ever starts iterating an infinite sampler."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        raise AssertionError('an iteration started; the epoch-loop check did not fire')


def make_runner(work_dir, sampler='protocol', train_cfg=None, custom_hooks=(), resume_from=None):
    from mmengine.runner import Runner
    if sampler == 'semi_balance':
        loader, dataset, sampler_obj = semi_balance_loader()
        custom_hooks = [dict(type='Weighter', name='unsup_weight', steps=[-2], vals=[1.0, 0.5]),
                        *custom_hooks]
    else:
        dataset = CountingDataset()
        if sampler == 'protocol':
            sampler_obj = IterIndexedSampler(dataset, BATCH, seed=0)
        else:
            sampler_obj = InfiniteSampler(dataset, shuffle=True, seed=0)
        loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler_obj, num_workers=0,
                            collate_fn=pseudo_collate)
    runner = Runner(
        model=NoisyTeacherStudent(),
        work_dir=str(work_dir),
        experiment_name=f'looptest_{uuid.uuid4().hex}',
        default_scope='ssod',
        train_dataloader=loader,
        train_cfg=train_cfg or dict(type='SemiIterBasedTrainLoop', max_iters=MAX_ITERS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=KILL_AFTER, by_epoch=False)),
        custom_hooks=[dict(type='EMATeacherHook'), *custom_hooks],
        randomness=dict(seed=0),
        log_level='WARNING',
        resume=resume_from is not None,
        load_from=resume_from)
    return runner, dataset, sampler_obj


def interrupted_then_resumed(tmp_path, sampler):
    """Train to KILL_AFTER (checkpoint), 'die', resume in a fresh Runner and finish."""
    first, _, _ = make_runner(tmp_path / 'a', sampler, custom_hooks=[KillAfter(KILL_AFTER)])
    with pytest.raises(Interrupt):
        first.train()
    ckpt = osp.join(str(tmp_path / 'a'), f'iter_{KILL_AFTER}.pth')
    assert osp.isfile(ckpt)
    second, dataset, sampler_obj = make_runner(tmp_path / 'b', sampler, resume_from=ckpt)
    second.train()
    return first, second, dataset, sampler_obj, ckpt


def assert_same_continuation(reference, first, second):
    ref_model, model = reference.model, second.model
    assert first.model.losses == ref_model.losses[:KILL_AFTER]
    assert len(model.losses) == MAX_ITERS - KILL_AFTER
    assert model.losses == ref_model.losses[KILL_AFTER:]  # floats compared exactly
    ref_state, state = ref_model.state_dict(), model.state_dict()
    assert set(state) == set(ref_state) and any(k.startswith('teacher.') for k in state)
    for name, value in ref_state.items():
        assert torch.equal(state[name], value), name
    assert not torch.equal(model.teacher.weight, model.student.weight)  # EMA ran, not a copy
