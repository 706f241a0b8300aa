"""Trials at once follow this run's resources, also when Ray restores a saved searcher."""

from __future__ import annotations

import pickle

import pytest
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from study import concurrency
from study.cluster import Resources
from study.concurrency import (
    RunConcurrencyLimiter,
    RunVariantGenerator,
    max_concurrent,
    set_run_limit,
)


@pytest.mark.parametrize(("gpus", "per_trial", "expected"),
                         [(4, 1.0, 4), (1, 0.25, 4), (2, 0.5, 4), (1, 0.3, 3), (1, 1.0, 1)])
def test_fractional_gpus_per_trial_pack_trials(gpus: int, per_trial: float,
                                               expected: int) -> None:
    resources = Resources(gpus=gpus, gpus_per_trial=per_trial, cpus_per_trial=1)
    assert max_concurrent(resources, cluster_cpus=64) == expected


def test_cpu_trials_are_bounded_by_cpus() -> None:
    resources = Resources(gpus=0, gpus_per_trial=1, cpus_per_trial=2)
    assert max_concurrent(resources, cluster_cpus=8) == 4



@pytest.fixture
def run_limit():
    """Leaves the process's run limit as it found it."""
    before = dict(concurrency.RUN_LIMIT)
    yield
    concurrency.RUN_LIMIT.update(before)


def saved_limiter(limit: int) -> tuple[bytes, dict]:
    """A limiter as Ray keeps it: pickled in tuner.pkl and as searcher state."""
    limiter = RunConcurrencyLimiter(OptunaSearch(metric="acc", mode="max"), limit)
    return pickle.dumps(limiter), limiter.get_state()


def test_a_restored_limiter_takes_this_runs_limit(run_limit: None) -> None:
    pickled, state = saved_limiter(1)  # the study started with one trial at a time
    set_run_limit(2)                   # resumed with resources for two
    restored = pickle.loads(pickled)
    assert restored.max_concurrent == 2
    restored.max_concurrent = 7        # as Tune builds it, before the searcher state
    restored.set_state(state)
    assert restored.max_concurrent == 2
    # Ray's own limiter would bring back the saved limit: the reason for the subclass.
    plain = ConcurrencyLimiter(OptunaSearch(metric="acc", mode="max"), 7)
    plain.set_state(state)
    assert plain.max_concurrent == 1


def test_the_confirmation_grid_follows_it_too(run_limit: None) -> None:
    pickled = pickle.dumps(RunVariantGenerator(max_concurrent=1))
    set_run_limit(3)
    assert pickle.loads(pickled).max_concurrent == 3
