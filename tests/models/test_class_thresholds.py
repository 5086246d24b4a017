"""AdaptiveClassThresholds: which scores are queued, per-class fit or fallback per stage, config
checks, and the gathering of scores over processes (two real gloo processes)."""
import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from ssod.models.adaptive_thresholds import mixture_threshold
from ssod.models.class_thresholds import (DEFAULT_ADAPTIVE_THR, build_adaptive_thresholds,
                                          gather_from_ranks)

FIXED = dict(rpn=0.9, cls=0.8)


def bimodal(n, low_mean, high_mean, seed=0):
    """n scores: 70 % around ``low_mean`` (std 0.07), 30 % around ``high_mean`` (std 0.04)."""
    rng = np.random.default_rng(seed)
    n_high = int(0.3 * n)
    return torch.tensor(np.clip(np.concatenate([rng.normal(low_mean, 0.07, n - n_high),
                                                rng.normal(high_mean, 0.04, n_high)]), 0.06, 1.0),
                        dtype=torch.float32)


def build(**overrides):
    cfg = dict(queue_size=500, min_count=200, min_thr=0.3, max_thr=0.95, stages=('cls',))
    return build_adaptive_thresholds({**cfg, **overrides}, num_classes=3)


def test_fitted_classes_get_the_mixture_threshold_and_the_others_the_fixed_one():
    module = build()
    class0, class2 = bimodal(400, 0.25, 0.8), bimodal(400, 0.3, 0.9, seed=1)
    scores = torch.cat([class0, class2, torch.full((50,), 0.7)])
    labels = torch.cat([torch.zeros(400), torch.full((400,), 2), torch.ones(50)]).long()
    assert module.observe(scores, labels) == [0, 1, 2]
    thresholds = module.stage_thresholds(FIXED)
    assert set(thresholds) == {'cls'}  # only the configured stage adapts
    cls = thresholds['cls']
    assert cls.shape == (3,) and module.fitted.tolist() == [True, False, True]
    for label, queued in ((0, class0), (2, class2)):
        expected = mixture_threshold(queued, default=-1.0, min_count=200, min_thr=0.3, max_thr=0.95)
        assert cls[label].item() == pytest.approx(expected, abs=1e-6)  # float32 buffer
    assert 0.55 < cls[0].item() < 0.65 and 0.65 < cls[2].item() < 0.8
    assert cls[1].item() == pytest.approx(0.8)  # 50 scores < min_count: cls_pseudo_thr
    # the fallback follows the fixed threshold it is given
    assert module.stage_thresholds(dict(cls=0.6))['cls'][1].item() == pytest.approx(0.6)


def test_scores_at_or_below_the_floor_are_not_queued_and_clamping_applies():
    module = build(stages=('cls', 'rpn'), score_floor=0.2, min_thr=0.7, max_thr=0.9)
    scores = torch.cat([bimodal(400, 0.25, 0.8), torch.tensor([0.2, 0.1, 0.05])])
    module.observe(scores, torch.zeros(403, dtype=torch.long))
    assert module.queue.count(0) == 400 - int((scores[:400] <= 0.2).sum())
    assert bool((module.queue.values(0) > 0.2).all())
    thresholds = module.stage_thresholds(FIXED)
    assert thresholds['cls'][0].item() == pytest.approx(0.7)  # boundary ~0.6, clamped up to min_thr
    assert thresholds['rpn'][0].item() == pytest.approx(0.7)  # same fit for both stages
    assert thresholds['rpn'][1].item() == pytest.approx(0.9)  # no scores: the stage's own fallback


def test_a_class_refits_only_when_it_receives_scores():
    module = build()
    module.observe(bimodal(400, 0.25, 0.8), torch.zeros(400, dtype=torch.long))
    before = module.fitted_thr.clone()
    assert module.observe(torch.tensor([0.5]), torch.tensor([1])) == [1]
    assert module.fitted_thr[0] == before[0] and not module.fitted[1]


def test_config_checks():
    assert build_adaptive_thresholds(None, num_classes=3) is None
    assert build_adaptive_thresholds({}, num_classes=3).queue.size == DEFAULT_ADAPTIVE_THR['queue_size']
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['queue'\]"):
        build_adaptive_thresholds(dict(queue=100), num_classes=3)
    with pytest.raises(ValueError, match='stages must be'):
        build(stages=('reg',))
    with pytest.raises(ValueError, match='min_count <= queue_size'):
        build(min_count=600)
    with pytest.raises(ValueError, match='min_thr <= max_thr'):
        build(min_thr=0.9, max_thr=0.8)
    with pytest.raises(ValueError, match='num_classes'):
        build_adaptive_thresholds({}, num_classes=None)


def test_without_a_process_group_gathering_returns_the_input():
    scores, labels = torch.tensor([0.5, 0.7]), torch.tensor([1, 0])
    got_scores, got_labels = gather_from_ranks(scores, labels)
    assert got_scores is scores and got_labels is labels


def _gather_worker(rank, init_file, out_dir):
    torch_dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        n = 3 if rank == 0 else 1  # ranks hold different numbers of scores
        scores = torch.arange(n, dtype=torch.float32) / 10 + rank
        labels = torch.full((n,), rank + 1)
        torch.save(gather_from_ranks(scores, labels), f'{out_dir}/rank{rank}.pt')
    finally:
        torch_dist.destroy_process_group()


def test_scores_of_all_ranks_are_gathered_in_rank_order(tmp_path):
    # fork: the children start with torch already imported (a spawned interpreter takes seconds)
    mp.start_processes(_gather_worker, args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True,
                       start_method='fork')
    for rank in (0, 1):
        scores, labels = torch.load(tmp_path / f'rank{rank}.pt')
        assert scores.tolist() == pytest.approx([0.0, 0.1, 0.2, 1.0])
        assert scores.dtype == torch.float32 and labels.tolist() == [1, 1, 1, 2]
