"""The study's Optuna journal, read as an Optuna user reads it, after a SIGKILL and a resume:
the same trials, parameters and values as trials.csv, and no trial twice.

With one seed per configuration (no --repeats), an Optuna trial is a Ray trial; the COMPLETE
Optuna trials are compared with trials.csv, the others may only be FAIL (a trial asked for
after Ray's last snapshot, which no Ray trial will finish).
"""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from study.optuna_storage import RAY_TRIAL_ID
from tests.study_helpers import finished_trials, kill_when, run_cli, start_cli, study_args
from tests.study_helpers import trial_results as ray_results

TRIALS, EPOCHS = 3, 2
OBJECTIVE = "best_target_video_acc"


def optuna_trials(journal: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def mid_trial(study: Path) -> bool:
    """A trial finished and another one has reported an epoch."""
    done = finished_trials(study, EPOCHS)
    return bool(done) and any(rows for trial, rows in ray_results(study).items()
                              if trial not in done)


def trial_ids(study: Path) -> set[str]:
    return set(pd.read_csv(study / "trials.csv")["trial_id"])


def same(value: object, expected: object) -> bool:
    if isinstance(expected, float):
        return math.isclose(float(value), expected, rel_tol=1e-9)
    return str(value) == str(expected)


def test_the_journal_holds_the_trials_of_trials_csv_after_a_kill(tiny_data: Path,
                                                                 tmp_path: Path) -> None:
    study = tmp_path / "results" / "optuna"
    args = study_args(tiny_data, tmp_path / "results", "optuna", trials=TRIALS, epochs=EPOCHS)
    log = tmp_path / "first.log"
    assert kill_when(start_cli(args, log), lambda: mid_trial(study)), log.read_text()[-3000:]
    journal = study / "optuna.journal"
    before = {t.user_attrs[RAY_TRIAL_ID]: t for t in optuna_trials(journal, "optuna")}
    assert any(t.state == TrialState.RUNNING for t in before.values())

    resumed = run_cli([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert f"optuna-dashboard {journal}" in resumed.stdout

    trials = assert_optuna_matches_trials_csv(study, "optuna", TRIALS)
    # Those Ray went on with were told to the Optuna trial they had asked for.
    went_on = [earlier.number for ray_id, earlier in before.items()
               if earlier.state == TrialState.RUNNING and ray_id in trial_ids(study)]
    assert went_on and all(trials[n].state == TrialState.COMPLETE for n in went_on)


def assert_optuna_matches_trials_csv(study: Path, name: str,
                                     trials: int) -> list[optuna.trial.FrozenTrial]:
    """The study's journal, read with optuna.load_study: no Ray trial twice, nothing left
    RUNNING, and its COMPLETE trials are the rows of trials.csv (one seed per configuration):
    the same parameters, the objective as value. Returns the Optuna trials."""
    found = optuna_trials(study / "optuna.journal", name)
    ray_ids = [t.user_attrs[RAY_TRIAL_ID] for t in found]
    assert len(ray_ids) == len(set(ray_ids)), "a Ray trial has two Optuna trials"
    assert {t.state for t in found} <= {TrialState.COMPLETE, TrialState.FAIL}
    table = pd.read_csv(study / "trials.csv").set_index("trial_id")
    complete = {t.user_attrs[RAY_TRIAL_ID]: t for t in found if t.state == TrialState.COMPLETE}
    assert sorted(complete) == sorted(table.index) and len(complete) == trials
    for ray_id, trial in complete.items():
        row = table.loc[ray_id]
        assert row["status"] == "TERMINATED"
        assert trial.value == pytest.approx(row[OBJECTIVE])
        assert trial.params and all(same(row[key], value) for key, value in trial.params.items())
    return found
