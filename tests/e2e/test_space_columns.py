"""A new search space file is all it takes: a space that suggests ``dropout`` besides the
paper's four parameters (and holds ``fc_units`` fixed) runs as a study and a report, and the
new parameter is in trials.csv, best.json, TensorBoard's HParams, the printed summary, the
trial table, report.md and the report's CSVs, each value checked against the trial's own
``params.json`` (what Ray Tune wrote, not our outputs).

The space is written into ``search_spaces/`` under a name of its own (the study's subprocess
loads it from there, as it would a user's) and removed when the module's tests end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import search_spaces
from tests.study_helpers import REPO, hparams_of, run_cli, study_args

TRIALS = 2
SEARCHED = ["lam", "normalisation", "cell", "seq_len", "dropout"]
FIXED_UNITS = 64
COLUMNS = [*SEARCHED, "fc_units"]
SPACE_SOURCE = f'''"""A temporary space of tests/e2e/test_space_columns.py."""

from search_spaces import paper

DESCRIPTION = "the paper's space, dropout in [0, 0.5], a {FIXED_UNITS}-unit FC layer"


def define(trial):
    paper.define(trial)
    trial.suggest_float("dropout", 0.0, 0.5)
    return {{"fc_units": {FIXED_UNITS}}}
'''


@pytest.fixture(scope="module")
def space() -> Iterator[str]:
    name = f"tmp_columns_{uuid.uuid4().hex[:8]}"
    folder = Path(search_spaces.__file__).parent
    path = folder / f"{name}.py"
    path.write_text(SPACE_SOURCE)
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)
        for cached in (folder / "__pycache__").glob(f"{name}.*"):
            cached.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def study(space: str, tiny_data: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """The study's folder, its stdout and the report's stdout."""
    storage = tmp_path_factory.mktemp("results")
    result = run_cli(study_args(tiny_data, storage, "columns", trials=TRIALS,
                                extra=("--space", space)))
    assert result.returncode == 0, result.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "study.report", "--name", "columns",
                             "--storage-path", str(storage)], cwd=REPO, text=True,
                            capture_output=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    yield storage / "columns", result.stdout, report.stdout
    shutil.rmtree(storage, ignore_errors=True)


def tune_params(folder: Path) -> dict[str, dict[str, Any]]:
    """trial id -> the config Ray Tune wrote to its ``params.json``."""
    return {path.parent.name.removeprefix("trial_"): json.loads(path.read_text())
            for path in folder.glob("trial_*/params.json")}


def test_the_space_sets_what_its_file_says(space: str, study: tuple[Path, str, str]) -> None:
    folder, _, _ = study
    params = tune_params(folder)
    assert len(params) == TRIALS
    for config in params.values():
        assert 0.0 <= config["dropout"] <= 0.5 and config["fc_units"] == FIXED_UNITS
    assert len({config["dropout"] for config in params.values()}) == TRIALS


def test_trials_csv_and_best_json(study: tuple[Path, str, str]) -> None:
    folder, _, _ = study
    params = tune_params(folder)
    trials = pd.read_csv(folder / "trials.csv", dtype={"trial_id": str})
    columns = list(trials.columns)
    assert columns[columns.index("status") + 1:columns.index("epochs_done")] == COLUMNS
    for _, row in trials.iterrows():
        assert {key: row[key] for key in COLUMNS} == pytest.approx(
            {key: params[row["trial_id"]][key] for key in COLUMNS})
    best = json.loads((folder / "best.json").read_text())
    assert best["params"] == {key: params[best["trial_id"]][key] for key in COLUMNS}


def test_tensorboard_hparams(study: tuple[Path, str, str]) -> None:
    folder, _, _ = study
    for trial_id, config in tune_params(folder).items():
        hparams = hparams_of(folder / "tensorboard" / f"trial_{trial_id}")
        assert hparams == pytest.approx({key: config[key] for key in COLUMNS})


def test_printed_summary_and_trial_table(study: tuple[Path, str, str]) -> None:
    folder, stdout, _ = study
    params = tune_params(folder)
    summary = next(line for line in stdout.splitlines()
                   if line.split()[:2] == ["trial", "status"])
    assert summary.split()[2:2 + len(COLUMNS)] == COLUMNS
    lines = stdout.splitlines()
    start = lines.index(summary)
    for trial_id, config in params.items():
        row = next(line.split() for line in lines[start + 1:] if line.split()[:1] == [trial_id])
        assert row[2 + SEARCHED.index("dropout")] == f"{config['dropout']:.3f}"
    # Ray's trial table (its status block) has a column for every parameter too.
    header = next(line for line in lines if "Trial name" in line)
    assert all(name in header for name in COLUMNS), header


def test_report_md_and_csvs(study: tuple[Path, str, str]) -> None:
    folder, _, report_stdout = study
    params = tune_params(folder)
    out = folder / "report"
    assert "report.md" in report_stdout
    search = pd.read_csv(out / "search.csv", dtype={"configuration": str})
    assert list(search.columns[1:1 + len(SEARCHED)]) == SEARCHED
    table_ii = pd.read_csv(out / "table_ii.csv", dtype={"configuration": str})
    for frame in (search, table_ii):
        assert frame.set_index("configuration")["dropout"].to_dict() == pytest.approx(
            {trial_id: config["dropout"] for trial_id, config in params.items()})
    assert table_ii.set_index("configuration")["fc_units"].tolist() == [FIXED_UNITS] * TRIALS
    text = (out / "report.md").read_text()
    table_header = next(line for line in text.splitlines()
                        if line.startswith("| configuration |"))
    assert all(f"| {name} |" in table_header for name in COLUMNS), table_header
    pareto = next(line for line in text.splitlines() if line.startswith("Pareto front of"))
    assert "dropout=" in pareto
