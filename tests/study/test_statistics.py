"""study.statistics against independent references: known truths, Student's t, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from study import statistics
from study.statistics import format_ci, mean_ci, paired_difference


def t_reference(values: np.ndarray) -> tuple[float, float]:
    """The textbook t interval, written out (not through study.statistics)."""
    n = len(values)
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return values.mean() - half, values.mean() + half


def test_interval_of_normal_data_holds_the_true_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(11)
    widths = []
    for n in (10, 40, 160, 640):
        values = rng.normal(0.6, 0.1, n)
        mean, low, high = mean_ci(values, seed=3)
        assert mean == pytest.approx(values.mean())
        assert low < 0.6 < high, n
        widths.append(high - low)
    # The width of a mean's interval falls as 1/sqrt(n): about halving per 4x the data.
    assert all(later < earlier for earlier, later in zip(widths, widths[1:], strict=False))
    assert widths[-1] / widths[0] == pytest.approx(0.125, rel=0.35)


def test_bootstrap_interval_matches_students_t_for_large_n() -> None:
    values = np.random.default_rng(5).normal(0.4, 0.15, 2000)
    mean, low, high = mean_ci(values, seed=0)
    reference_low, reference_high = t_reference(values)
    width = reference_high - reference_low
    assert low == pytest.approx(reference_low, abs=0.05 * width)
    assert high == pytest.approx(reference_high, abs=0.05 * width)


def test_few_values_get_students_t_interval() -> None:
    values = np.array([0.41, 0.47, 0.52])
    _, low, high = mean_ci(values)
    assert (low, high) == pytest.approx(t_reference(values))
    assert statistics.MIN_BOOTSTRAP > 5  # the usual --repeats counts are all below it


@pytest.mark.parametrize("n", [3, 5, 30])
def test_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time(n: int) -> None:
    rng = np.random.default_rng(100 + n)
    covered = [mean_ci(rng.normal(0.5, 0.1, n), seed=i)[1:] for i in range(400)]
    rate = np.mean([low <= 0.5 <= high for low, high in covered])
    # 400 draws: the binomial standard error at 0.95 is about 0.011.
    assert 0.91 <= rate <= 0.985, rate


def test_why_few_values_are_not_bootstrapped() -> None:
    """The plain bootstrap of 3 values covers the truth far less than 95% of the time."""
    rng = np.random.default_rng(7)
    covered = []
    for i in range(300):
        low, high = statistics._bootstrap_interval(rng.normal(0.5, 0.1, 3), 0.95, i)
        covered.append(low <= 0.5 <= high)
    assert np.mean(covered) < 0.85


def test_degenerate_inputs() -> None:
    assert mean_ci([0.5])[0] == 0.5 and all(math.isnan(v) for v in mean_ci([0.5])[1:])
    assert all(math.isnan(v) for v in mean_ci([]))
    assert all(math.isnan(v) for v in mean_ci([None, float("nan")]))
    assert mean_ci([0.3, 0.3, 0.3, 0.3]) == (0.3, 0.3, 0.3)
    assert mean_ci([0.3, float("nan"), 0.5])[0] == pytest.approx(0.4)
    assert mean_ci(np.linspace(0, 1, 20), seed=4) == mean_ci(np.linspace(0, 1, 20), seed=4)
    # Accuracies cannot leave [0, 1]; three scattered seeds' t interval would.
    assert mean_ci([0.1, 0.9, 0.95])[1] < 0
    assert mean_ci([0.1, 0.9, 0.95], bounds=(0, 1))[1:] == (0.0, 1.0)


def test_paired_shift_is_found_with_its_size() -> None:
    rng = np.random.default_rng(21)
    base = rng.normal(0.5, 0.2, 60)
    shifted = base + 0.1 + rng.normal(0, 0.05, 60)  # a known shift of +0.1 per pair
    result = paired_difference(shifted, base, seed=0)
    assert result["n"] == 60
    assert result["difference"] == pytest.approx(np.mean(shifted - base))
    assert result["low"] < 0.1 < result["high"] and result["low"] > 0
    assert result["p_value"] < 0.01
    # The pairing matters: the same shift between independent samples of this spread...
    assert stats.ttest_ind(shifted, base).pvalue > result["p_value"]
    # ...and the p-value agrees with the paired t-test's conclusion.
    assert stats.ttest_rel(shifted, base).pvalue < 0.01


def test_null_case_is_not_significant() -> None:
    rng = np.random.default_rng(22)
    first = rng.integers(0, 2, 80).astype(float)
    second = first.copy()
    flip = rng.choice(80, 20, replace=False)
    second[flip] = 1 - second[flip]   # 20 discordant videos, in both directions
    result = paired_difference(first, second, seed=1)
    assert result["p_value"] > 0.05 and result["low"] <= 0 <= result["high"]
    # An exact reference: McNemar's test on the discordant pairs is a binomial test.
    b = int(((first == 1) & (second == 0)).sum())
    c = int(((first == 0) & (second == 1)).sum())
    assert b + c == 20
    mcnemar = stats.binomtest(b, b + c, 0.5).pvalue
    assert result["p_value"] == pytest.approx(mcnemar, abs=0.05)


def test_few_pairs_use_the_exact_permutation_distribution() -> None:
    # 3 pairs with the same sign: 2 of the 8 sign flips are as extreme, so p = 0.25 exactly.
    result = paired_difference([0.6, 0.7, 0.65], [0.5, 0.55, 0.6])
    assert result["p_value"] == pytest.approx(0.25)
    assert result["difference"] == pytest.approx(0.1)
    assert result["low"] < result["difference"] < result["high"]


def test_paired_edge_cases() -> None:
    assert paired_difference([1, 0, 1], [1, 0, 1]) == {"difference": 0.0, "low": 0.0,
                                                      "high": 0.0, "p_value": 1.0, "n": 3}
    nan_pair = paired_difference([1.0, float("nan"), 0.0, 1.0], [0.0, 1.0, 0.0, 0.0])
    assert nan_pair["n"] == 3 and nan_pair["difference"] == pytest.approx(2 / 3)
    assert paired_difference([], [])["n"] == 0
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1, 2], [1])


def test_format_ci() -> None:
    assert format_ci(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    assert format_ci(0.5, math.nan, math.nan) == "0.500"
    assert format_ci(math.nan, math.nan, math.nan) == "—"
