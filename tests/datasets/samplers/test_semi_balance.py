"""GroupSemiBalanceSampler: exact scheduled composition, rank split, groups, streams, resume, errors,
and one real 2-process gloo run."""
import itertools
import json
import math
import os.path as osp
import time

import pytest
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.dataset import BaseDataset, ConcatDataset

from ssod.datasets.samplers import GroupSemiBalanceSampler
from ssod.datasets.samplers.semi_balance import LANDSCAPE, PORTRAIT
from ssod.registry import DATA_SAMPLERS
from ssod.schedules import build_schedule


class FakeSource(BaseDataset):
    """A source whose data infos are only width/height (and an id)."""

    METAINFO = dict(classes=('thing', ))

    def __init__(self, sizes, serialize_data=True, with_size=True):
        self._sizes = list(sizes)
        self._with_size = with_size
        super().__init__(ann_file='', serialize_data=serialize_data, lazy_init=True)

    def load_data_list(self):
        if not self._with_size:
            return [dict(img_id=i) for i in range(len(self._sizes))]
        return [dict(img_id=i, width=w, height=h) for i, (w, h) in enumerate(self._sizes)]


def land(n):
    return [(640, 480)] * n


def port(n):
    return [(480, 640)] * n


def concat(*sizes, **kwargs):
    return ConcatDataset([FakeSource(s, **kwargs) for s in sizes], lazy_init=True)


def per_rank(dataset, world_size, **kwargs):
    kwargs.setdefault('seed', 0)
    return [GroupSemiBalanceSampler(dataset, rank=r, world_size=world_size, **kwargs)
            for r in range(world_size)]


def orientation(dataset, index):
    info = dataset.get_data_info(index)
    return LANDSCAPE if info['width'] >= info['height'] else PORTRAIT


DECAY = dict(type='linear', begin=-100, end=-1, start_value=0.2, end_value=0.0)


# ------------------------------------------------------------------------------------------------
# Composition


@pytest.mark.parametrize('world_size', [1, 2, 4])
def test_scheduled_fraction_is_exact_at_every_iteration(world_size):
    n_labeled = 60
    dataset = concat(land(40) + port(20), land(150) + port(90))
    samplers = per_rank(dataset, world_size, batch_size=5, source_ratio=[1, 4],
                        ratio_schedule=DECAY, max_iters=200)
    schedule = build_schedule(DECAY)
    global_batch = 5 * world_size
    cumulative_expected, cumulative_realised = 0.0, 0
    for t in range(210):
        counts = samplers[0].realised_counts(t)
        for s in samplers[1:]:
            assert s.realised_counts(t) == counts
        expected = global_batch * schedule.value(t, 200)
        assert samplers[0].labeled_fraction(t) == pytest.approx(schedule.value(t, 200))
        assert sum(counts) == global_batch and min(counts) >= 0
        assert math.floor(expected + 1e-9) <= counts[0] <= math.ceil(expected - 1e-9)
        cumulative_expected += expected
        cumulative_realised += counts[0]
        # cumulative rounding: R(sum x) - at most 1/2 away from the expectation (+ float slack)
        assert abs(cumulative_realised - cumulative_expected) <= 0.5 + 1e-6
        assert cumulative_realised == math.floor(cumulative_expected + 0.5 + 1e-9) or \
            abs(cumulative_expected + 0.5 - round(cumulative_expected + 0.5)) < 1e-6
        # the indices really have that composition, every rank exactly batch_size
        batches = [s.batch_indices(t) for s in samplers]
        assert all(len(b) == 5 for b in batches)
        union = [i for b in batches for i in b]
        assert sum(i < n_labeled for i in union) == counts[0]
        # labeled first within every per-GPU batch
        for b in batches:
            flags = [i < n_labeled for i in b]
            assert flags == sorted(flags, reverse=True)
        if t < 100:  # flat part: exactly 0.2 of the global batch
            assert counts == [world_size, 4 * world_size]
        if t >= 199:
            assert counts == [0, global_batch]
    # the ramp decreases to 0: the total over the run matches the integral of the schedule
    total_expected = sum(global_batch * schedule.value(t, 200) for t in range(200))
    total = sum(samplers[0].realised_counts(t)[0] for t in range(200))
    assert abs(total - total_expected) <= 0.5 + 1e-6


def test_ranks_share_each_source_evenly_and_rotate():
    dataset = concat(land(100), land(400))
    samplers = per_rank(dataset, 4, batch_size=5, source_ratio=[1, 9])  # 2 labeled of 20
    labeled_per_rank = [0] * 4
    for t in range(40):
        shares = [sum(i < 100 for i in s.batch_indices(t)) for s in samplers]
        assert sorted(shares) == [0, 0, 1, 1]
        for r, k in enumerate(shares):
            labeled_per_rank[r] += k
    assert labeled_per_rank == [20, 20, 20, 20]  # the extra images rotate over the ranks


def test_no_schedule_uses_exact_source_ratio_and_three_sources():
    dataset = concat(land(30), land(30), land(30))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=8, source_ratio=[1, 4, 3], seed=0,
                                      rank=0, world_size=1)
    # 8 * [1, 4, 3] / 8 = [1, 4, 3] exactly
    assert all(sampler.realised_counts(t) == [1, 4, 3] for t in range(20))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=8, source_ratio=[1, 4, 0], seed=0,
                                      rank=0, world_size=1)
    totals = [0, 0, 0]
    for t in range(100):
        counts = sampler.realised_counts(t)
        assert counts[0] in (1, 2) and counts[2] == 0
        totals = [a + b for a, b in zip(totals, counts)]
    assert totals == [160, 640, 0]  # 8 * 0.2 = 1.6 labeled per batch, exact over 100 batches
    assert sampler.labeled_fraction(5) == pytest.approx(0.2)


def test_three_sources_with_schedule_split_the_rest_by_ratio():
    dataset = concat(land(50), land(50), land(50))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=6, source_ratio=[0, 1, 2], seed=0,
                                      ratio_schedule=dict(type='step', steps=[10], vals=[0.5, 0.0]),
                                      max_iters=20, rank=0, world_size=1)
    assert [sampler.realised_counts(t) for t in (0, 9)] == [[3, 1, 2]] * 2
    assert [sampler.realised_counts(t) for t in (10, 19, 25)] == [[0, 2, 4]] * 3


def test_fraction_reaching_zero_keeps_producing_unlabeled_batches():
    dataset = concat(land(10), land(60))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=1,
                                      ratio_schedule=dict(type='linear', begin=-20, end=-1,
                                                          start_value=0.2, end_value=0.0),
                                      rank=0, world_size=1)
    sampler.set_max_iters(50)  # the loop's way of giving max_iters
    stream = iter(sampler)
    batches = [[next(stream) for _ in range(5)] for _ in range(80)]  # 30 past max_iters
    assert all(len(b) == 5 for b in batches)
    assert sum(i < 10 for i in batches[0]) == 1
    for t in range(49, 80):
        assert all(i >= 10 for i in batches[t]), t
        assert sampler.realised_counts(t) == [0, 5]
        assert sampler.labeled_fraction(t) == 0.0
    # a partial decay: fewer labeled images in the last 20 iterations than before
    assert sum(sampler.realised_counts(t)[0] for t in range(30, 50)) == 10  # 20 * 5 * 0.1 (mean)


# ------------------------------------------------------------------------------------------------
# Ranks, seeds, resume


def test_disjoint_across_ranks_within_each_global_batch():
    dataset = concat(land(30) + port(15), land(120) + port(60))
    samplers = per_rank(dataset, 4, batch_size=5, source_ratio=[1, 4], ratio_schedule=DECAY,
                        max_iters=200)
    for t in range(200):  # many reshuffles of the small labeled buckets
        union = [i for s in samplers for i in s.batch_indices(t)]
        assert len(union) == 20
        assert len(set(union)) == 20, t


def test_determinism_from_seed():
    dataset = concat(land(20) + port(10), land(80) + port(40))

    def first(seed, n=30):
        sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=seed,
                                          rank=1, world_size=2)
        return list(itertools.islice(iter(sampler), n * 5))

    assert first(3) == first(3)
    assert first(3) != first(4)
    unshuffled = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=3,
                                         shuffle=False, rank=0, world_size=1)
    assert unshuffled.batch_indices(0)[0] == 0  # passes in index order


@pytest.mark.parametrize('k', [0, 1, 7, 33, 149, 250])
def test_set_start_iter_equals_skipping_batches(k):
    dataset = concat(land(12) + port(9), land(50) + port(31))
    for rank in range(2):
        kwargs = dict(batch_size=5, source_ratio=[1, 4], ratio_schedule=DECAY, max_iters=200,
                      seed=11, rank=rank, world_size=2)
        fresh = GroupSemiBalanceSampler(dataset, **kwargs)
        skipped = list(itertools.islice(iter(fresh), k * 5, (k + 6) * 5))
        resumed = GroupSemiBalanceSampler(dataset, **kwargs)
        resumed.set_start_iter(k)
        assert list(itertools.islice(iter(resumed), 6 * 5)) == skipped
        assert resumed.batch_indices(k) == skipped[:5]


def test_set_start_iter_is_constant_time():
    dataset = concat(land(20), land(80))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=0,
                                      ratio_schedule=DECAY, max_iters=300_000, rank=0, world_size=1)
    sampler.set_start_iter(299_990)
    begin = time.perf_counter()
    batch = list(itertools.islice(iter(sampler), 5))
    assert time.perf_counter() - begin < 0.5
    assert len(batch) == 5
    sampler.set_epoch(3)  # no-op
    assert len(sampler) == 100


# ------------------------------------------------------------------------------------------------
# Aspect-ratio groups


def test_each_per_gpu_batch_is_from_one_group():
    dataset = concat(land(20) + port(20), land(70) + port(50))
    samplers = per_rank(dataset, 2, batch_size=5, source_ratio=[1, 4])
    seen = set()
    for t in range(100):
        for rank, sampler in enumerate(samplers):
            groups = {orientation(dataset, i) for i in sampler.batch_indices(t)}
            assert groups == {sampler.group_of(t, rank)}
            seen |= groups
    assert seen == {LANDSCAPE, PORTRAIT}
    ungrouped = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=0,
                                        group_by_aspect_ratio=False, rank=0, world_size=1)
    mixed = [len({orientation(dataset, i) for i in ungrouped.batch_indices(t)}) for t in range(50)]
    assert max(mixed) == 2


@pytest.mark.timeout(30)
def test_missing_group_in_one_source_falls_back_and_never_hangs():
    # mmdet #12327: labeled images all landscape, unlabeled both -> GroupMultiSourceSampler spins
    dataset = concat(land(15), land(40) + port(40), serialize_data=False)
    sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=2,
                                      rank=0, world_size=1)
    stream = iter(sampler)
    portrait_batches = 0
    for t in range(300):
        batch = [next(stream) for _ in range(5)]
        labeled = [i for i in batch if i < 15]
        unlabeled = [i for i in batch if i >= 15]
        assert len(labeled) == 1 and len(unlabeled) == 4
        group = sampler.group_of(t)
        assert {orientation(dataset, i) for i in unlabeled} == {group}
        assert orientation(dataset, labeled[0]) == LANDSCAPE  # fallback for the labeled source
        portrait_batches += group == PORTRAIT
    # the group draw is weighted by group sizes over all sources: 55 landscape, 40 portrait
    assert 0.3 < portrait_batches / 300 < 0.55
    # a group absent from every source is never drawn
    only_land = GroupSemiBalanceSampler(concat(land(10), land(20)), batch_size=5,
                                        source_ratio=[1, 4], seed=0, rank=0, world_size=1)
    assert {only_land.group_of(t) for t in range(100)} == {LANDSCAPE}


# ------------------------------------------------------------------------------------------------
# Streams: reshuffled passes


def test_small_source_is_reshuffled_each_pass_and_each_pass_covers_it():
    dataset = concat(land(9), land(40) + port(40))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=5,
                                      rank=0, world_size=1)
    labeled = [sampler.batch_indices(t)[0] for t in range(27)]  # 1 labeled image per batch
    passes = [labeled[0:9], labeled[9:18], labeled[18:27]]
    for p in passes:
        assert sorted(p) == list(range(9))  # every pass covers the whole (single-bucket) source
    assert passes[0] != passes[1] != passes[2]
    # the start of a pass avoids the end of the previous one (n // 3 = 3 positions)
    assert not set(passes[0][-3:]) & set(passes[1][:3])
    assert not set(passes[1][-3:]) & set(passes[2][:3])


def test_no_image_repeats_within_a_pass_of_its_bucket():
    n_lab = 10
    dataset = concat(land(6) + port(4), land(21) + port(13))
    sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=9,
                                      rank=0, world_size=1)
    seen = {}
    for t in range(400):
        before = sampler._cumulative(t)
        counts = sampler.realised_counts(t)
        batch = sampler.batch_indices(t)
        group = sampler.group_of(t)
        k = 0
        for s, c in enumerate(counts):
            n = len(sampler.buckets[s][group])
            for j in range(c):
                index = batch[k]
                k += 1
                assert (index >= n_lab) == (s == 1)
                key = (s, group, (before[s] + j) // n)
                assert index not in seen.setdefault(key, set()), key
                seen[key].add(index)
    # each bucket was passed over several times, with a fresh permutation each time
    for s in range(2):
        for g in range(2):
            perms = [tuple(sampler._perm(s, g, e)) for e in range(4)]
            assert all(sorted(p) == list(range(len(sampler.buckets[s][g]))) for p in perms)
            assert len(set(perms)) == 4


# ------------------------------------------------------------------------------------------------
# Building and validation


def test_build_from_registry_and_lazy_concat():
    dataset = concat(land(10), land(40))
    sampler = DATA_SAMPLERS.build(
        dict(type='GroupSemiBalanceSampler', batch_size=5, source_ratio=[1, 4],
             ratio_schedule=dict(type='linear', begin=-10, end=-1, start_value=0.2, end_value=0.0),
             max_iters=30), default_args=dict(dataset=dataset, seed=0))
    assert isinstance(sampler, GroupSemiBalanceSampler)
    assert (sampler.rank, sampler.world_size) == (0, 1)
    assert sampler.realised_counts(0) == [1, 4] and sampler.realised_counts(29) == [0, 5]
    sampler2 = DATA_SAMPLERS.build(dict(type='GroupSemiBalanceSampler', batch_size=5,
                                        source_ratio=[1, 4]), default_args=dict(dataset=dataset))
    assert isinstance(sampler2.seed, int)  # sync_random_seed() when seed is None


def _build(dataset=None, **kwargs):
    args = dict(batch_size=5, source_ratio=[1, 4], seed=0, rank=0, world_size=1)
    args.update(kwargs)
    return GroupSemiBalanceSampler(concat(land(10), land(40)) if dataset is None else dataset,
                                   **args)


@pytest.mark.parametrize('make, match', [
    (lambda: _build(dataset=FakeSource(land(5))), 'ConcatDataset'),
    (lambda: _build(dataset=ConcatDataset([FakeSource(land(5))])), 'at least 2 sources'),
    (lambda: _build(dataset=concat(land(5), [], serialize_data=False)), 'source 1 is empty'),
    (lambda: _build(batch_size=1), r'batch_size=1 is smaller than the number of sources'),
    (lambda: _build(batch_size=2, source_ratio=[1, 4, 1],
                    dataset=concat(land(5), land(5), land(5))), 'batch_size=2'),
    (lambda: _build(batch_size=0), 'batch_size must be a positive integer'),
    (lambda: _build(source_ratio=[0, 0]), 'must not be all zeros'),
    (lambda: _build(source_ratio=[-1, 4]), r'source_ratio\[0\] must be >= 0'),
    (lambda: _build(source_ratio=[1, float('nan')]), r'source_ratio\[1\] must be a finite'),
    (lambda: _build(source_ratio=[1, 4, 1]), 'source_ratio has 3 entries'),
    (lambda: _build(source_ratio=[1, 0], ratio_schedule=0.5), r'source_ratio\[1:\]'),
    (lambda: _build(ratio_schedule=dict(type='linear', begin=-10000, end=-1, start_value=0.2,
                                        end_value=0.0), max_iters=200),
     r'ratio_schedule \(max_iters=200\).*begin=-10000 counts back further'),
    (lambda: _build(ratio_schedule=dict(type='step', steps=[300], vals=[0.2, 0.0]), max_iters=200),
     r'ratio_schedule.*steps\[0\]=300 is beyond max_iters=200'),
    (lambda: _build(ratio_schedule=dict(type='linear', begin=0, end=10, start_value=1.5,
                                        end_value=0.0), max_iters=20),
     r'ratio_schedule: the labeled fraction must lie in \[0, 1\], got 1.5 at iteration 0'),
    (lambda: _build(ratio_schedule=-0.1), r'must lie in \[0, 1\]'),
    (lambda: _build(ratio_schedule=dict(type='nope')), "ratio_schedule: unknown schedule type"),
    (lambda: _build(max_iters=0), 'max_iters must be a positive integer'),
    (lambda: _build(rank=2, world_size=2), r'rank must be an integer in \[0, world_size=2\)'),
    (lambda: _build(seed='x'), 'seed must be an integer'),
    (lambda: _build(dataset=concat(land(5), land(5), with_size=False)), 'width/height'),
])
def test_bad_input_raises_clear_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_checked_when_the_loop_sets_max_iters():
    sampler = _build(ratio_schedule=dict(type='linear', begin=-100, end=-1, start_value=0.2,
                                         end_value=0.0))
    with pytest.raises(ValueError, match='max_iters is unknown'):
        sampler.realised_counts(0)
    with pytest.raises(ValueError, match='begin=-100 counts back further than max_iters=50'):
        sampler.set_max_iters(50)
    sampler.set_max_iters(400)
    assert sampler.realised_counts(0) == [1, 4] and sampler.realised_counts(399) == [0, 5]
    with pytest.raises(ValueError, match='start iteration'):
        sampler.set_start_iter(-1)
    # no grouping needs no width/height
    _build(dataset=concat(land(5), land(5), with_size=False), group_by_aspect_ratio=False)


def test_construction_time_for_120k_images(capsys):
    labeled = FakeSource(land(9000) + port(3000))
    unlabeled = FakeSource(land(80000) + port(28000))
    dataset = ConcatDataset([labeled, unlabeled])  # full_init here, not timed
    begin = time.perf_counter()
    sampler = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=0,
                                      rank=0, world_size=8)
    elapsed = time.perf_counter() - begin
    begin = time.perf_counter()
    sampler.set_max_iters(180000)  # no schedule: nothing to tabulate
    scheduled = GroupSemiBalanceSampler(dataset, batch_size=5, source_ratio=[1, 4], seed=0,
                                        ratio_schedule=dict(type='linear', begin=-10000, end=-1,
                                                            start_value=0.2, end_value=0.0),
                                        max_iters=180000, rank=0, world_size=8,
                                        group_by_aspect_ratio=False)
    table = time.perf_counter() - begin
    with capsys.disabled():
        print(f'\n[semi_balance] construction for 120k images: {elapsed:.2f} s; '
              f'180k-iteration schedule table: {table:.2f} s')
    assert [len(b) for b in sampler.buckets[1]] == [80000, 28000]
    assert elapsed < 20 and table < 20  # shared 2-core machine: generous bounds
    assert scheduled.realised_counts(0) == [8, 32] and scheduled.realised_counts(179999) == [0, 40]


# ------------------------------------------------------------------------------------------------
# A real 2-process run (gloo, CPU)

N_DIST = 40


def _dist_worker(rank, world_size, init_file, out_dir):
    torch_dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                  world_size=world_size)
    try:
        dataset = concat(land(20) + port(10), land(80) + port(40))
        sampler = GroupSemiBalanceSampler(  # rank, world size and seed from torch.distributed
            dataset, batch_size=5, source_ratio=[1, 4],
            ratio_schedule=dict(type='linear', begin=-20, end=-1, start_value=0.2, end_value=0.0),
            max_iters=N_DIST)
        stream = iter(sampler)
        batches = [[next(stream) for _ in range(5)] for _ in range(N_DIST)]
        record = dict(rank=sampler.rank, world_size=sampler.world_size, seed=sampler.seed,
                      batches=batches, counts=[sampler.realised_counts(t) for t in range(N_DIST)])
        with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(record, f)
        torch_dist.barrier()
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_real_two_process_gloo_run(tmp_path):
    init_file = str(tmp_path / 'store')
    begin = time.perf_counter()
    mp.start_processes(_dist_worker, args=(2, init_file, str(tmp_path)), nprocs=2, join=True,
                       start_method='fork')
    elapsed = time.perf_counter() - begin
    records = []
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.json') as f:
            records.append(json.load(f))
    assert [r['rank'] for r in records] == [0, 1]
    assert all(r['world_size'] == 2 for r in records)
    assert records[0]['seed'] == records[1]['seed']  # sync_random_seed() over gloo
    assert records[0]['counts'] == records[1]['counts']
    schedule = build_schedule(dict(type='linear', begin=-20, end=-1, start_value=0.2,
                                   end_value=0.0))
    for t in range(N_DIST):
        union = records[0]['batches'][t] + records[1]['batches'][t]
        assert len(set(union)) == 10, t
        labeled = sum(i < 30 for i in union)
        assert labeled == records[0]['counts'][t][0]
        expected = 10 * schedule.value(t, N_DIST)
        assert math.floor(expected + 1e-9) <= labeled <= math.ceil(expected - 1e-9)
        if t < 20:
            assert labeled == 2
        if t == N_DIST - 1:
            assert labeled == 0
    assert elapsed < 60
