"""Kill the driver with SIGKILL mid-study, then ``--resume``: nothing lost, nothing twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.study_helpers import (
    finished_trials,
    kill_when,
    run_cli,
    start_cli,
    study_args,
    trial_results,
)

TRIALS, EPOCHS = 3, 4


def _mid_trial(study: Path) -> bool:
    """At least one trial finished and another stopped between epochs."""
    results = trial_results(study)
    done = finished_trials(study, EPOCHS)
    running = [rows for trial, rows in results.items() if trial not in done and rows]
    return bool(done) and bool(running)


def test_resume_after_sigkill_mid_trial(tiny_data: Path, tmp_path: Path) -> None:
    study = tmp_path / "results" / "killed"
    args = study_args(tiny_data, tmp_path / "results", "killed", trials=TRIALS, epochs=EPOCHS)
    process = start_cli(args, tmp_path / "first.log")
    assert kill_when(process, lambda: _mid_trial(study)), (tmp_path / "first.log").read_text()
    finished_before = finished_trials(study, EPOCHS)
    interrupted = {trial: rows for trial, rows in trial_results(study).items()
                   if trial not in finished_before and rows}
    netb_weights = (study / "netb" / "netb.pt").stat().st_mtime_ns

    resumed = run_cli([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "Reusing NetB" in resumed.stdout
    assert (study / "netb" / "netb.pt").stat().st_mtime_ns == netb_weights

    trials = pd.read_csv(study / "trials.csv")
    assert len(trials) == TRIALS and trials["trial_id"].is_unique
    assert set(trials["status"]) == {"TERMINATED"} and (trials["epochs_done"] == EPOCHS).all()
    after = trial_results(study)
    for trial, rows in finished_before.items():
        assert after[trial] == rows, "a finished trial was run again or changed"
    for trial, rows in interrupted.items():
        epochs = [row["epoch"] for row in after[trial]]
        # Continued from its last checkpoint: earlier epochs kept, later ones added once.
        assert epochs[:len(rows)] == [row["epoch"] for row in rows]
        assert sorted(set(epochs)) == list(range(1, EPOCHS + 1))
        assert after[trial][-1]["iterations_since_restore"] < EPOCHS
