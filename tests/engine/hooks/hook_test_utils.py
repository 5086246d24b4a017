"""Helpers imported by the hook tests: a toy teacher-student model, a tiny data set, a factory for
a real mmengine Runner (IterBasedTrainLoop) and a fake runner with just the attributes hooks read.

Not a conftest.py: tests/conftest.py already owns that module name, so an explicit import is clearer.
"""
import logging
import uuid

import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

import ssod.engine  # noqa: F401  (registers the hooks)


class ToyTeacherStudent(BaseModel):
    """Teacher and student are ``nn.Linear(1, 1)``; the loss reads ``unsup_weight`` and records it."""

    def __init__(self, unsup_weight: float = 1.0):
        super().__init__()
        self.teacher = nn.Linear(1, 1)
        self.student = nn.Linear(1, 1)
        with torch.no_grad():
            self.student.weight.fill_(1.0)
            self.student.bias.fill_(0.0)
            self.teacher.weight.fill_(-3.0)  # distinct from the student: a copy is visible
            self.teacher.bias.fill_(5.0)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.unsup_weight = unsup_weight
        self.semi_train_cfg = dict(unsup_weight=1.0)
        self.seen_unsup_weights = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs).float().view(-1, 1)
        out = self.student(x)
        if mode == 'loss':
            self.seen_unsup_weights.append(self.unsup_weight)
            return dict(loss=((out - 2.0 * x) ** 2).mean() * float(self.unsup_weight))
        return out


class ToyDataset(Dataset):
    metainfo = dict(classes=('a', ))

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return dict(inputs=torch.tensor([float(index + 1)]), data_samples=None)


def build_runner(work_dir, custom_hooks, max_iters=6, model=None, checkpoint_interval=3, dataset=None,
                 **kwargs):
    """A real Runner with IterBasedTrainLoop, deterministic data order and plain SGD (data set: a
    :class:`ToyDataset` unless ``dataset`` is given)."""
    from mmengine.runner import Runner
    kwargs.setdefault('log_level', 'WARNING')
    return Runner(
        model=model if model is not None else ToyTeacherStudent(),
        work_dir=str(work_dir),
        experiment_name=f'hooktest_{uuid.uuid4().hex}',
        default_scope='ssod',
        train_dataloader=dict(
            dataset=dataset if dataset is not None else ToyDataset(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False)),
        custom_hooks=custom_hooks,
        **kwargs)


class FakeRunner:
    """The few runner attributes the hooks read: model, iter, max_iters, message_hub, logger."""

    def __init__(self, model, max_iters=10, iteration=0):
        self.model = model
        self.iter = iteration
        self.max_iters = max_iters
        self.message_hub = MessageHub.get_instance(f'fake_runner_{uuid.uuid4().hex}')
        self.logger = logging.getLogger('fake_runner')
