"""study.console: Ray's trial table names the study folder, not Ray's staging folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial
from ray.tune.utils.log import set_verbosity

from study.console import StudyReporter


@pytest.mark.slow  # a real Tuner on a local Ray
def test_the_status_block_names_the_results_folder(local_ray: None, tmp_path: Path) -> None:
    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="study",
                             trial_dir_name="trial_a")
    trial = Trial("train_neta", config={"lam": 0.5}, storage=storage, stub=True)
    trial.update_last_result({"epoch": 1})
    set_verbosity(1)  # the study's RunConfig(verbose=1); a Tuner run before may have changed it
    reporter = StudyReporter(parameter_columns={"lam": "lam"}, metric_columns={"epoch": "epoch"})
    reporter.setup(start_time=0, total_samples=1)
    ray_block = reporter.progress([trial], done=False)
    assert "Result logdir: " in ray_block and "driver_artifacts" in ray_block
    reporter.results = "results/study"
    block = reporter.progress([trial], done=False)
    assert "driver_artifacts" not in block and "Result logdir" not in block
    assert block.splitlines() == [
        "Results: results/study" if line.startswith("Result logdir: ") else line
        for line in ray_block.splitlines()]
