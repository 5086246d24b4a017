"""Two-component Gaussian mixture fit and the adaptive threshold taken from it: parameters recovered
from seeded samples of known mixtures, the boundary against the equal-posterior point of the true
parameters, the fallbacks, clamping and determinism."""
import math

import numpy as np
import pytest
import torch

from ssod.models.adaptive_thresholds import (component_boundary, fit_two_gaussians, high_posterior,
                                             mixture_boundary, mixture_threshold, separation)

# A dense-scene-like teacher: many low scores (doubtful boxes), fewer confident ones.
LOW = dict(weight=0.7, mean=0.25, std=0.07)
HIGH = dict(weight=0.3, mean=0.82, std=0.04)


def two_clusters(n=4000, low=LOW, high=HIGH, seed=0):
    rng = np.random.default_rng(seed)
    n_high = int(round(n * high['weight']))
    return np.concatenate([rng.normal(low['mean'], low['std'], n - n_high),
                           rng.normal(high['mean'], high['std'], n_high)])


def equal_posterior_point(low, high, step=1e-6):
    """Smallest x between the true means where w_h N(x; high) >= w_l N(x; low), on a fine grid."""
    x = np.arange(low['mean'], high['mean'], step)

    def log_joint(c):
        return math.log(c['weight']) - math.log(c['std']) - 0.5 * ((x - c['mean']) / c['std']) ** 2
    return float(x[np.argmax(log_joint(high) >= log_joint(low))])


def test_two_separated_gaussians_are_recovered():
    fit = fit_two_gaussians(two_clusters())
    for got, true in ((fit.low, LOW), (fit.high, HIGH)):
        assert got.weight == pytest.approx(true['weight'], abs=0.01)
        assert got.mean == pytest.approx(true['mean'], abs=0.005)
        assert math.sqrt(got.variance) == pytest.approx(true['std'], rel=0.05)
    assert fit.low.weight + fit.high.weight == pytest.approx(1.0)
    assert 1 <= fit.iterations < 100  # converged before the cap
    assert separation(fit) > 8


def test_threshold_is_the_equal_posterior_point_between_the_components():
    scores = two_clusters()
    fit = fit_two_gaussians(scores)
    boundary = component_boundary(fit)
    assert high_posterior(boundary, fit) == pytest.approx(0.5, abs=1e-9)
    assert high_posterior(boundary - 0.01, fit) < 0.5 < high_posterior(boundary + 0.01, fit)
    truth = equal_posterior_point(LOW, HIGH)
    assert 0.6 < truth < 0.7  # between the clusters, nearer the narrow high one
    threshold = mixture_threshold(scores, default=0.9)
    assert threshold == pytest.approx(truth, abs=0.005)
    assert threshold == mixture_boundary(scores)  # inside the default [0, 1]: no clamping


def test_equal_components_split_halfway():
    same_shape = dict(weight=0.5, std=0.05)
    scores = two_clusters(low=dict(same_shape, mean=0.3), high=dict(same_shape, mean=0.8), seed=1)
    assert mixture_threshold(scores, default=0.9) == pytest.approx(0.55, abs=0.01)


@pytest.mark.parametrize('scores', [
    np.random.default_rng(2).normal(0.7, 0.08, 1000),  # one cluster
    np.full(500, 0.8),  # identical scores
    two_clusters(n=150),  # two clusters, but fewer scores than min_count
], ids=['single_cluster', 'constant', 'too_few'])
def test_fallback_to_the_default(scores):
    assert mixture_boundary(scores, min_count=200) is None
    assert mixture_threshold(scores, default=0.9, min_count=200, min_thr=0.3, max_thr=0.6) == 0.9


def test_too_few_scores_are_counted_against_min_count():
    scores = two_clusters(n=150)
    assert mixture_threshold(scores, default=0.9, min_count=151) == 0.9
    assert mixture_threshold(scores, default=0.9, min_count=150) == pytest.approx(
        equal_posterior_point(LOW, HIGH), abs=0.03)


def test_a_component_without_responsibility_has_no_boundary():
    fit = fit_two_gaussians(two_clusters())
    starved = fit._replace(high=fit.high._replace(weight=0.0))
    assert component_boundary(starved) is None
    # the high component wins even at m_low (its density there is about 1e-44)
    dominant = fit._replace(low=fit.low._replace(weight=1e-80))
    assert component_boundary(dominant) is None


def test_threshold_is_clamped():
    scores = two_clusters()
    boundary = mixture_boundary(scores)
    assert mixture_threshold(scores, default=0.9, min_thr=0.7, max_thr=0.9) == 0.7 > boundary
    assert mixture_threshold(scores, default=0.9, min_thr=0.3, max_thr=0.5) == 0.5 < boundary
    with pytest.raises(ValueError, match='min_thr <= max_thr'):
        mixture_threshold(scores, default=0.9, min_thr=0.8, max_thr=0.6)


def test_fit_is_deterministic_and_takes_tensors():
    scores = two_clusters(seed=3)
    first, second = fit_two_gaussians(scores), fit_two_gaussians(scores.copy())
    assert first == second  # bit for bit: no random initialisation
    from_tensor = fit_two_gaussians(torch.as_tensor(scores, dtype=torch.float64))
    assert from_tensor == first
    assert mixture_threshold(scores, 0.9) == mixture_threshold(torch.as_tensor(scores), 0.9)


def test_bad_scores_are_an_error():
    with pytest.raises(ValueError, match='NaN or infinite'):
        fit_two_gaussians([0.1, float('nan'), 0.9])
    with pytest.raises(ValueError, match='at least 2 scores'):
        fit_two_gaussians([0.5])
