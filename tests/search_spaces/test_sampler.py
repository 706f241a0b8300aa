"""The sampler a space gets: TPE with a random start-up sized to the budget, learning from
results after it, and the one-line description the study prints."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import search_spaces


@pytest.mark.parametrize(("trials", "startup"), [(1, 2), (5, 2), (8, 2), (9, 3), (30, 10),
                                                 (100, 10)])
def test_tpe_random_start_up_is_sized_to_the_budget(trials: int, startup: int) -> None:
    sampler = search_spaces.sampler_for(search_spaces.load("paper"), 0, trials)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == startup
    # Without a budget: Optuna's own default.
    assert search_spaces.sampler_for(search_spaces.load("paper"), 0)._n_startup_trials == 10


def test_tpe_models_results_after_its_start_up() -> None:
    """After the start-up, suggestions follow the results (not random): a study rewarding
    small lam ends with small lams."""
    sampler = search_spaces.sampler_for(search_spaces.load("paper"), 0, 9)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(9):
        trial = study.ask()
        search_spaces.load("paper").define(trial)
        study.tell(trial, 1.0 - trial.params["lam"])
    later = []
    for _ in range(8):
        trial = study.ask()
        search_spaces.load("paper").define(trial)
        later.append(trial.params["lam"])
        study.tell(trial, 1.0 - trial.params["lam"])
    assert np.median(later) < 0.3


def test_describe_search() -> None:
    assert search_spaces.describe_search("paper", 8, 0) == \
        "TPE (seed 0): 2 random start-up trials, then TPE for the remaining 6"
    assert search_spaces.describe_search("paper", 2, 1).startswith("random search (seed 1)")
    grid = search_spaces.describe_search("table2", 5, 0)
    assert grid.startswith("grid over lam in {0, 0.25, 0.5, 0.75, 1} (5 points")
    assert "only 2 of them run" in search_spaces.describe_search("table2", 2, 0)
    assert search_spaces.describe_search("paper", 8, 0, repeats=3).endswith(
        "each configuration runs with 3 seeds and the sampler learns from their mean")
