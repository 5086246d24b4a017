"""Checkpoint files: completeness checks, the choice of the checkpoint to resume from, clear load errors,
and ssod's CheckpointHook in a real (toy) Runner: resume skips damaged files, leftovers are removed."""
import os
import os.path as osp
import uuid

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import ssod  # noqa: F401
from ssod.compat.checkpoint_files import (CorruptCheckpointError, atomic_write_text, checkpoint_problem,
                                          find_resume_checkpoint)
from ssod.compat.checkpoint_safety import load_local_checkpoint
from ssod.engine.hooks.atomic_checkpoint import CheckpointHook
from ssod.registry import HOOKS
from tests.scripts import load_script
from .helpers import SYNTHETIC_CONFIG


def save(path, value=1.0):
    torch.save({'state_dict': {'w': torch.full((1000, ), value)}, 'meta': {'iter': 1}}, path)
    return str(path)


def truncate(path, keep=0.5):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])


def test_checkpoint_problem_names_what_is_wrong(tmp_path):
    good = save(tmp_path / 'good.pth')
    assert checkpoint_problem(good) == ''
    assert checkpoint_problem(str(tmp_path / 'nowhere.pth')) == 'does not exist'
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    assert checkpoint_problem(str(empty)) == 'is empty (0 bytes)'
    cut = save(tmp_path / 'cut.pth')
    truncate(cut)
    size = osp.getsize(cut)
    assert checkpoint_problem(cut).startswith(
        f'is truncated or not a torch checkpoint ({size} bytes; the zip archive cannot be read: ')
    flipped = save(tmp_path / 'flipped.pth')
    data = bytearray(open(flipped, 'rb').read())
    position = data.index(torch.full((1, ), 1.0).numpy().tobytes()) + 8  # inside the tensor's record
    data[position] ^= 0xFF
    open(flipped, 'wb').write(bytes(data))
    assert checkpoint_problem(flipped).startswith('is corrupt (')
    assert 'the CRC of its record' in checkpoint_problem(flipped)


def test_resume_candidate_is_the_newest_complete_checkpoint(tmp_path):
    work = str(tmp_path)
    save(tmp_path / 'iter_2.pth')
    save(tmp_path / 'iter_4.pth')
    truncate(save(tmp_path / 'iter_6.pth'))
    (tmp_path / 'iter_8.pth').write_bytes(b'')
    atomic_write_text(osp.join(work, 'last_checkpoint'), osp.join(work, 'iter_8.pth'))
    found, skipped = find_resume_checkpoint(work, [work])
    assert found == osp.join(work, 'iter_4.pth')
    assert [(osp.basename(p), reason.split(' (')[0]) for p, reason in skipped] == [
        ('iter_8.pth', 'is empty'), ('iter_6.pth', 'is truncated or not a torch checkpoint')]
    assert skipped[0][1] == f'is empty (0 bytes) (named in {work}/last_checkpoint)'


@pytest.mark.parametrize('damage', ['empty', 'truncated'])
def test_loading_a_damaged_checkpoint_names_the_file(tmp_path, damage):
    path = save(tmp_path / 'iter_3.pth')
    truncate(path, 0.0 if damage == 'empty' else 0.5)
    with pytest.raises(CorruptCheckpointError) as info:
        load_local_checkpoint(path)
    problem = checkpoint_problem(path, verify_crc=False)
    assert str(info.value) == (
        f'cannot load checkpoint {path}: it {problem}. It was probably written by a save that did not '
        f'finish. To continue training, resume without a path (tools/train.py CONFIG --resume), which '
        f'picks the newest complete checkpoint of the work dir, or name an older checkpoint.')


class Regressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        prediction = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((prediction - data_samples) ** 2).mean())
        return prediction


class Points(torch.utils.data.Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, index):
        x = torch.tensor([index / 16.0, 1.0 - index / 16.0])
        return dict(inputs=x, data_samples=3.0 * x[0] - x[1] + 0.5)


def make_runner(work_dir, max_iters, resume=False):
    torch.manual_seed(0)
    return Runner(
        experiment_name=f'{osp.basename(str(work_dir))}-{uuid.uuid4().hex}',
        model=Regressor(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=Points(), sampler=dict(type='InfiniteSampler', shuffle=True, seed=0),
                              batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_scope='ssod',
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False,
                                           max_keep_ckpts=2),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), resume=resume)


def test_the_ssod_checkpoint_hook_is_the_configs_checkpoint_hook():
    assert HOOKS.get('CheckpointHook') is CheckpointHook


def test_runner_resume_skips_damaged_checkpoints_and_removes_leftovers(tmp_path, caplog):
    work = tmp_path / 'run'
    runner = make_runner(work, max_iters=6)
    runner.train()
    assert sorted(p for p in os.listdir(work) if p.endswith('.pth')) == ['iter_4.pth', 'iter_6.pth']
    assert open(work / 'last_checkpoint').read() == str(work / 'iter_6.pth')
    truncate(str(work / 'iter_6.pth'))  # what mmengine's in-place write left when killed
    (work / 'iter_8.pth.tmp').write_bytes(b'partial')

    resumed = make_runner(work, max_iters=8, resume=True)
    resumed.train()
    log = open(resumed.logger.log_file).read()
    assert f'resume: skipped {work}/iter_6.pth: it is truncated or not a torch checkpoint' in log
    assert f'resume: continuing from {work}/iter_4.pth, the newest complete checkpoint' in log
    assert f'removed {work}/iter_8.pth.tmp, left by a checkpoint save that did not finish' in log
    assert resumed.iter == 8
    assert sorted(p for p in os.listdir(work) if 'pth' in p) == ['iter_6.pth', 'iter_8.pth']
    assert all(checkpoint_problem(str(work / name)) == '' for name in ('iter_6.pth', 'iter_8.pth'))


@pytest.mark.parametrize('tool,kind', [('train', 'malicious'), ('test', 'empty')])
def test_tools_report_a_refused_checkpoint_in_one_line(tmp_path, synthetic_data, capsys, tool, kind):
    module = load_script(f'tools/{tool}.py')
    path = str(tmp_path / 'bad.pth')
    if kind == 'malicious':
        torch.save({'state_dict': {}, 'meta': {'hook': os.system}}, path)
    else:
        open(path, 'wb').close()
    root = synthetic_data.rstrip('/') + '/'
    options = [f'train_dataloader.dataset.datasets.0.data_root={root}',
               f'train_dataloader.dataset.datasets.1.data_root={root}',
               f'val_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.data_root={root}',
               f'val_evaluator.ann_file={root}annotations/val.json',
               f'test_evaluator.ann_file={root}annotations/val.json']
    argv = ([SYNTHETIC_CONFIG, '--work-dir', str(tmp_path / 'w'), '--resume', path] if tool == 'train'
            else [SYNTHETIC_CONFIG, path, '--work-dir', str(tmp_path / 'w')])
    with pytest.raises(SystemExit) as info:
        module.main(argv + ['--cfg-options', *options])
    message = str(info.value.code)
    assert len(message.splitlines()) == 1
    expected = (f'error: refused to load checkpoint {path} as unsafe: it references ' if kind == 'malicious'
                else f'error: cannot load checkpoint {path}: it is empty (0 bytes).')
    assert message.startswith(expected)
