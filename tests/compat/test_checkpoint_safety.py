"""Checkpoints save, load and resume under torch.load(weights_only=True); unsafe pickles are refused."""
import os
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn

import ssod  # noqa: F401
from ssod.compat.checkpoint_safety import UnsafeCheckpointError, load_local_checkpoint
from tests.scripts import load_script

sanitize_checkpoint = load_script('tools/misc/sanitize_checkpoint.py')


class LinearRegressor(BaseModel):
    """y = w.x + b fitted with squared loss; small enough for exact resume comparisons."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        prediction = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((prediction - data_samples) ** 2).mean())
        return prediction


class PointsDataset(torch.utils.data.Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, index):
        x = torch.tensor([index / 16.0, 1.0 - index / 16.0])
        return dict(inputs=x, data_samples=3.0 * x[0] - x[1] + 0.5)


def make_runner(work_dir, max_iters, resume=False, load_from=None):
    torch.manual_seed(0)
    return Runner(
        # Runners started within the same second would otherwise share one message hub instance.
        experiment_name=f'{osp.basename(str(work_dir))}-{uuid.uuid4().hex}',
        model=LinearRegressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=PointsDataset(), sampler=dict(type='InfiniteSampler', shuffle=True, seed=0),
            batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[3], gamma=0.5, by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from)


def test_runner_checkpoint_saves_loads_and_resumes_exactly(tmp_path):
    straight = make_runner(tmp_path / 'straight', max_iters=6)
    straight.train()
    expected = {k: v.clone() for k, v in straight.model.state_dict().items()}

    first = make_runner(tmp_path / 'resumed', max_iters=4)
    first.train()
    checkpoint_path = str(tmp_path / 'resumed' / 'iter_4.pth')
    # The file is loadable with the safe unpickler directly, message hub included.
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert checkpoint['meta']['iter'] == 4
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert 'statistics_methods' not in vars(checkpoint['message_hub']['log_scalars']['train/loss'])

    second = make_runner(tmp_path / 'resumed', max_iters=6, resume=True, load_from=checkpoint_path)
    second.train()
    assert second.iter == 6
    for key, value in second.model.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    # The loss history came back through the message hub: 4 values before, 2 after resuming.
    history, _ = second.message_hub.get_scalar('train/loss').data
    assert len(history) == 6


def test_history_buffer_statistics_survive_a_round_trip(tmp_path):
    buffer = HistoryBuffer([1.0, 2.0, 6.0], [1, 1, 1])
    path = str(tmp_path / 'buffer.pth')
    torch.save(dict(buffer=buffer, eta=np.float64(12.5)), path)
    loaded = load_local_checkpoint(path)
    assert loaded['buffer'].mean() == pytest.approx(3.0)
    assert loaded['buffer'].max() == 6.0
    assert loaded['buffer'].statistics('current') == 6.0
    assert loaded['eta'] == 12.5


class RunsCommandWhenUnpickled:
    """What a malicious checkpoint carries: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_checkpoint_carrying_arbitrary_object_is_refused(tmp_path):
    marker = tmp_path / 'code-ran'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(2)), meta=RunsCommandWhenUnpickled(marker)), path)
    model = nn.Linear(2, 1)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(model, path)  # mmengine's public API goes through the safe loader
    message = str(info.value)
    assert path in message
    assert 'system' in message  # names the refused global (posix.system / nt.system)
    assert 'may be malicious' in message
    assert 'sanitize_checkpoint.py' not in message  # converting it would not make it safe
    assert not marker.exists()


def legacy_history_buffer_state(buffer):
    """How mmengine 0.10.7 pickles a HistoryBuffer: with its table of statistics functions."""
    state = dict(buffer.__dict__)
    state['statistics_methods'] = dict(HistoryBuffer._statistics_methods)
    return state


def test_plain_mmengine_checkpoint_is_refused_then_sanitized(tmp_path, monkeypatch, capsys):
    src, dst = str(tmp_path / 'plain.pth'), str(tmp_path / 'plain_safe.pth')
    monkeypatch.setattr(HistoryBuffer, '__getstate__', legacy_history_buffer_state)
    torch.save(dict(state_dict=dict(w=torch.arange(3.0)),
                    message_hub=dict(log_scalars=dict(loss=HistoryBuffer([0.5, 0.25], [1, 1])))),
               src)
    monkeypatch.undo()

    with pytest.raises(UnsafeCheckpointError, match=r'references (builtins\.)?getattr') as info:
        load_local_checkpoint(src)
    assert f'python tools/misc/sanitize_checkpoint.py {src} ' in str(info.value)
    assert '--trust' not in str(info.value)

    assert sanitize_checkpoint.main([src, dst]) == 0  # the conversion runs no code of the file
    loaded = load_local_checkpoint(dst)
    torch.testing.assert_close(loaded['state_dict']['w'], torch.arange(3.0))
    assert loaded['message_hub']['log_scalars']['loss'].mean() == pytest.approx(0.375)


def test_sanitize_reports_objects_that_stay_unsafe(tmp_path, capsys):
    src, dst = str(tmp_path / 'evil.pth'), str(tmp_path / 'evil_safe.pth')
    torch.save(dict(meta=PointsDataset()), src)
    assert sanitize_checkpoint.main([src, dst, '--trust']) == 1
    err = capsys.readouterr().err
    assert 'PointsDataset' in err and len(err.strip().splitlines()) == 1
    assert not osp.exists(dst)


@pytest.mark.parametrize('trust', [[], ['--trust']])
def test_sanitize_never_runs_the_code_of_a_malicious_checkpoint(tmp_path, capsys, trust):
    marker = tmp_path / 'code-ran'
    src, dst = str(tmp_path / 'evil.pth'), str(tmp_path / 'evil_safe.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(2)), meta=RunsCommandWhenUnpickled(marker)), src)
    assert sanitize_checkpoint.main([src, dst, *trust]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: refused {src} as unsafe: it references ')
    assert 'system' in err and 'may be malicious' in err and len(err.splitlines()) == 1
    assert not marker.exists() and not osp.exists(dst)


def test_getattr_outside_the_mmengine_pattern_is_refused_by_the_conversion(tmp_path, capsys):
    """A crafted file that uses only allowed/convertible names, with getattr reaching a function."""
    import pickle

    from ssod.compat.checkpoint_globals import load_convertible

    class Crafted:
        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')
    src, dst = str(tmp_path / 'crafted.pth'), str(tmp_path / 'crafted_safe.pth')
    torch.save(dict(meta=Crafted()), src)
    with pytest.raises(pickle.UnpicklingError):
        load_convertible(src)
    assert sanitize_checkpoint.main([src, dst]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: refused {src}: ') and len(err.splitlines()) == 1
    assert not osp.exists(dst)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_local_checkpoint(str(tmp_path / 'nowhere.pth'))
