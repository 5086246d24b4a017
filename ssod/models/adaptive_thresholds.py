"""Adaptive pseudo-label thresholds from a two-component 1-D Gaussian mixture of teacher scores.

A fixed score threshold means different things for different classes and at different points of
training: a teacher whose scores for a class are all low keeps almost none of its boxes, one whose
scores are high keeps false positives. Consistent Teacher (Wang et al., CVPR 2023, "GMM-based adaptive
threshold") instead fits, per class, a mixture of two Gaussians to the teacher's recent detection
scores: a *low* component (background and doubtful boxes) and a *high* component (the boxes the teacher
is sure of), and takes the threshold from the high component. Pure functions here; the per-class
score store is :class:`~ssod.models.score_queue.ScoreQueue`, the detector glue
:class:`~ssod.models.class_thresholds.AdaptiveClassThresholds`.

Scores are probabilities in [0, 1]; every function is deterministic (no random initialisation) and
computes in float64 NumPy.

**The threshold** (:func:`mixture_boundary`) is the boundary between the fitted components: the smallest
score between the two means at which the posterior probability of the high component reaches 0.5,
i.e. where ``w_high N(x; m_high, v_high) = w_low N(x; m_low, v_low)``. Boxes above it are more likely to
come from the high component than from the low one. It is found by bisection on ``[m_low, m_high]``,
where the posterior rises from below 0.5 to at least 0.5 exactly once (a quadratic log-ratio changes
sign at most twice, and an odd number of times on that interval).

**Relation to Consistent Teacher.** Its reference code fits scikit-learn's ``GaussianMixture`` with
means initialised at the minimum and maximum score, and has two policies: ``'middle'`` takes the
smallest queued score assigned to the high component, which is this boundary (up to the spacing of
the queued scores); ``'high'``, its default, takes the score of the highest-density queued sample among
those assigned to the high component, close to the high component's mode, so it is stricter and keeps
roughly the upper half of the high component. We take the boundary because the problem it is meant for
is recall (dense scenes where a fixed threshold keeps a third of the objects), and bound it with
``min_thr`` / ``max_thr`` instead. Consistent Teacher falls back to the fixed threshold only with
fewer than 4 scores or no score in the high component; here a fit also falls back when its two
components are not separated (:func:`separation` below ``min_separation``): a unimodal score
distribution has no "confident" mode, and splitting it in two would put the threshold in its middle.
"""
import math
from typing import NamedTuple, Optional

import numpy as np

#: Smallest variance of a component (score units squared, i.e. a std of 0.01): keeps a component
#: that sits on repeated identical scores from collapsing to zero width (infinite likelihood).
DEFAULT_VAR_FLOOR = 1e-4
#: Bisection steps for the boundary: the interval [m_low, m_high] (<= 1 wide) is halved to far below
#: float32 resolution.
_BISECTION_STEPS = 60


class Gaussian(NamedTuple):
    """One mixture component: ``weight`` (mixing proportion), ``mean`` and ``variance`` (score units)."""
    weight: float
    mean: float
    variance: float


class TwoGaussians(NamedTuple):
    """A fitted two-component mixture: ``low`` has the smaller mean, ``high`` the larger.

    ``log_likelihood`` is the mean log-density of the scores under the returned parameters and
    ``iterations`` the number of EM updates made.
    """
    low: Gaussian
    high: Gaussian
    log_likelihood: float
    iterations: int


def _as_scores(scores) -> np.ndarray:
    """A 1-D float64 array of ``scores`` (tensor, array or sequence); non-finite values are an error."""
    if hasattr(scores, 'detach'):  # a torch tensor, on any device
        scores = scores.detach().cpu().numpy()
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.isfinite(x).all():
        raise ValueError('adaptive thresholds: the scores contain NaN or infinite values')
    return x


def _log_joint(x: np.ndarray, weights: np.ndarray, means: np.ndarray,
               variances: np.ndarray) -> np.ndarray:
    """``(n, 2)``: ``log w_k + log N(x_i; m_k, v_k)``; a component of weight 0 gives ``-inf``."""
    with np.errstate(divide='ignore'):
        log_w = np.log(weights)
    diff = x[:, None] - means[None, :]
    return log_w[None, :] - 0.5 * (np.log(2 * math.pi * variances)[None, :] + diff ** 2 / variances[None, :])


def _log_sum_exp(a: np.ndarray) -> np.ndarray:
    """Row-wise ``log(sum(exp(a)))`` of an ``(n, 2)`` array, stable for large negative entries."""
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def fit_two_gaussians(scores, iters: int = 100, tol: float = 1e-6,
                      var_floor: float = DEFAULT_VAR_FLOOR) -> TwoGaussians:
    """Fit a two-component 1-D Gaussian mixture to ``scores`` by expectation-maximisation.

    Initialisation (deterministic): means at the 10th and 90th percentiles of the scores (robust to a
    few outliers, where the minimum and maximum of Consistent Teacher's code are not), both variances
    the variance of all scores, weights 1/2. EM stops after ``iters`` updates or when the mean
    log-likelihood per score improves by less than ``tol``. Each variance is kept >= ``var_floor``.
    A component that receives no responsibility keeps weight 0 (such a fit has no boundary).

    Args:
        scores: at least 2 scores (tensor, array or sequence).
        iters: maximum number of EM updates.
        tol: convergence tolerance on the mean log-likelihood per score (nats).
        var_floor: smallest variance of a component (score units squared).
    """
    x = _as_scores(scores)
    if x.size < 2:
        raise ValueError(f'fit_two_gaussians needs at least 2 scores, got {x.size}')
    if iters < 1 or var_floor <= 0:
        raise ValueError(f'fit_two_gaussians: iters must be >= 1 and var_floor > 0, got {iters}, '
                         f'{var_floor}')
    means = np.percentile(x, [10.0, 90.0])
    variances = np.full(2, max(float(x.var()), var_floor))
    weights = np.full(2, 0.5)
    previous = -math.inf
    done = 0
    while True:
        log_joint = _log_joint(x, weights, means, variances)
        log_norm = _log_sum_exp(log_joint)
        log_likelihood = float(log_norm.mean())
        if done == iters or (done and log_likelihood - previous < tol):
            break
        previous = log_likelihood
        resp = np.exp(log_joint - log_norm[:, None])  # posterior of each component, (n, 2)
        mass = resp.sum(axis=0)
        alive = mass > 0
        weights = mass / x.size
        safe = np.where(alive, mass, 1.0)
        means = np.where(alive, (resp * x[:, None]).sum(axis=0) / safe, means)
        spread = (resp * (x[:, None] - means[None, :]) ** 2).sum(axis=0) / safe
        variances = np.maximum(np.where(alive, spread, variances), var_floor)
        done += 1
    low, high = (0, 1) if means[0] <= means[1] else (1, 0)
    return TwoGaussians(
        low=Gaussian(float(weights[low]), float(means[low]), float(variances[low])),
        high=Gaussian(float(weights[high]), float(means[high]), float(variances[high])),
        log_likelihood=log_likelihood, iterations=done)


def high_posterior(x, fit: TwoGaussians) -> np.ndarray:
    """Posterior probability of the high component at score(s) ``x`` (same shape as ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    log_joint = _log_joint(flat, np.array([fit.low.weight, fit.high.weight]),
                           np.array([fit.low.mean, fit.high.mean]),
                           np.array([fit.low.variance, fit.high.variance]))
    return np.exp(log_joint[:, 1] - _log_sum_exp(log_joint)).reshape(x.shape)


def separation(fit: TwoGaussians) -> float:
    """Ashman's D of the fit: ``sqrt(2) |m_high - m_low| / sqrt(v_low + v_high)`` (dimensionless).

    An equal-weight mixture of two Gaussians of equal variance is bimodal only when D > 2; a clean
    split needs D > 2 (Ashman, Bird and Zepf, AJ 1994).
    """
    return math.sqrt(2.0) * (fit.high.mean - fit.low.mean) / math.sqrt(fit.low.variance + fit.high.variance)


def component_boundary(fit: TwoGaussians) -> Optional[float]:
    """The smallest score in ``[m_low, m_high]`` whose high-component posterior is >= 0.5, or ``None``
    when there is no such change on that interval (the high component already wins at ``m_low``, or
    does not win even at its own mean, e.g. a component of weight 0)."""
    lo, hi = fit.low.mean, fit.high.mean
    if not hi > lo:
        return None
    if high_posterior(lo, fit) >= 0.5 or high_posterior(hi, fit) < 0.5:
        return None
    for _ in range(_BISECTION_STEPS):  # invariant: posterior(lo) < 0.5 <= posterior(hi)
        mid = 0.5 * (lo + hi)
        if high_posterior(mid, fit) >= 0.5:
            hi = mid
        else:
            lo = mid
    return hi


def mixture_boundary(scores, min_count: int = 100, min_separation: float = 2.0, iters: int = 100,
                     tol: float = 1e-6, var_floor: float = DEFAULT_VAR_FLOOR) -> Optional[float]:
    """The unclamped boundary of the two-component fit of ``scores`` (:func:`component_boundary`), or
    ``None`` when it is not to be trusted: fewer than ``min_count`` scores, components separated by
    less than ``min_separation`` (:func:`separation`: a single cluster), or no boundary between the
    means (a degenerate fit)."""
    x = _as_scores(scores)
    if x.size < max(int(min_count), 2):
        return None
    fit = fit_two_gaussians(x, iters=iters, tol=tol, var_floor=var_floor)
    if separation(fit) < min_separation:
        return None
    return component_boundary(fit)


def mixture_threshold(scores, default: float, min_count: int = 100, min_thr: float = 0.0,
                      max_thr: float = 1.0, min_separation: float = 2.0, iters: int = 100,
                      tol: float = 1e-6, var_floor: float = DEFAULT_VAR_FLOOR) -> float:
    """The pseudo-label threshold of one class from its recent teacher ``scores``.

    The boundary between the two fitted components (:func:`mixture_boundary`) clamped to
    ``[min_thr, max_thr]``; ``default`` (the fixed threshold, returned as given, not clamped) when
    there are fewer than ``min_count`` scores, the fit is a single cluster (separation below
    ``min_separation``) or it has no boundary. See the module docstring for the choice of the boundary
    and how it relates to Consistent Teacher.
    """
    if not 0.0 <= min_thr <= max_thr <= 1.0:
        raise ValueError(f'mixture_threshold: need 0 <= min_thr <= max_thr <= 1, got {min_thr}, {max_thr}')
    boundary = mixture_boundary(scores, min_count=min_count, min_separation=min_separation, iters=iters,
                                tol=tol, var_floor=var_floor)
    if boundary is None:
        return float(default)
    return float(min(max(boundary, min_thr), max_thr))
