"""The Pareto front as Optuna finds it, against a direct dominance check."""

from __future__ import annotations

import numpy as np
import pytest

from study.pareto import on_pareto_front


def dominated_directly(values: np.ndarray) -> np.ndarray:
    """Row i is dominated when some row is >= in every column and > in one (maximise)."""
    out = np.zeros(len(values), dtype=bool)
    for i, row in enumerate(values):
        for j, other in enumerate(values):
            if i != j and (other >= row).all() and (other > row).any():
                out[i] = True
    return out


@pytest.mark.parametrize("objectives", [2, 3, 4])
def test_front_matches_a_direct_dominance_check(objectives: int) -> None:
    rng = np.random.default_rng(objectives)
    for _ in range(20):
        # Few distinct values: many ties, and duplicates of front points.
        values = rng.integers(0, 4, size=(25, objectives)).astype(float)
        np.testing.assert_array_equal(on_pareto_front(values), ~dominated_directly(values))


def test_rows_without_every_value_are_off_the_front() -> None:
    values = np.array([[0.9, 0.1], [0.1, 0.9], [np.nan, 1.0], [0.5, np.inf * 0]])
    assert on_pareto_front(values).tolist() == [True, True, False, False]
