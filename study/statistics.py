"""Uncertainty of a study's numbers: bootstrap confidence intervals and paired comparisons.

Both functions are thin, seeded wrappers around SciPy (``scipy.stats.bootstrap`` for the
intervals, ``scipy.stats.permutation_test`` for the p-value), so a report computed twice
prints the same digits. They accept NaN (a seed that has not reported) and drop it.

How far to trust them: a bootstrap interval of ``n`` values is only as good as ``n`` values
can make it. Below :data:`MIN_BOOTSTRAP` values (the usual 3-5 seeds of ``--repeats``) the
bootstrap cannot see the tails of a distribution: its 95% interval covers the true mean of
normal values about 3 times in 4 with 3 values (5 in 6 with 5; ``tests/study/test_statistics.py``
measures it), so :func:`mean_ci` uses
Student's t interval there instead (it assumes roughly normal values, which seed-to-seed
accuracies are, and is honest about how little 3 values say); from ``MIN_BOOTSTRAP``
values on it is the BCa bootstrap. The report prints ``n`` beside every interval.

The permutation p-value is exact (every sign flip enumerated) for up to
:data:`EXACT_PERMUTATIONS_UP_TO` pairs, so with few pairs it cannot go below ``2 / 2**n``
(0.25 for 3 seeds): few seeds cannot show a difference, and the p-value says so instead of
pretending.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
#: Bootstrap resamples (and Monte Carlo permutations above the exact limit).
RESAMPLES = 9999
#: From this many values on, intervals are bootstrapped; below, Student's t.
MIN_BOOTSTRAP = 10
#: Up to this many pairs, the permutation test enumerates all 2**n sign flips.
EXACT_PERMUTATIONS_UP_TO = 13


def _finite(values: Iterable[Any]) -> np.ndarray:
    array = np.asarray([float(v) for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE, seed: int = 0,
            bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its bootstrap ``confidence`` interval.

    From :data:`MIN_BOOTSTRAP` values on: the BCa (bias-corrected and accelerated)
    bootstrap of the mean, seeded (the percentile interval where BCa is undefined); below:
    Student's t interval (``scipy.stats.t``), see the module's note. NaN and None are
    dropped first. One value: ``(value, nan, nan)`` (no interval from one value);
    none: all NaN; identical values: a zero-width interval at that value. ``bounds``
    (e.g. ``(0, 1)`` for accuracies) clips the interval to the values the mean can take.
    """
    data = _finite(values)
    if len(data) == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if len(data) == 1:
        return mean, math.nan, math.nan
    if np.ptp(data) == 0:
        return mean, mean, mean
    if len(data) < MIN_BOOTSTRAP:
        low, high = t_interval(data, confidence)
    else:
        low, high = _bootstrap_interval(data, confidence, seed)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, low, high


def t_interval(data: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student's t interval of the mean of ``data`` (at least two values)."""
    half = stats.t.ppf(0.5 + confidence / 2, len(data) - 1) * stats.sem(data)
    return float(data.mean() - half), float(data.mean() + half)


def _bootstrap_interval(data: np.ndarray, confidence: float, seed: int) -> tuple[float, float]:
    for method in ("BCa", "percentile"):
        with np.errstate(all="ignore"):
            result = stats.bootstrap((data,), np.mean, confidence_level=confidence,
                                     n_resamples=RESAMPLES, method=method,
                                     rng=np.random.default_rng(seed), vectorized=True)
        low, high = (float(result.confidence_interval.low),
                     float(result.confidence_interval.high))
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    return math.nan, math.nan


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_difference(a: Iterable[float], b: Iterable[float], seed: int = 0,
                      confidence: float = CONFIDENCE) -> dict[str, float]:
    """Mean of ``a - b`` over pairs, its bootstrap interval, and a two-sided p-value.

    ``a[i]`` and ``b[i]`` are one pair: the same held-out video scored under two
    configurations (1/0 correctness, or its mean over seeds), or the same seed index of two
    configurations. Pairs with a NaN on either side are dropped. The p-value is that of a
    paired permutation test (``permutation_type="samples"``: the sign of each difference is
    flipped at random) of the mean difference; exact for up to
    :data:`EXACT_PERMUTATIONS_UP_TO` pairs. Returns ``difference``, ``low``, ``high``,
    ``p_value`` and ``n`` (pairs used).
    """
    first, second = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if first.shape != second.shape:
        raise ValueError(f"paired samples differ in length: {len(first)} and {len(second)}")
    keep = np.isfinite(first) & np.isfinite(second)
    first, second = first[keep], second[keep]
    n = int(len(first))
    if n == 0:
        return {"difference": math.nan, "low": math.nan, "high": math.nan,
                "p_value": math.nan, "n": 0}
    differences = first - second
    difference = float(differences.mean())
    if n == 1:
        return {"difference": difference, "low": math.nan, "high": math.nan,
                "p_value": math.nan, "n": 1}
    if not differences.any():
        return {"difference": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0, "n": n}
    _, low, high = mean_ci(differences, confidence=confidence, seed=seed)
    resamples = 2 ** n if n <= EXACT_PERMUTATIONS_UP_TO else RESAMPLES
    test = stats.permutation_test((first, second), _mean_difference, vectorized=True,
                                  permutation_type="samples", alternative="two-sided",
                                  n_resamples=resamples, rng=np.random.default_rng(seed))
    return {"difference": difference, "low": low, "high": high,
            "p_value": float(min(1.0, test.pvalue)), "n": n}


def format_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``0.512 [0.480, 0.550]``; ``0.512`` alone when there is no interval; ``—`` for NaN."""
    if not math.isfinite(mean):
        return "—"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
