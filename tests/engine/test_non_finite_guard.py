"""NonFiniteGuardHook in a real Runner: a model whose loss turns NaN in one key. The skipped step is
logged with the iteration, the non-finite loss key (not the finite ones), its branch and the images; the
optimizer step and the EMA teacher update are skipped; too many in a row stop the run with the keys."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.structures import BaseDataElement
from torch.utils.data import Dataset

import ssod.engine.non_finite_guard as guard_module
from ssod.engine.non_finite_guard import SKIPPED_STEPS_KEY, NonFiniteLossError, step_skipped
from tests.engine.hooks.hook_test_utils import ToyTeacherStudent, build_runner


class NaNInOneKey(ToyTeacherStudent):
    """Losses ``sup_loss_cls`` and ``unsup_loss_bbox``; the latter is NaN in the iterations ``nan_at``
    (1-based, counted by forward calls in loss mode)."""

    def __init__(self, nan_at=()):
        super().__init__()
        self.nan_at = set(nan_at)
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode != 'loss':
            return super().forward(inputs, data_samples, mode)
        self.calls += 1
        x = torch.stack(inputs).float().view(-1, 1)
        out = self.student(x)
        unsup = ((out - x) ** 2).mean()
        if self.calls in self.nan_at:
            unsup = unsup * float('nan')
        return dict(sup_loss_cls=((out - 2.0 * x) ** 2).mean(), unsup_loss_bbox=unsup)


class ImagesWithIds(Dataset):
    metainfo = dict(classes=('a', ))

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return dict(inputs=torch.tensor([float(index + 1)]),
                    data_samples=BaseDataElement(metainfo=dict(img_id=f'img{index}')))


class RecordWeights(Hook):
    """After every iteration (after the guard and the EMA hook): student, teacher, skipped flag."""
    priority = 'LOWEST'

    def __init__(self):
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        model = runner.model
        self.seen.append(dict(
            student=[p.detach().clone() for p in model.student.parameters()],
            teacher=[p.detach().clone() for p in model.teacher.parameters()],
            skipped=step_skipped(runner)))


def run(tmp_path, monkeypatch, nan_at, max_iters, max_consecutive_skips=3):
    warnings = []
    monkeypatch.setattr(guard_module, 'print_log', lambda message, **kwargs: warnings.append(message))
    model = NaNInOneKey(nan_at)
    recorder = RecordWeights()
    runner = build_runner(
        tmp_path, [dict(type='NonFiniteGuardHook', max_consecutive_skips=max_consecutive_skips),
                   dict(type='EMATeacherHook', teacher_momentum=0.5), recorder],
        max_iters=max_iters, model=model, checkpoint_interval=2, dataset=ImagesWithIds())
    return runner, recorder, warnings


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_nan_in_one_loss_key_is_named_and_its_step_skipped(tmp_path, monkeypatch):
    runner, recorder, warnings = run(tmp_path, monkeypatch, nan_at=[3], max_iters=5)
    runner.train()
    assert runner.iter == 5  # the run goes on after a skipped step
    assert len(warnings) == 1
    # iteration 3 saw images 0 and 1 again (4 images, batch 2, no shuffle)
    assert warnings[0] == (
        'non-finite guard: skipped the optimizer step and the teacher update of iteration 3: the '
        'loss is nan; non-finite loss keys: unsup_loss_bbox=nan; branch: unsup; images: batch: img0, '
        'img1 (1 in a row; at most 3 allowed)')
    assert 'sup_loss_cls' not in warnings[0]  # finite keys are not named
    seen = recorder.seen
    assert [s['skipped'] for s in seen] == [False, False, True, False, False]
    # iteration 3 left student and teacher exactly as iteration 2 did; the others moved both
    assert same(seen[2]['student'], seen[1]['student'])
    assert same(seen[2]['teacher'], seen[1]['teacher'])
    for i in (1, 3, 4):
        assert not same(seen[i]['student'], seen[i - 1]['student'])
        assert not same(seen[i]['teacher'], seen[i - 1]['teacher'])
    assert all(torch.isfinite(p).all() for s in seen for p in s['student'] + s['teacher'])
    assert runner.message_hub.get_scalar(SKIPPED_STEPS_KEY).current() == 1


def test_too_many_non_finite_steps_in_a_row_stop_with_the_keys(tmp_path, monkeypatch):
    runner, recorder, warnings = run(tmp_path, monkeypatch, nan_at=[3, 4], max_iters=6,
                                     max_consecutive_skips=1)
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert message.startswith('non-finite guard: stopped at iteration 4: the loss is nan; non-finite '
                              'loss keys: unsup_loss_bbox=nan; branch: unsup; images: batch: img2, img3.')
    assert 'non-finite iteration 2 in a row (max_consecutive_skips=1)' in message
    assert f'newest checkpoint, {tmp_path}/iter_2.pth, has finite weights' in message
    assert 'sup_loss_cls' not in message
    assert [s['skipped'] for s in recorder.seen] == [False, False, True]  # stopped inside iteration 4
    assert len(warnings) == 1 and 'iteration 3:' in warnings[0]
