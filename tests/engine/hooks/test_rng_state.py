"""RNGStateHook: the generator states in checkpoints load under weights_only=True without any allow-list;
``preserved_rng_states`` hides the draws of a block."""
import os.path as osp
import random

import numpy as np
import pytest
import torch

from ssod.engine.hooks.rng_state import CHECKPOINT_KEY, RNGStateHook
from ssod.engine.train_loop import SemiIterBasedTrainLoop
from tests.engine.train_loop_runs import KILL_AFTER, Interrupt, KillAfter, make_runner


def test_rng_states_load_with_weights_only_and_no_allow_list(tmp_path):
    first, _, _ = make_runner(tmp_path, custom_hooks=[KillAfter(KILL_AFTER)])
    with pytest.raises(Interrupt):
        first.train()
    assert isinstance(first.train_loop, SemiIterBasedTrainLoop)
    assert sum(isinstance(h, RNGStateHook) for h in first.hooks) == 1
    checkpoint = torch.load(osp.join(str(tmp_path), f'iter_{KILL_AFTER}.pth'), weights_only=True)
    states = checkpoint[CHECKPOINT_KEY]
    assert set(states) >= {'python', 'numpy', 'torch', 'cuda', 'version'}
    path = str(tmp_path / 'rng_only.pth')
    torch.save(states, path)
    # ssod adds numpy/HistoryBuffer to torch's allow-list on import; the RNG states need none of it
    user_globals = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        loaded = torch.load(path, weights_only=True)
    finally:
        torch.serialization.add_safe_globals(user_globals)
    assert torch.equal(loaded['torch'], states['torch'])
    assert loaded['numpy'][1] == states['numpy'][1] and len(loaded['numpy'][1]) == 624
    assert loaded['python'][1] == states['python'][1] and len(loaded['python'][1]) == 625


def test_preserved_rng_states_hides_the_draws_of_a_block():
    from ssod.engine.hooks.rng_state import get_rng_states, preserved_rng_states, set_rng_states
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    saved = get_rng_states()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_states(saved)
    with preserved_rng_states():  # e.g. validation
        torch.rand(5), np.random.rand(5), random.random(), torch.randn(2)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]
