"""SemiIterBasedTrainLoop: exact O(1) resume, replay fallback (runs of tests/engine/train_loop_runs.py)."""
import os.path as osp

import pytest

from ssod.engine import train_loop as loops_module
from tests.engine.train_loop_runs import (BATCH, KILL_AFTER, MAX_ITERS, Interrupt, KillAfter,
                                          assert_same_continuation, interrupted_then_resumed,
                                          make_runner)


def test_resume_is_exact_and_loads_only_new_batches(tmp_path):
    reference, ref_dataset, _ = make_runner(tmp_path / 'ref')
    reference.train()
    assert len(reference.model.losses) == MAX_ITERS
    assert len(ref_dataset.loaded) == MAX_ITERS * BATCH

    first, second, dataset, sampler, _ = interrupted_then_resumed(tmp_path, 'protocol')
    assert_same_continuation(reference, first, second)
    assert second.iter == MAX_ITERS
    # O(1) resume: only the 3 new iterations' samples went through the data set, and they are the
    # ones the uninterrupted run loaded at iterations 4..6
    assert len(dataset.loaded) == (MAX_ITERS - KILL_AFTER) * BATCH
    assert dataset.loaded == ref_dataset.loaded[KILL_AFTER * BATCH:]
    assert sampler.start_calls == [KILL_AFTER]
    assert sampler.max_iters == MAX_ITERS


def test_resume_is_exact_with_the_semi_balance_sampler_and_weighter(tmp_path):
    """The real stack: GroupSemiBalanceSampler (decaying labeled fraction), Weighter, EMATeacherHook."""
    reference, ref_dataset, ref_sampler = make_runner(tmp_path / 'ref', 'semi_balance')
    reference.train()
    # Labeled images per batch follow the schedule 0.5, 0.5, 0.5, 0.5, 0.25, 0.0 times a batch of 2,
    # rounded cumulatively: 1, 1, 1, 1, then 1 (cumulative 4.5 rounds up to 5), then 0.
    labeled_per_iter = [sum(1 for source, _ in ref_dataset.loaded[i * BATCH:(i + 1) * BATCH]
                            if source == 0) for i in range(MAX_ITERS)]
    assert labeled_per_iter == [ref_sampler.realised_counts(t)[0] for t in range(MAX_ITERS)]
    assert labeled_per_iter == [1, 1, 1, 1, 1, 0]
    assert reference.model.seen_unsup_weights == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]

    first, second, dataset, sampler, _ = interrupted_then_resumed(tmp_path, 'semi_balance')
    assert_same_continuation(reference, first, second)
    assert dataset.loaded == ref_dataset.loaded[KILL_AFTER * BATCH:]  # only new batches loaded
    assert second.model.seen_unsup_weights == [1.0, 0.5, 0.5]
    assert sampler.start_iter == KILL_AFTER


def test_without_rng_restore_the_continuation_differs(tmp_path):
    """Control: the exact match above is due to the restored RNG states, not luck."""
    reference, _, _ = make_runner(tmp_path / 'ref')
    reference.train()
    first, _, _ = make_runner(tmp_path / 'a', custom_hooks=[KillAfter(KILL_AFTER)])
    with pytest.raises(Interrupt):
        first.train()
    second, dataset, _ = make_runner(
        tmp_path / 'b', train_cfg=dict(type='SemiIterBasedTrainLoop', max_iters=MAX_ITERS,
                                       restore_rng=False),
        resume_from=osp.join(str(tmp_path / 'a'), f'iter_{KILL_AFTER}.pth'))
    second.train()
    assert len(dataset.loaded) == (MAX_ITERS - KILL_AFTER) * BATCH
    assert second.model.losses != reference.model.losses[KILL_AFTER:]


def test_sampler_without_set_start_iter_replays_with_warning(tmp_path, monkeypatch):
    messages = []
    original = loops_module.print_log

    def recording_print_log(msg, *args, **kwargs):
        messages.append(msg)
        return original(msg, *args, **kwargs)

    monkeypatch.setattr(loops_module, 'print_log', recording_print_log)
    reference, ref_dataset, _ = make_runner(tmp_path / 'ref', 'replay')
    reference.train()
    assert not any('replays' in m for m in messages)

    first, second, dataset, _, _ = interrupted_then_resumed(tmp_path, 'replay')
    assert_same_continuation(reference, first, second)
    expected = loops_module.REPLAY_WARNING.format(sampler='InfiniteSampler', k=KILL_AFTER)
    assert messages.count(expected) == 1
    assert 'InfiniteSampler has no set_start_iter(); resuming at iteration 3 replays 3 batches' in expected
    # replay: the 3 old iterations are loaded again, then the 3 new ones
    assert len(dataset.loaded) == MAX_ITERS * BATCH
    assert dataset.loaded[KILL_AFTER * BATCH:] == ref_dataset.loaded[KILL_AFTER * BATCH:]
