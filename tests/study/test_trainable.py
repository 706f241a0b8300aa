"""study.trainable: a complete trial's checkpoint keeps no resume state, also when ASHA
stopped it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ray import tune

from study.search import make_scheduler
from study.settings import StudySettings
from study.trainable import DropResumeState
from trainables.checkpoint import CHECKPOINT_FILE, RESUME_FILE, SELECTED_FILE


def test_a_trial_stopped_early_keeps_its_selected_weights_only(tmp_path: Path) -> None:
    for name in (CHECKPOINT_FILE, RESUME_FILE, SELECTED_FILE):
        (tmp_path / name).write_bytes(b"x")
    trial = SimpleNamespace(checkpoint=tune.Checkpoint.from_directory(tmp_path))
    DropResumeState().on_trial_complete(iteration=1, trials=[trial], trial=trial)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SELECTED_FILE, CHECKPOINT_FILE]
    # A trial that ran every epoch has none to drop; one without a checkpoint is left alone.
    DropResumeState().on_trial_complete(iteration=2, trials=[trial], trial=trial)
    none = SimpleNamespace(checkpoint=None)
    DropResumeState().on_trial_complete(iteration=2, trials=[none], trial=none)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SELECTED_FILE, CHECKPOINT_FILE]


def _checkpointing(config: dict[str, Any]) -> None:
    """Reports like NetA's trainable: every epoch a checkpoint with the resume state."""
    for epoch in range(1, config["epochs"] + 1):
        with tempfile.TemporaryDirectory() as folder:
            for name in (CHECKPOINT_FILE, RESUME_FILE, SELECTED_FILE):
                (Path(folder) / name).write_bytes(b"x")
            accuracy = config["quality"] / 10 + epoch / 1000
            tune.report({"best_target_video_acc": accuracy, "epoch": epoch},
                        checkpoint=tune.Checkpoint.from_directory(folder))


@pytest.mark.slow  # a real Tuner on a local Ray
def test_trials_asha_stops_keep_no_resume_state(local_ray: None, tmp_path: Path) -> None:
    """Tune has registered a stopped trial's last checkpoint when it says the trial is
    complete: the callback finds it, and every trial ends with one checkpoint, slimmed."""
    settings = StudySettings(scheduler="asha", epochs=4)
    tuner = tune.Tuner(
        tune.with_resources(_checkpointing, {"cpu": 1}),
        param_space={"quality": tune.grid_search([3, 0, 2, 1]), "epochs": settings.epochs},
        tune_config=tune.TuneConfig(metric="best_target_video_acc", mode="max",
                                    scheduler=make_scheduler(settings),
                                    max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha", verbose=0,
                                  callbacks=[DropResumeState()],
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    results = tuner.fit()
    ran = [r.metrics["training_iteration"] for r in results]
    assert not results.errors and min(ran) < settings.epochs == max(ran)
    for result in results:
        (kept,) = Path(result.path).glob("checkpoint_*")
        assert sorted(p.name for p in kept.iterdir()) == [SELECTED_FILE, CHECKPOINT_FILE]
