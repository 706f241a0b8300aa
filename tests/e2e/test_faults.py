"""Faults: the driver SIGKILLed at several points and resumed, a trial's worker killed.

Each time the study must end with exactly ``--trials`` trials, none lost and none run
twice, finished trials unchanged, interrupted ones continued from their last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.study_helpers import (
    STUDY_TIMEOUT_S,
    finished_trials,
    kill_when,
    run_cli,
    start_cli,
    study_args,
    trial_results,
)

TRIALS, EPOCHS = 2, 2
Results = dict[str, list[dict[str, Any]]]


@dataclass
class Killed:
    """The study folder, what it held when the driver died, and the resumed run's output."""

    study: Path
    finished: Results
    interrupted: Results
    resumed_stdout: str


def kill_then_resume(tmp: Path, data: Path, ready, extra: tuple[str, ...] = (),
                     trials: int = TRIALS) -> Killed:
    study = tmp / "results" / "killed"
    args = study_args(data, tmp / "results", "killed", trials=trials, epochs=EPOCHS,
                      extra=extra)
    log = tmp / "first.log"
    assert kill_when(start_cli(args, log), lambda: ready(study)), log.read_text()[-3000:]
    finished = finished_trials(study, EPOCHS)
    interrupted = {trial: rows for trial, rows in trial_results(study).items()
                   if trial not in finished and rows}
    resumed = run_cli([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    return Killed(study, finished, interrupted, resumed.stdout)


def assert_complete(killed: Killed, trials: int = TRIALS) -> None:
    """Exactly ``trials`` finished trials; finished ones untouched, interrupted ones continued."""
    table = pd.read_csv(killed.study / "trials.csv")
    assert len(table) == trials and table["trial_id"].is_unique
    assert set(table["status"]) == {"TERMINATED"} and (table["epochs_done"] == EPOCHS).all()
    after = trial_results(killed.study)
    for trial, rows in killed.finished.items():
        assert after[trial] == rows, "a finished trial was run again or changed"
    for trial, rows in killed.interrupted.items():
        epochs = [row["epoch"] for row in after[trial]]
        assert epochs[:len(rows)] == [row["epoch"] for row in rows]
        assert sorted(set(epochs)) == list(range(1, EPOCHS + 1))
        assert after[trial][-1]["iterations_since_restore"] < EPOCHS


def netb_started(study: Path) -> bool:
    return (study / "study.json").exists()


def test_killed_during_netb(tiny_data: Path, tmp_path: Path) -> None:
    killed = kill_then_resume(tmp_path, tiny_data, netb_started, extra=("--netb-epochs", "40"))
    assert not killed.finished and not killed.interrupted
    assert "Reusing NetB" not in killed.resumed_stdout  # it had not finished: trained again
    assert (killed.study / "netb" / "summary.json").exists()
    assert_complete(killed)


def one_trial_done_next_not_started(study: Path) -> bool:
    results = trial_results(study)
    return len(finished_trials(study, EPOCHS)) == 1 and sum(map(bool, results.values())) == 1


def test_killed_between_trials(tiny_data: Path, tmp_path: Path) -> None:
    # Two CPUs per trial on a two-CPU machine: one trial at a time, so there is a gap.
    killed = kill_then_resume(tmp_path, tiny_data, one_trial_done_next_not_started,
                              extra=("--cpus-per-trial", "2"))
    assert len(killed.finished) == 1 and not killed.interrupted
    assert "Reusing NetB" in killed.resumed_stdout
    assert_complete(killed)


def mid_trial(study: Path) -> bool:
    done = finished_trials(study, EPOCHS)
    return bool(done) and any(rows for trial, rows in trial_results(study).items()
                              if trial not in done)


def test_killed_mid_trial(tiny_data: Path, tmp_path: Path) -> None:
    netb = None

    def ready(study: Path) -> bool:
        nonlocal netb
        # summary.json is written last: from then on netb.pt is complete.
        if netb is None and (study / "netb" / "summary.json").exists():
            netb = (study / "netb" / "netb.pt").stat().st_mtime_ns
        return mid_trial(study)

    killed = kill_then_resume(tmp_path, tiny_data, ready, trials=3)
    assert killed.finished and killed.interrupted
    assert "Reusing NetB" in killed.resumed_stdout
    assert (killed.study / "netb" / "netb.pt").stat().st_mtime_ns == netb
    assert_complete(killed, trials=3)


def test_killed_trial_worker_is_retried_from_its_checkpoint(tiny_data: Path,
                                                            tmp_path: Path) -> None:
    study = tmp_path / "results" / "worker"
    args = study_args(tiny_data, tmp_path / "results", "worker", trials=1, epochs=EPOCHS,
                      extra=("--max-failures", "2"))
    process = start_cli(args, tmp_path / "run.log")
    deadline = time.monotonic() + STUDY_TIMEOUT_S
    while not any(trial_results(study).values()):
        assert process.poll() is None and time.monotonic() < deadline, "no epoch reported"
        time.sleep(0.2)
    (first,) = trial_results(study).values()
    os.kill(first[0]["pid"], signal.SIGKILL)  # the trial's worker process, not the driver
    assert process.wait(timeout=STUDY_TIMEOUT_S) == 0, (tmp_path / "run.log").read_text()
    (rows,) = trial_results(study).values()
    table = pd.read_csv(study / "trials.csv")
    assert list(table["status"]) == ["TERMINATED"] and table["epochs_done"][0] == EPOCHS
    assert rows[-1]["pid"] != first[0]["pid"], "the trial did not move to a new worker"
    assert rows[-1]["iterations_since_restore"] < EPOCHS, "it started over, not resumed"
    assert sorted({row["epoch"] for row in rows}) == list(range(1, EPOCHS + 1))


@pytest.fixture(autouse=True)
def _no_leftover_ray(tmp_path: Path):
    """Killed process groups must take their local Ray with them."""
    yield
    stray = [line for line in os.popen("ps -eo pgid,args").read().splitlines()
             if "raylet" in line and str(tmp_path) in line]
    assert not stray, json.dumps(stray)
