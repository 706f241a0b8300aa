"""--scheduler asha really stops weak trials early and lets the best one run every epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from study.search import make_scheduler
from study.settings import StudySettings

EPOCHS = 8
SETTINGS = StudySettings(scheduler="asha", epochs=EPOCHS)
#: Strong and weak trials interleaved, so a weak one meets a recorded strong one at a rung.
QUALITIES = [7, 0, 6, 1, 5, 2, 4, 3]


def _epochs(config: dict[str, Any]) -> None:
    """A trial whose best-so-far accuracy is set by its quality and creeps up each epoch."""
    for epoch in range(1, config["epochs"] + 1):
        accuracy = config["quality"] / 10 + epoch / 1000
        tune.report({SETTINGS.objective: accuracy, SETTINGS.metric: accuracy, "epoch": epoch})


@pytest.mark.slow  # a real Tuner on a local Ray
def test_asha_stops_weak_trials_and_keeps_the_best(local_ray: None, tmp_path: Path) -> None:
    scheduler = make_scheduler(SETTINGS)
    assert isinstance(scheduler, ASHAScheduler)  # "fifo" would run every trial to the end
    tuner = tune.Tuner(
        tune.with_resources(_epochs, {"cpu": 1}),
        param_space={"quality": tune.grid_search(QUALITIES), "epochs": EPOCHS},
        tune_config=tune.TuneConfig(metric=SETTINGS.objective, mode="max", scheduler=scheduler,
                                    max_concurrent_trials=2,
                                    # One actor per slot, reused: seconds instead of ~30 s of
                                    # actor start-ups; ASHA's decisions are the same.
                                    reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha", verbose=0))
    results = tuner.fit()
    assert len(results) == len(QUALITIES) and not results.errors

    iterations = {r.config["quality"]: r.metrics["training_iteration"] for r in results}
    assert set(iterations) == set(QUALITIES)
    stopped = [quality for quality, ran in iterations.items() if ran < EPOCHS]
    assert stopped, f"ASHA stopped no trial: {iterations}"
    assert max(QUALITIES) not in stopped
    best = results.get_best_result()
    assert best.config["quality"] == max(QUALITIES)
    assert best.metrics["training_iteration"] == EPOCHS
    assert best.metrics["epoch"] == EPOCHS
    # Only weaker trials were cut: each stopped trial is below the best.
    assert all(quality < max(QUALITIES) for quality in stopped)
