"""Uncertainty of scores: standard errors as lm-evaluation-harness computes them, seeded bootstrap
percentile intervals over examples, and paired bootstrap tests of differences.

    stderr(values)                              sample std (ddof 1) / sqrt(n)   (lm_eval mean_stderr)
    interval(values, resamples, seed)           (low, high) percentile interval of the mean
    weighted_interval(groups, weights, ...)     (value, low, high) of sum_g w_g mean(group_g), each
                                                group resampled on its own (averages over languages)
    paired_difference(diff_groups, weights)     the same on per-example differences a - b, + p-value
    holm(p_values)                              Holm's step-down adjustment for a family of tests

Every interval uses a fresh numpy Generator seeded with `seed` (never global state), so the same
inputs and seed give the same interval. scipy.stats.bootstrap does the single-sample case the same
way, but scipy is not a dependency of maple; numpy does it in three lines per group.
"""

from __future__ import annotations

import math

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
CHUNK = 4_000_000  # resampled indices held in memory at once (32 MB of int64)
DISCRETE = 32  # at most this many distinct values: resample by multinomial counts


def stderr(values) -> float | None:
    """lm-eval's mean_stderr: sample standard deviation (ddof 1) over sqrt(n); None below 2 examples.
    For 0/1 scores this is sqrt(p(1-p)/(n-1))."""
    x = np.asarray(values, dtype="float64")
    if x.size < 2:
        return None
    return float(np.std(x, ddof=1) / math.sqrt(x.size))


def _resampled_means(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `resamples` bootstrap resamples of x (with replacement), in memory-bounded chunks.

    With few distinct values (accuracy, exact match, win shares and their paired differences) a
    resample is fully described by how often it drew each value: a multinomial draw, the same
    distribution as resampling indices at O(distinct values) instead of O(n) per resample."""
    n = x.size
    if n == 1:
        return np.full(resamples, float(x[0]))
    uniques, counts = np.unique(x, return_counts=True)
    if uniques.size <= DISCRETE:
        return rng.multinomial(n, counts / n, size=resamples) @ uniques / n
    rows = max(1, CHUNK // n)
    out = np.empty(resamples)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        out[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def bootstrap_distribution(groups, weights=None, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of sum_g w_g mean(groups[g]), every group resampled independently
    (a stratified bootstrap: languages keep their sizes). weights default to 1/len(groups)."""
    groups = [np.asarray(g, dtype="float64") for g in groups]
    if not groups or any(g.size == 0 for g in groups):
        raise ValueError("bootstrap: every group needs at least one example")
    if weights is None:
        weights = [1.0 / len(groups)] * len(groups)
    rng = np.random.default_rng(seed)
    total = np.zeros(int(resamples))
    for g, w in zip(groups, weights):
        total += w * _resampled_means(g, int(resamples), rng)
    return total


def percentile(distribution: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(distribution, [alpha, 1.0 - alpha])
    return float(low), float(high)


def weighted_interval(groups, weights=None, resamples: int = RESAMPLES, seed: int = 0,
                      confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(value, low, high): the weighted mean of group means and its percentile interval."""
    groups = [np.asarray(g, dtype="float64") for g in groups]
    if weights is None:
        weights = [1.0 / len(groups)] * len(groups)
    value = float(sum(w * g.mean() for g, w in zip(groups, weights)))
    low, high = percentile(bootstrap_distribution(groups, weights, resamples, seed), confidence)
    # the percentile of a bootstrap of the mean can miss the mean by float rounding only
    return value, min(low, value), max(high, value)


def interval(values, resamples: int = RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one group)."""
    _, low, high = weighted_interval([values], [1.0], resamples, seed, confidence)
    return low, high


def paired_difference(diff_groups, weights=None, resamples: int = RESAMPLES, seed: int = 0,
                      confidence: float = CONFIDENCE) -> dict:
    """Paired bootstrap on per-example differences (a - b on the same examples), per group.

    p_value: two-sided, twice the smaller share of resampled differences on either side of zero
    (at least 1/resamples unless every difference is zero), the usual bootstrap test of H0: no difference.
    """
    dist = bootstrap_distribution(diff_groups, weights, resamples, seed)
    groups = [np.asarray(g, dtype="float64") for g in diff_groups]
    if weights is None:
        weights = [1.0 / len(groups)] * len(groups)
    diff = float(sum(w * g.mean() for g, w in zip(groups, weights)))
    low, high = percentile(dist, confidence)
    low, high = min(low, diff), max(high, diff)
    if np.all(dist == 0):
        p = 1.0
    else:
        p = min(1.0, 2.0 * min(np.mean(dist <= 0), np.mean(dist >= 0)))
        p = max(p, 1.0 / len(dist))
    return {"difference": diff, "ci_low": low, "ci_high": high, "p_value": float(p),
            "excludes_zero": bool(low > 0 or high < 0)}


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control, any dependence between tests).
    NaN stays NaN and is not counted in the family."""
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    order = np.argsort(p[ok], kind="mergesort")
    scaled = (m - np.arange(m)) * p[ok][order]
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    values = np.empty(m)
    values[order] = adjusted
    out[ok] = values
    return out
