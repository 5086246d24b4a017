"""``RNGStateHook``: the global random-number generators travel with the checkpoint.

An exact resume needs the random draws of iteration ``k`` (dropout, noise in a loss, augmentations done in
the main process) to be the ones an uninterrupted run would make. mmengine saves the seed, not the state of
the generators, so a resumed run re-seeds and draws the randomness of iteration 0 again. This hook stores
the state of every global generator in ``checkpoint['rng_states']`` and hands it back for the loop to
restore.

What is stored (:func:`get_rng_states`): Python's ``random``, NumPy's legacy global ``np.random``, torch's
CPU generator and, if CUDA is initialised, every CUDA device generator. Only plain data goes into the
checkpoint (ints, floats, strings, lists, ``None`` and uint8 tensors), so it loads with
``torch.load(weights_only=True)`` without any allow-list. Generators that components own (a
``torch.Generator`` inside a sampler, a ``np.random.Generator`` in a transform) are not global and are not
covered; a component that owns one must make it a function of the iteration or save it itself.

When (the part that makes it exact):
    * saved in ``before_save_checkpoint``; mmengine's ``CheckpointHook`` saves in ``after_train_iter`` of
      iteration ``k - 1`` with the lowest priority, i.e. after every other hook of that iteration, so the
      stored state is the one iteration ``k`` starts from, provided nothing draws random numbers between
      the save and the next batch. :class:`ssod.engine.train_loop.SemiIterBasedTrainLoop` runs validation
      with the training generators saved and put back (:func:`preserved_rng_states`), so validation in
      between does not count.
    * ``after_load_checkpoint`` only keeps the states; restoring them then would be too early (weight
      initialisation and building the data iterator draw from torch's generator afterwards). The loop
      calls :meth:`RNGStateHook.restore` as the very last thing before iteration ``k`` and only when it
      resumes (``load_from`` of a checkpoint with states restores nothing).

Distributed runs: mmengine saves checkpoints on rank 0 only, so only rank 0's states are stored. On resume
rank 0 restores them; other ranks keep their freshly seeded generators (logged once), so per-rank
randomness is not reproduced exactly with more than one process. The loop registers this hook itself;
adding it to ``custom_hooks`` too is harmless (the loop then uses that one).
"""
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook

from ssod.registry import HOOKS

CHECKPOINT_KEY = 'rng_states'
FORMAT_VERSION = 1


def get_rng_states() -> Dict[str, Any]:
    """The states of the global generators, as plain data that ``weights_only`` loading accepts."""
    py_version, py_internal, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    rank, world_size = get_dist_info()
    states: Dict[str, Any] = dict(
        version=FORMAT_VERSION,
        rank=int(rank),
        world_size=int(world_size),
        python=[int(py_version), [int(v) for v in py_internal], py_gauss],
        numpy=[str(np_name), np.asarray(np_keys).tolist(), int(np_pos), int(np_has_gauss),
               float(np_gauss)],
        torch=torch.get_rng_state().clone(),
        cuda=None,
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = [state.clone() for state in torch.cuda.get_rng_state_all()]
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Put back states returned by :func:`get_rng_states` (or loaded from a checkpoint)."""
    py_version, py_internal, py_gauss = states['python']
    random.setstate((int(py_version), tuple(int(v) for v in py_internal), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = states['numpy']
    np.random.set_state((np_name, np.asarray(np_keys, dtype=np.uint32), int(np_pos),
                         int(np_has_gauss), float(np_gauss)))
    torch.set_rng_state(torch.as_tensor(states['torch'], dtype=torch.uint8).cpu())
    cuda_states = states.get('cuda')
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) != torch.cuda.device_count():
            raise RuntimeError(f'RNG states: the checkpoint has {len(cuda_states)} CUDA generator '
                               f'states, this process sees {torch.cuda.device_count()} devices')
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8).cpu() for s in cuda_states])


@contextmanager
def preserved_rng_states() -> Iterator[None]:
    """Run a block (validation) without changing the global generators seen by the code after it."""
    saved = get_rng_states()
    try:
        yield
    finally:
        set_rng_states(saved)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store the global RNG states in checkpoints; keep the loaded ones until :meth:`restore`.

    Args:
        strict: on restore, raise instead of warning when a resumed checkpoint has no states (a
            checkpoint written without this hook cannot be continued exactly).
    """

    priority = 'NORMAL'

    def __init__(self, strict: bool = False):
        self.strict = bool(strict)
        self._loaded: Optional[Dict[str, Any]] = None
        self._checkpoint_seen = False

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = get_rng_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._checkpoint_seen = True
        self._loaded = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None

    def restore(self, runner) -> bool:
        """Set the generators to the loaded states (call right before the resumed iteration).

        Returns whether states were restored. The loaded states are used once.
        """
        states, self._loaded = self._loaded, None
        if states is None:
            message = ('RNGStateHook: the resumed checkpoint holds no RNG states (saved without '
                       'RNGStateHook?); random draws after the resume differ from an uninterrupted run')
            if self.strict:
                raise RuntimeError(message)
            if self._checkpoint_seen:
                runner.logger.warning(message)
            return False
        rank, world_size = get_dist_info()
        if rank != 0 and world_size > 1:
            runner.logger.warning(f'RNGStateHook: the checkpoint holds rank 0\'s RNG states only; '
                                  f'rank {rank} keeps its seeded generators (not an exact resume)')
            return False
        set_rng_states(states)
        runner.logger.info(f'RNGStateHook: restored the RNG states saved at iteration {runner.iter}')
        return True

    def __repr__(self) -> str:
        return f'RNGStateHook(strict={self.strict})'
