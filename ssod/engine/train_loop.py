"""``SemiIterBasedTrainLoop``: iteration-based training that resumes at iteration ``k`` in O(1).

Config::

    train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=180000, val_interval=4000)

mmengine's ``IterBasedTrainLoop`` resumes at ``k`` by pulling ``k`` batches through the data pipeline and
throwing them away (hours at ``k`` in the hundred thousands). This loop instead tells the sampler where to
start and builds a fresh data iterator. A sampler takes part by duck typing:

    ``set_start_iter(iteration)``  the next ``__iter__`` starts at global iteration ``iteration``;
    ``set_max_iters(max_iters)``   optional; called once, before the first data iterator is built.

The sampler may be ``dataloader.batch_sampler``, ``dataloader.batch_sampler.sampler`` or
``dataloader.sampler``; every distinct one that has the method is called. A sampler without
``set_start_iter`` gets mmengine's replay, with a warning.

Exactness. With fixed seeds the continuation of a resumed run is bit-identical to an uninterrupted one
(on the same device and software) when
    (a) the sampler's indices at iteration ``t`` depend on ``t`` only (the protocol above);
    (b) the data pipeline's randomness does not depend on history. With ``num_workers=0`` the pipeline
        draws from the main process's generators, which (c) restores, so this holds. With
        ``num_workers > 0`` it does NOT hold for pipelines that draw from the global generators:
        mmengine seeds every worker with ``seed + num_workers * rank + worker_id`` (the same seed each
        time workers start) and each worker's generators then advance with every sample it loads. A
        resumed run starts new workers, whose generators are where the uninterrupted run's were at
        iteration 0, not at ``k``; and batch ``k`` goes to worker 0, not to worker ``k % num_workers``.
        The augmentations after a resume are then different (equally random, not identical) draws.
        Exact with workers needs per-sample seeding, e.g. a transform seeded from
        (seed, iteration, index); replaying does not help either, because a replay re-runs the pipeline
        in the same fresh workers.
    (c) the global generators (torch, numpy, random, CUDA) are restored:
        :class:`ssod.engine.hooks.rng_state.RNGStateHook` stores them in every checkpoint; this loop
        registers the hook if the config has none and restores the states after the new data iterator
        exists (building one draws from torch's generator) and after the ``before_train`` /
        ``before_train_epoch`` hooks, i.e. right before iteration ``k``. Validation runs with the
        generators saved and put back, because the checkpoint of iteration ``k`` is written before the
        validation of iteration ``k`` and the restored states must not miss its draws.
    Other hooks that draw random numbers after ``CheckpointHook`` in ``after_train_iter`` (priority
    ``LOWEST``) break (c); mmengine/mmdet/ssod hooks do not.

Epoch-based loops cannot drive an infinite sampler (the first epoch never ends, and ``len()`` of the
sampler is not an epoch). :func:`check_loop_fits_sampler` raises a ``ValueError`` for that combination;
ssod's ``DistSamplerSeedHook`` (a default hook) calls it.
"""
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator
from torch.utils.data import DataLoader

from ssod.registry import LOOPS
from .dataloader_checks import check_sampler_batch_size
from .hooks.rng_state import RNGStateHook, preserved_rng_states

REPLAY_WARNING = ('{sampler} has no set_start_iter(); resuming at iteration {k} replays {k} batches '
                  'through the data pipeline (slow). Samplers with set_start_iter() resume in O(1).')


def resumable_samplers(dataloader) -> List[object]:
    """The distinct samplers of ``dataloader`` that have ``set_start_iter`` (outermost first)."""
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    candidates = [batch_sampler, getattr(batch_sampler, 'sampler', None),
                  getattr(dataloader, 'sampler', None)]
    found: List[object] = []
    for sampler in candidates:
        if callable(getattr(sampler, 'set_start_iter', None)) and all(s is not sampler for s in found):
            found.append(sampler)
    return found


def check_loop_fits_sampler(loop) -> None:
    """Raise ``ValueError`` if an iteration-resumable (infinite) sampler is driven by a non-iteration loop.

    ``loop`` is the runner's built train loop. Loops that count iterations (subclasses of mmengine's
    ``IterBasedTrainLoop``) are fine; anything else (``EpochBasedTrainLoop``, ``by_epoch=True``) is not.
    """
    dataloader = getattr(loop, 'dataloader', None)
    samplers = resumable_samplers(dataloader) if dataloader is not None else []
    if samplers and not isinstance(loop, IterBasedTrainLoop):
        names = ', '.join(type(s).__name__ for s in samplers)
        raise ValueError(
            f'{names} is an infinite, iteration-indexed sampler and cannot be used with '
            f'{type(loop).__name__}: an epoch of it never ends. Train by iterations instead: '
            f"train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=..., val_interval=...) "
            f'(and by_epoch=False for checkpoints, logging and parameter schedulers).')


@LOOPS.register_module()
class SemiIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` with O(1) exact resume (see the module docstring).

    Args:
        runner, dataloader, max_iters, val_begin, val_interval, dynamic_intervals: as mmengine's
            ``IterBasedTrainLoop``.
        restore_rng: restore the RNG states stored by :class:`RNGStateHook` when resuming
            (registers the hook if the runner has none). Default True.
        preserve_rng_in_val: run validation without changing the training generators. Default True.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None,
                 restore_rng: bool = True,
                 preserve_rng_in_val: bool = True) -> None:
        # mmengine builds the data iterator inside its __init__ (and with workers, they start
        # prefetching at once), so the sampler must learn max_iters before: build the DataLoader here.
        if isinstance(dataloader, dict):
            dataloader = runner.build_dataloader(
                dataloader, seed=runner.seed,
                diff_rank_seed=runner._randomness_cfg.get('diff_rank_seed', False))
        check_sampler_batch_size(dataloader)
        for sampler in resumable_samplers(dataloader):
            if callable(getattr(sampler, 'set_max_iters', None)):
                sampler.set_max_iters(int(max_iters))
        super().__init__(runner, dataloader, max_iters, val_begin=val_begin,
                         val_interval=val_interval, dynamic_intervals=dynamic_intervals)
        self.preserve_rng_in_val = bool(preserve_rng_in_val)
        self.rng_hook: Optional[RNGStateHook] = None
        if restore_rng:
            # Registered now: the runner loads the checkpoint after building the train loop, so the
            # hook sees after_load_checkpoint.
            existing = [h for h in runner.hooks if isinstance(h, RNGStateHook)]
            if existing:
                self.rng_hook = existing[0]
            else:
                self.rng_hook = RNGStateHook()
                runner.register_hook(self.rng_hook)

    # ---------------------------------------------------------------------------------------------

    def _start_at(self, iteration: int) -> None:
        """Position the data stream at ``iteration``: O(1) through the sampler, else by replaying."""
        samplers = resumable_samplers(self.dataloader)
        if samplers:
            for sampler in samplers:
                sampler.set_start_iter(iteration)
            # The old iterator (and its workers' prefetched batches) belongs to iteration 0.
            self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
            print_log(f'SemiIterBasedTrainLoop: resumed at iteration {iteration}; the sampler starts '
                      f'there (no batches replayed)', logger='current', level=logging.INFO)
            return
        sampler = getattr(self.dataloader, 'sampler', None)
        print_log(REPLAY_WARNING.format(sampler=type(sampler).__name__, k=iteration),
                  logger='current', level=logging.WARNING)
        for _ in range(iteration):
            next(self.dataloader_iterator)

    def run(self):
        """Launch training (resuming at ``self._iter`` if a checkpoint was resumed)."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            self._start_at(self._iter)
            if self.rng_hook is not None:
                self.rng_hook.restore(self.runner)  # last: nothing may draw before iteration k
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if self._validation_due():
                if self.preserve_rng_in_val:
                    with preserved_rng_states():
                        self.runner.val_loop.run()
                else:
                    self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _validation_due(self) -> bool:
        if self.runner.val_loop is None or self._iter < self.val_begin:
            return False
        return self._iter % self.val_interval == 0 or self._iter == self._max_iters
