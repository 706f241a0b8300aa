"""--objectives: a multi-objective Optuna search through OptunaSearch's list metrics; its
Pareto front in trials.csv, best.json and the report, as Optuna itself records it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import TrialState

from study.optuna_storage import RAY_TRIAL_ID
from tests.study_helpers import REPO, run_cli, study_args

OBJECTIVES = ("target_video_acc", "source_video_acc")
METRICS = [f"best_{name}" for name in OBJECTIVES]


def dominated(values: np.ndarray) -> np.ndarray:
    """Direct check, maximising every column: some row >= everywhere and > somewhere."""
    return np.array([any((other >= row).all() and (other > row).any() for other in values)
                     for row in values])


def test_two_objectives_give_optunas_pareto_front_everywhere(tiny_data: Path,
                                                               tmp_path: Path) -> None:
    storage, name = tmp_path / "results", "pareto"
    study = storage / name
    args = study_args(tiny_data, storage, name, trials=4, epochs=2,
                      extra=("--objectives", ",".join(OBJECTIVES)))
    run = run_cli(args)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "multi-objective over target_video_acc, source_video_acc" in run.stdout

    # Optuna's own record: two maximised objectives, every trial told both values.
    journal = JournalStorage(JournalFileBackend(str(study / "optuna.journal")))
    loaded = optuna.load_study(study_name=name, storage=journal)
    assert loaded.directions == [StudyDirection.MAXIMIZE] * 2
    complete = [t for t in loaded.trials if t.state == TrialState.COMPLETE]
    table = pd.read_csv(study / "trials.csv").set_index("trial_id")
    assert len(complete) == len(table) == 4
    for trial in complete:
        row = table.loc[trial.user_attrs[RAY_TRIAL_ID]]
        np.testing.assert_allclose(trial.values, row[METRICS].to_numpy(float))

    # trials.csv's front: Optuna's best_trials, and a direct dominance check.
    front = set(table.index[table["pareto"]])
    assert front == {t.user_attrs[RAY_TRIAL_ID] for t in loaded.best_trials}
    assert front == set(table.index[~dominated(table[METRICS].to_numpy(float))])
    assert set(json.loads((study / "best.json").read_text())["pareto_front"]) == front

    report = subprocess.run([sys.executable, "-m", "study.report", "--name", name,
                             "--storage-path", str(storage)], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    text = (study / "report" / "report.md").read_text()
    assert f"Its Pareto front holds {len(front)} of 4 trials" in text
    assert (study / "report" / "objectives_pareto.png").stat().st_size > 0
    shown = pd.read_csv(study / "report" / "objectives.csv")
    assert set(shown.loc[shown["pareto"], "configuration"]) == front
