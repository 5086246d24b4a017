"""``GroupSemiBalanceSampler``: infinite multi-source group sampler with a scheduled per-source ratio.

The Soft Teacher paper sets the *data sampling ratio* ``sr`` (the labeled fraction of a batch) to 0.2
and decays it to 0 over the last 10k iterations (partially labeled COCO), or 0.5 -> 0 over the last
20k (fully labeled COCO). This sampler realises that fraction **exactly over the global batch**
(all GPUs together), at every iteration, as a pure function of the iteration.

Config
------
Partially labeled COCO (180k iterations, 8 GPUs x 5 images, sr 0.2 -> 0 over the last 10k)::

    max_iters = 180000
    train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
    train_dataloader = dict(
        batch_size=5,                       # must equal the sampler's batch_size
        num_workers=5,
        persistent_workers=True,
        sampler=dict(
            type='GroupSemiBalanceSampler',
            batch_size=5,
            source_ratio=[1, 4],            # labeled : unlabeled
            ratio_schedule=dict(type='linear', begin=-10000, end=-1,
                                start_value=0.2, end_value=0.0),
            max_iters=max_iters),           # resolves the negative (end-relative) positions
        batch_sampler=None,                 # mmdet's base configs set AspectRatioBatchSampler: remove it
        dataset=dict(type='ConcatDataset', datasets=[labeled_dataset, unlabeled_dataset]))

Fully labeled COCO (720k iterations, 8 GPUs x 8 images, sr 0.5 -> 0 over the last 20k)::

    max_iters = 720000
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=8, source_ratio=[1, 1],
                 ratio_schedule=dict(type='linear', begin=-20000, end=-1,
                                     start_value=0.5, end_value=0.0),
                 max_iters=max_iters)

``max_iters`` can be given in the sampler config (as above: configs reference the same variable as
``train_cfg``) **or** set by the training loop with :meth:`GroupSemiBalanceSampler.set_max_iters`
(the loop's value wins; the schedule is re-validated). It is only needed when ``ratio_schedule`` is
given and is not a constant. Without ``ratio_schedule`` the fractions are ``source_ratio / sum``.

Sources
-------
``dataset`` is a ``ConcatDataset`` of two or more sources; source 0 is the labeled one.
``ratio_schedule`` (any :func:`ssod.schedules.build_schedule` config) gives the fraction of source 0;
the rest is split among sources 1.. in proportion to their ``source_ratio`` (``source_ratio[0]`` is
then unused). Without a schedule source ``s`` gets ``source_ratio[s] / sum(source_ratio)``.

Counting rule (exact, global, O(sources) at any iteration)
---------------------------------------------------------
Let ``B = world_size * batch_size`` and ``x(u) = B * f0(u)`` the expected labeled count at iteration
``u`` (``f0`` is the schedule value, quantised to multiples of ``2**-32``, or an exact fraction
without schedule). The cumulative labeled count before iteration ``t`` is ``C0(t) = R(sum_{u<t} x(u))``
with ``R(y) = floor(y + 1/2)``; the count at ``t`` is ``C0(t+1) - C0(t)``. So

* every per-iteration count is ``floor(x(t))`` or ``ceil(x(t))`` (exact when ``x(t)`` is an integer:
  0.2 of 5 is 1 image, of 40 is 8 images, 0 once the schedule reaches 0);
* the cumulative count never differs from the cumulative expectation by more than 1/2 (+ the
  quantisation, < 1e-3 for a million iterations).

The prefix sums of a non-constant schedule are tabulated once for ``u in [0, max_iters]`` (one
schedule evaluation per iteration, ~1 s for 720k); after ``max_iters`` the fraction stays at its value
at ``max_iters``. The remaining ``B*t - C0(t)`` images are split among sources 1.. by the same
cumulative rounding, nested as a chain (source 1 vs. sources 2.., then source 2 vs. 3.., ...), which
keeps every count non-negative and the sum exactly ``B``; source ``s>=1`` deviates from its cumulative
expectation by at most ``s/2 + 1/2``.

Split over ranks
----------------
The global batch is laid out as ``B`` slots ordered by source (all of source 0, then source 1 ...).
Slot ``j`` goes to rank ``(j + t) % world_size``: every rank gets exactly ``batch_size`` slots, each
rank's share of each source differs from the other ranks' by at most one, the extra ones rotate over
the ranks with ``t``, and within a rank's batch images are ordered by source (labeled first).
There is no "at least one labeled image per GPU" rule: with sr 0.1 and 8 GPUs x 5 images, 4 images
are labeled, so 4 GPUs get one and 4 get none (ssod's detectors give zero losses for empty branches).

Aspect-ratio groups
-------------------
Group 0 is landscape (``width >= height``), group 1 portrait; widths/heights are read once at
construction from the sources' data infos. Every per-GPU batch is drawn from one group, chosen for
``(seed, t, rank)`` by a counter-based hash weighted by the groups' sizes over all sources. If a source
has no image of that group, that source's images of the batch come from its other group (no hang,
unlike mmdet's ``GroupMultiSourceSampler``, issue #12327). ``group_by_aspect_ratio=False``: one group.

Index streams and the O(1) start
--------------------------------
Each (source, group) bucket is an infinite stream of passes; pass ``e`` is a permutation of the bucket
seeded by ``(seed, source, group, e)``, so the bucket is reshuffled each time it is exhausted. The
``k``-th image of source ``s`` in the global batch of iteration ``t`` is stream position
``C_s(t) + k`` of the bucket its rank's group selects, where ``C_s(t)`` is the closed-form cumulative
count above. Hence the indices of ``(t, rank)`` are a pure function of ``(seed, t, rank)`` computed in
O(sources + batch_size) plus at most two permutations of a bucket (cached), and
:meth:`set_start_iter` is O(1): no history is replayed.

Trade-off (stated precisely): every bucket's position advances with the *source's* count, whichever
group the ranks chose, so positions taken by ranks of the other group are skipped in that bucket.
Guaranteed: no image is drawn twice within one pass over its bucket; each pass is a fresh
permutation; over the long run every image of a source is drawn equally often in expectation.
Not guaranteed: that a pass draws *every* image of its bucket (about the group's share of it is drawn).
Exact epochs would need the history of group choices, i.e. replaying ``0..t-1`` on resume.

Disjointness: within one global batch the positions used in a bucket are distinct, so no index
repeats, unless (a) a source's count in that batch exceeds the size of the bucket used, or (b) the
window of positions crosses the end of a pass of a bucket with fewer than ``3 * count`` images. (The
first ``n // 3`` positions of a pass are made to avoid the last ``n // 3`` of the previous pass, so
windows of up to ``n // 3`` positions never repeat an image across a reshuffle.)

Training-loop protocol
----------------------
``__iter__`` yields the flat per-rank indices (``batch_size`` per iteration, for ever) from iteration
``start_iter`` on; :meth:`set_start_iter` sets it (O(1)); :meth:`set_epoch` is a no-op (for mmengine's
``DistSamplerSeedHook``); ``__len__`` is the total number of images of the sources (as mmdet's
multi-source samplers; the stream itself is infinite, so use iteration-based loops only).
:meth:`realised_counts` and :meth:`labeled_fraction` report the global composition of an iteration.
"""
import bisect
import math
import numbers
import pickle
from collections import OrderedDict
from fractions import Fraction
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import ConcatDataset as TorchConcatDataset
from torch.utils.data import Sampler

from ssod.registry import DATA_SAMPLERS
from ssod.schedules import ConstantSchedule, Schedule, build_schedule

__all__ = ['GroupSemiBalanceSampler']

_MASK64 = (1 << 64) - 1
_QBITS = 32  # schedule values are quantised to multiples of 2**-32
_QONE = 1 << _QBITS
_TAG_GROUP = 0x47524F5550  # 'GROUP'
_TAG_PERM = 0x5045524D  # 'PERM'
LANDSCAPE, PORTRAIT = 0, 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _hash_uniform(*values: int) -> float:
    """A uniform number in [0, 1) that is a pure function of the integers given (platform-free)."""
    h = 0
    for v in values:
        h = _splitmix64(h ^ (v & _MASK64))
    return (h >> 11) / float(1 << 53)


def _round_half_up(x: Fraction) -> int:
    """``floor(x + 1/2)`` computed exactly."""
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _sizes_from_source(dataset, source: int) -> Tuple[np.ndarray, np.ndarray]:
    """Widths and heights of every item of one source, read once.

    Fast path for plain mmengine ``BaseDataset`` subclasses (serialised or not): the stored infos are
    read directly, skipping the deepcopy of ``get_data_info``. Anything else uses ``get_data_info``.
    """
    n = len(dataset)
    widths = np.empty(n, dtype=np.float64)
    heights = np.empty(n, dtype=np.float64)

    def infos():
        fast = (isinstance(dataset, BaseDataset)
                and type(dataset).get_data_info is BaseDataset.get_data_info)
        if fast and getattr(dataset, 'serialize_data', False) and len(dataset.data_address) == n:
            view = memoryview(dataset.data_bytes)
            ends = dataset.data_address.tolist()
            start = 0
            for end in ends:
                yield pickle.loads(view[start:end])
                start = end
        elif fast and not getattr(dataset, 'serialize_data', False) and len(dataset.data_list) == n:
            yield from dataset.data_list
        else:
            for i in range(n):
                yield dataset.get_data_info(i)

    for i, info in enumerate(infos()):
        try:
            widths[i] = info['width']
            heights[i] = info['height']
        except (KeyError, TypeError) as error:
            raise ValueError(
                f'dataset: item {i} of source {source} has no width/height in its data info '
                f'(needed to group by aspect ratio); set group_by_aspect_ratio=False or add them'
            ) from error
    return widths, heights


# --------------------------------------------------------------------------------------------------
# Validation of the constructor's arguments (each raises a ValueError that names the argument)

def _checked_sources(dataset) -> list:
    """The sources of a ``ConcatDataset`` of at least 2 non-empty datasets (lazily built ones are
    initialised here)."""
    if not isinstance(dataset, TorchConcatDataset) and not (
            hasattr(dataset, 'datasets') and hasattr(dataset, 'full_init')):
        raise ValueError(f'dataset must be a ConcatDataset of sources (labeled first), got '
                         f'{type(dataset).__name__}')
    if hasattr(dataset, 'full_init'):
        dataset.full_init()  # mmengine ConcatDataset built with lazy_init=True
    sources = list(dataset.datasets)
    if len(sources) < 2:
        raise ValueError(f'dataset must concatenate at least 2 sources (labeled, unlabeled ...), '
                         f'got {len(sources)}')
    for s, source in enumerate(sources):
        if len(source) == 0:
            raise ValueError(f'dataset: source {s} is empty (check its ann_file / filter_cfg)')
    return sources


def _checked_rank(rank: Optional[int], world_size: Optional[int]) -> Tuple[int, int]:
    """``(rank, world_size)``: the given values, else those of ``mmengine.dist.get_dist_info()``."""
    dist_rank, dist_world = get_dist_info()
    world_size = dist_world if world_size is None else world_size
    rank = dist_rank if rank is None else rank
    if not _is_int(world_size) or world_size < 1:
        raise ValueError(f'world_size must be a positive integer, got {world_size!r}')
    if not _is_int(rank) or not 0 <= rank < world_size:
        raise ValueError(f'rank must be an integer in [0, world_size={world_size}), got {rank!r}')
    return int(rank), int(world_size)


def _checked_source_ratio(source_ratio, num_sources: int) -> List[Fraction]:
    """One finite, non-negative number per source, not all zero, as exact fractions."""
    if isinstance(source_ratio, (str, bytes)) or not isinstance(source_ratio, Sequence):
        raise ValueError(f'source_ratio must be a list with one number per source, got '
                         f'{source_ratio!r}')
    if len(source_ratio) != num_sources:
        raise ValueError(f'source_ratio has {len(source_ratio)} entries but the dataset has '
                         f'{num_sources} sources')
    ratios = []
    for s, r in enumerate(source_ratio):
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or not math.isfinite(r):
            raise ValueError(f'source_ratio[{s}] must be a finite number, got {r!r}')
        if r < 0:
            raise ValueError(f'source_ratio[{s}] must be >= 0, got {r!r}')
        ratios.append(Fraction(r))
    if sum(ratios) == 0:
        raise ValueError(f'source_ratio must not be all zeros, got {list(source_ratio)!r}')
    return ratios


def _checked_ratio_schedule(ratio_schedule, ratios: Sequence[Fraction]) -> Optional[Schedule]:
    """The built schedule of source 0's fraction (``None`` without one); sources 1.. must be able
    to share what it leaves."""
    if ratio_schedule is None:
        return None
    try:
        schedule = build_schedule(ratio_schedule)
    except ValueError as error:
        raise ValueError(f'ratio_schedule: {error}') from error
    if sum(ratios[1:]) == 0:
        raise ValueError('source_ratio[1:] must not be all zeros when ratio_schedule is '
                         'given: they split the fraction the schedule leaves to sources 1..')
    return schedule


def _checked_batch_size(batch_size, ratios: Sequence[Fraction], schedule: Optional[Schedule],
                        source_ratio) -> int:
    """A positive integer that can hold one image of every source sampled in each per-GPU batch."""
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}')
    active = sum(1 for r in ratios[1:] if r > 0)
    active += 1 if (schedule is not None or ratios[0] > 0) else 0
    if batch_size < active:
        raise ValueError(
            f'batch_size={batch_size} is smaller than the number of sources sampled '
            f'({active}: source_ratio={list(source_ratio)!r}'
            f'{" with a ratio_schedule for source 0" if schedule is not None else ""}); '
            f'every per-GPU batch must be able to hold one image of each')
    return int(batch_size)


def _chain_splits(rest: Sequence[Fraction]) -> List[Fraction]:
    """``p_k``: the share of source ``k`` among sources ``k..`` (k = 1..S-2), from sources 1.. ratios."""
    chain = []
    for k in range(len(rest) - 1):
        tail = sum(rest[k:])
        chain.append(rest[k] / tail if tail > 0 else Fraction(0))
    return chain


def _constant_labeled_fraction(schedule: Schedule) -> Optional[Fraction]:
    """The exact labeled fraction of a constant schedule (checked to lie in [0, 1]); ``None`` for a
    schedule that varies (it is tabulated by ``set_max_iters``)."""
    if not isinstance(schedule, ConstantSchedule):
        return None
    value = schedule.constant
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'ratio_schedule: the labeled fraction must lie in [0, 1], got {value!r}')
    return Fraction(value)


def _checked_seed(seed: Optional[int]) -> int:
    """The seed as a 64-bit integer; ``None`` -> ``mmengine.dist.sync_random_seed()``."""
    if seed is None:
        seed = sync_random_seed()
    if not _is_int(seed):
        raise ValueError(f'seed must be an integer or None, got {seed!r}')
    return int(seed) & _MASK64


def _buckets(sources: Sequence, group_by_aspect_ratio: bool) -> List[List[np.ndarray]]:
    """Per source, per aspect-ratio group (landscape, portrait; one group when not grouping), the
    local indices of the source."""
    if not group_by_aspect_ratio:
        return [[np.arange(len(source))] for source in sources]
    buckets = []
    for s, source in enumerate(sources):
        widths, heights = _sizes_from_source(source, s)
        portrait = widths < heights
        buckets.append([np.flatnonzero(~portrait), np.flatnonzero(portrait)])
    return buckets


@DATA_SAMPLERS.register_module()
class GroupSemiBalanceSampler(Sampler):
    """Infinite sampler over a ``ConcatDataset`` of sources with an exact, scheduled per-source ratio.

    See the module docstring for the counting rule, the rank split, the aspect-ratio groups and what
    is guaranteed about the index streams.

    Args:
        dataset: ``ConcatDataset`` of >= 2 non-empty sources; source 0 is the labeled one.
        batch_size: images per GPU (equal to the dataloader's ``batch_size``).
        source_ratio: one non-negative number per source, e.g. ``[1, 4]``.
        ratio_schedule: optional schedule config (:mod:`ssod.schedules`) of source 0's fraction of
            the global batch; values must lie in [0, 1].
        max_iters: length of the run; resolves end-relative schedule positions. May instead be set
            by the training loop with :meth:`set_max_iters`.
        shuffle: shuffle each pass over a bucket (``False``: every pass in index order, and the
            no-repeat-across-a-reshuffle guarantee does not apply).
        seed: sampler seed; ``None`` -> ``mmengine.dist.sync_random_seed()`` (same on all ranks).
        group_by_aspect_ratio: draw each per-GPU batch from one aspect-ratio group.
        rank, world_size: override ``mmengine.dist.get_dist_info()`` (tests simulate ranks so).
    """

    def __init__(self,
                 dataset,
                 batch_size: int,
                 source_ratio: Sequence[Union[int, float]],
                 ratio_schedule: Union[None, float, dict, Schedule] = None,
                 max_iters: Optional[int] = None,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 group_by_aspect_ratio: bool = True,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        sources = _checked_sources(dataset)
        self.dataset = dataset
        self.num_sources = len(sources)
        self.source_sizes = [len(d) for d in sources]
        self.offsets = [0] + [int(c) for c in dataset.cumulative_sizes[:-1]]
        self.rank, self.world_size = _checked_rank(rank, world_size)
        ratios = _checked_source_ratio(source_ratio, self.num_sources)
        self.source_ratio = list(source_ratio)
        self.schedule: Optional[Schedule] = _checked_ratio_schedule(ratio_schedule, ratios)
        self.batch_size = _checked_batch_size(batch_size, ratios, self.schedule, source_ratio)
        self.global_batch = self.batch_size * self.world_size

        # Exact fractions: source 0 (when no schedule) and the chain splits of sources 1..
        self._base_fraction0 = ratios[0] / sum(ratios)
        self._chain: List[Fraction] = _chain_splits(ratios[1:])
        self._constant_fraction0: Optional[Fraction] = (
            self._base_fraction0 if self.schedule is None else _constant_labeled_fraction(self.schedule))

        self.seed = _checked_seed(seed)
        self.shuffle = bool(shuffle)
        self.group_by_aspect_ratio = bool(group_by_aspect_ratio)

        # Buckets: per source, per group, the local indices of the source
        self.buckets: List[List[np.ndarray]] = _buckets(sources, self.group_by_aspect_ratio)
        self.num_groups = len(self.buckets[0])
        group_sizes = np.array([sum(len(b[g]) for b in self.buckets) for g in range(self.num_groups)],
                               dtype=np.float64)
        self._group_cdf = np.cumsum(group_sizes / group_sizes.sum()).tolist()
        self._perm_cache: 'OrderedDict[Tuple[int, int, int], np.ndarray]' = OrderedDict()

        # Schedule table (needs max_iters)
        self.max_iters: Optional[int] = None
        self._cum_q: Optional[np.ndarray] = None
        if max_iters is not None:
            self.set_max_iters(max_iters)
        self.start_iter = 0

    # ----------------------------------------------------------------------------------------------
    # Protocol for the training loop

    def set_max_iters(self, max_iters: int) -> None:
        """Set the run length (resolves end-relative schedule positions) and validate the schedule.

        Tabulates the schedule's prefix sums once (one evaluation per iteration).
        """
        if not _is_int(max_iters) or max_iters <= 0:
            raise ValueError(f'max_iters must be a positive integer, got {max_iters!r}')
        max_iters = int(max_iters)
        if self.max_iters == max_iters and (self._cum_q is not None or self._constant_fraction0
                                            is not None):
            return
        if self.schedule is not None and self._constant_fraction0 is None:
            try:
                self.schedule.value(0, max_iters)  # range checks of begin/end/steps first
                values = np.fromiter((self.schedule.value(u, max_iters) for u in range(max_iters + 1)),
                                     dtype=np.float64, count=max_iters + 1)
            except ValueError as error:
                raise ValueError(f'ratio_schedule (max_iters={max_iters}): {error}') from error
            bad = np.flatnonzero(~((values >= 0.0) & (values <= 1.0)))
            if bad.size:
                u = int(bad[0])
                raise ValueError(f'ratio_schedule: the labeled fraction must lie in [0, 1], got '
                                 f'{float(values[u])!r} at iteration {u} (max_iters={max_iters})')
            if max_iters + 2 >= (1 << (62 - _QBITS)):  # int64 prefix sums of 2**32-scaled values
                raise ValueError(f'max_iters={max_iters} is too large for the exact integer tables '
                                 f'of ratio_schedule (at most {(1 << (62 - _QBITS)) - 3})')
            quantised = np.rint(values * _QONE).astype(np.int64)
            cum = np.zeros(max_iters + 2, dtype=np.int64)
            np.cumsum(quantised, out=cum[1:])
            self._cum_q = cum
        self.max_iters = max_iters

    def set_start_iter(self, iteration: int) -> None:
        """The next ``__iter__`` starts at global iteration ``iteration`` (O(1))."""
        if not _is_int(iteration) or iteration < 0:
            raise ValueError(f'start iteration must be a non-negative integer, got {iteration!r}')
        self.start_iter = int(iteration)

    def set_epoch(self, epoch: int) -> None:
        """No-op: the stream depends only on (seed, iteration, rank)."""

    def __len__(self) -> int:
        return sum(self.source_sizes)

    def __iter__(self) -> Iterator[int]:
        t = self.start_iter
        while True:
            yield from self.batch_indices(t)
            t += 1

    # ----------------------------------------------------------------------------------------------
    # Composition

    def _cumulative_labeled(self, t: int) -> int:
        """Labeled images in the global batches of iterations ``0..t-1``."""
        if self._constant_fraction0 is not None:
            return _round_half_up(self.global_batch * t * self._constant_fraction0)
        if self._cum_q is None:
            raise ValueError('max_iters is unknown: pass max_iters=... to GroupSemiBalanceSampler or '
                             'call set_max_iters() (needed by ratio_schedule)')
        last = len(self._cum_q) - 1  # = max_iters + 1
        if t <= last:
            q = int(self._cum_q[t])
        else:  # past max_iters the fraction stays at its value at max_iters
            q = int(self._cum_q[last]) + (t - last) * int(self._cum_q[last] - self._cum_q[last - 1])
        return (self.global_batch * q + (_QONE >> 1)) >> _QBITS

    def _cumulative(self, t: int) -> List[int]:
        """Images of each source in the global batches of iterations ``0..t-1`` (closed form)."""
        labeled = self._cumulative_labeled(t)
        remaining = self.global_batch * t - labeled
        out = [labeled]
        for share in self._chain:
            c = _round_half_up(remaining * share)
            out.append(c)
            remaining -= c
        out.append(remaining)
        return out

    def realised_counts(self, iteration: int) -> List[int]:
        """Number of images of each source in the global batch of ``iteration`` (sums to B)."""
        before, after = self._cumulative(iteration), self._cumulative(iteration + 1)
        return [a - b for a, b in zip(after, before)]

    def labeled_fraction(self, iteration: int) -> float:
        """The target labeled fraction at ``iteration`` (schedule value, or source_ratio[0]/sum)."""
        if self._constant_fraction0 is not None:
            return float(self._constant_fraction0)
        if self.max_iters is None:
            raise ValueError('max_iters is unknown: pass max_iters=... or call set_max_iters()')
        return float(self.schedule.value(min(iteration, self.max_iters), self.max_iters))

    # ----------------------------------------------------------------------------------------------
    # Indices

    def group_of(self, iteration: int, rank: Optional[int] = None) -> int:
        """Aspect-ratio group of the per-GPU batch of ``(iteration, rank)``: a seeded hash draw."""
        if self.num_groups == 1:
            return 0
        rank = self.rank if rank is None else rank
        u = _hash_uniform(self.seed, _TAG_GROUP, iteration, rank)
        return min(bisect.bisect_right(self._group_cdf, u), self.num_groups - 1)

    def _raw_perm(self, source: int, group: int, epoch: int) -> np.ndarray:
        n = len(self.buckets[source][group])
        if not self.shuffle:
            return np.arange(n)
        rng = np.random.default_rng([self.seed, _TAG_PERM, source, group, epoch])
        return rng.permutation(n)

    def _perm(self, source: int, group: int, epoch: int) -> np.ndarray:
        """Order of pass ``epoch`` over bucket (source, group), as positions in the bucket.

        The first ``n // 3`` entries are made to avoid the last ``n // 3`` of the previous pass by
        swapping conflicting entries with entries of the middle third (which always suffices), so
        a window of at most ``n // 3`` stream positions never holds an image twice.
        """
        key = (source, group, epoch)
        cached = self._perm_cache.get(key)
        if cached is not None:
            self._perm_cache.move_to_end(key)
            return cached
        perm = self._raw_perm(source, group, epoch)
        n = len(perm)
        third = n // 3
        if self.shuffle and epoch > 0 and third > 0:
            perm = perm.copy()
            previous_tail = self._raw_perm(source, group, epoch - 1)[n - third:]
            conflicts = np.flatnonzero(np.isin(perm[:third], previous_tail))
            if conflicts.size:
                middle = np.arange(third, n - third)
                free = middle[~np.isin(perm[middle], previous_tail)][:conflicts.size]
                perm[conflicts], perm[free] = perm[free], perm[conflicts].copy()
        self._perm_cache[key] = perm
        if len(self._perm_cache) > 4 * self.num_sources * self.num_groups:
            self._perm_cache.popitem(last=False)
        return perm

    def _draw(self, source: int, group: int, position: int) -> int:
        """Dataset index at stream ``position`` of bucket (source, group)."""
        bucket = self.buckets[source][group]
        n = len(bucket)
        local = bucket[self._perm(source, group, position // n)[position % n]]
        return self.offsets[source] + int(local)

    def batch_indices(self, iteration: int, rank: Optional[int] = None) -> List[int]:
        """The ``batch_size`` dataset indices of ``rank`` (default: this sampler's) at ``iteration``.

        A pure function of (seed, iteration, rank).
        """
        if not _is_int(iteration) or iteration < 0:
            raise ValueError(f'iteration must be a non-negative integer, got {iteration!r}')
        rank = self.rank if rank is None else rank
        before = self._cumulative(iteration)
        after = self._cumulative(iteration + 1)
        counts = [a - b for a, b in zip(after, before)]
        starts = np.cumsum([0] + counts).tolist()  # first slot of each source in the global batch
        group = self.group_of(iteration, rank)
        first = (rank - iteration) % self.world_size
        out = []
        for j in range(first, self.global_batch, self.world_size):
            source = bisect.bisect_right(starts, j) - 1
            while counts[source] == 0:  # defensive; bisect_right already skips empty sources
                source += 1
            g = group if len(self.buckets[source][group]) else 1 - group
            out.append(self._draw(source, g, before[source] + j - starts[source]))
        return out
