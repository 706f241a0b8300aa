"""Parameter columns come from the search space: what its define() suggests (searched), then
what it returns (fixed). A space that is not one of the package's files (``search_spaces.load``
patched) suggests a new parameter, ``dropout``, and every output shows it, each value checked
against the trial's own config; the package's spaces keep the columns they always had.
"""

from __future__ import annotations

import json
import pickle
import types
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pandas as pd
import pytest
from torch.utils.tensorboard import SummaryWriter

import search_spaces
from search_spaces import SpaceParameters
from study import outputs, parameters
from study.layout import StudyLayout
from study.report import search, tables
from study.report.records import Study, TrialRecord
from study.search import trial_table
from study.settings import StudySettings
from study.tensorboard import TrialTensorBoardCallback, write_hparams
from tests.study.test_outputs import FIXED, OBJECTIVE, PARAMS, fake_trial
from tests.study_helpers import hparams_of
from trainables.config import REPEAT_KEY

EXTRA = "unit_extra_space"
SEARCHED = ("lam", "cell", "dropout")
HELD = {"normalisation": "softmax", "seq_len": 20}
#: The columns every output shows for EXTRA, written out from define_extra below.
COLUMNS = [*SEARCHED, *HELD]


def define_extra(trial: optuna.Trial) -> dict[str, Any]:
    trial.suggest_float("lam", 0.0, 1.0)
    trial.suggest_categorical("cell", ["gru", "blstm"])
    trial.suggest_float("dropout", 0.0, 0.5)
    return dict(HELD)


def define_branching(trial: optuna.Trial) -> dict[str, Any]:
    """tau exists only when f is the softmax (suggested last, so the order is fixed)."""
    trial.suggest_float("lam", 0.0, 1.0)
    normalisation = trial.suggest_categorical("normalisation", ["softmax", "linear"])
    if normalisation == "softmax":
        trial.suggest_float("tau", 1.0, 1000.0, log=True)
    return {"cell": "gru"}


@pytest.fixture
def spaces(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """EXTRA and "branching" load as if they were files of search_spaces/."""
    modules = {EXTRA: define_extra, "branching": define_branching}
    real = search_spaces.load

    def load(name: str) -> types.ModuleType:
        if name not in modules:
            return real(name)
        module = types.ModuleType(f"search_spaces.{name}")
        module.DESCRIPTION, module.define = name, modules[name]
        return module

    monkeypatch.setattr(search_spaces, "load", load)
    search_spaces.space_parameters.cache_clear()
    yield
    search_spaces.space_parameters.cache_clear()


def extra_trial(trial_id: str, dropout: float, **kwargs: Any) -> SimpleNamespace:
    return fake_trial(trial_id, params={"lam": 0.25, "cell": "gru", "dropout": dropout,
                                        **HELD}, **kwargs)


def parameter_columns(frame: pd.DataFrame) -> list[str]:
    """The columns between ``status`` and ``epochs_done``: where a trial's parameters go."""
    columns = list(frame.columns)
    return columns[columns.index("status") + 1:columns.index("epochs_done")]


# --- The space's own parameters ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "searched", "fixed"), [
    ("paper", ("lam", "normalisation", "cell", "seq_len"), ()),
    ("paper_int", ("lam", "normalisation", "cell", "seq_len"), ()),
    ("paper_tau", ("lam", "tau", "cell", "seq_len"), ("normalisation",)),
    ("table2", ("lam",), ("normalisation", "cell", "seq_len"))])
def test_package_spaces_split_into_searched_and_fixed(name: str, searched: tuple,
                                                      fixed: tuple) -> None:
    found = search_spaces.space_parameters(name)
    assert (found.searched, found.fixed) == (searched, fixed)
    assert search_spaces.parameters(name) == [*searched, *fixed]
    # Optuna's own record of a trial of the space: the same distributions.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda trial: bool(search_spaces.load(name).define(trial)), n_trials=1)
    assert study.trials[0].distributions == found.distributions


def test_a_parameter_on_one_branch_is_found(spaces: None) -> None:
    found = search_spaces.space_parameters("branching")
    assert (found.searched, found.fixed) == (("lam", "normalisation", "tau"), ("cell",))


def test_a_vanished_space_falls_back_to_the_configs() -> None:
    configs = [{**FIXED, "lr": 0.1, "lam": 0.5, "dropout": 0.2, REPEAT_KEY: 1},
               {**FIXED, "lam": 0.1, "confirm_configuration": "3", "fc_units": 64}]
    assert parameters.of_space("no_such_space", configs) == SpaceParameters(
        ("lam", "dropout", "fc_units"))
    assert parameters.of_space(None, configs) == parameters.of_space("no_such_space", configs)


# --- trials.csv, best.json, the summary -------------------------------------------------------


@pytest.mark.parametrize(("space", "columns"), [
    ("paper", ["lam", "normalisation", "cell", "seq_len"]),
    ("paper_tau", ["lam", "tau", "cell", "seq_len", "normalisation"]),
    ("table2", ["lam", "normalisation", "cell", "seq_len"]),
    (None, ["lam", "normalisation", "cell", "seq_len"])])
def test_package_spaces_keep_their_columns(space: str | None, columns: list[str]) -> None:
    frame = outputs.trials_frame([fake_trial("x"), fake_trial("y")], 6, OBJECTIVE, space)
    assert parameter_columns(frame) == columns
    expected = {key: PARAMS.get(key) for key in columns}
    assert outputs.best_record(frame, OBJECTIVE)["params"] == expected


def test_a_new_parameter_is_in_trials_csv_best_json_and_the_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spaces: None) -> None:
    trials = [extra_trial("a", 0.1, best=0.4), extra_trial("b", 0.35, best=0.7, learned=0.0),
              extra_trial("c", 0.2, best=0.6)]
    layout = StudyLayout(tmp_path / "study")
    layout.root.mkdir()
    monkeypatch.setattr(outputs, "load_analysis", lambda _: SimpleNamespace(trials=trials))
    frame = outputs.write_outputs(layout, 6, OBJECTIVE, EXTRA)

    table = pd.read_csv(layout.trials_csv, dtype={"trial_id": str})
    assert parameter_columns(table) == COLUMNS
    for trial in trials:
        row = table.set_index("trial_id").loc[trial.trial_id]
        assert {key: row[key] for key in COLUMNS} == {key: trial.config[key] for key in COLUMNS}
    best = json.loads(layout.best_file.read_text())
    assert best["trial_id"] == "b"
    assert best["params"] == {key: trials[1].config[key] for key in COLUMNS}

    configurations = outputs.configurations(frame)
    assert list(configurations.columns[1:1 + len(COLUMNS)]) == COLUMNS
    assert configurations.set_index("configuration")["dropout"].to_dict() == {
        "a": 0.1, "b": 0.35, "c": 0.2}

    summary = outputs.summary_table(frame).splitlines()
    assert summary[0].split()[:2 + len(COLUMNS)] == ["trial", "status", *COLUMNS]
    rows = {line.split()[0]: line.split() for line in summary[1:]}
    assert rows["b"][2:2 + len(COLUMNS)] == ["0.250", "gru", "0.350", "softmax", "20"]
    # The warning names a trial by what was searched; the fixed settings are the same for all.
    line = outputs.learning_line(frame)
    assert "trial b (lam=0.25, cell=gru, dropout=0.35)" in line and "seq_len" not in line


def test_repeated_configurations_show_the_new_parameter(spaces: None) -> None:
    trials = [extra_trial(f"{name}{seed}", dropout, repeat=seed, best=0.5 + seed / 10)
              for name, dropout in (("a", 0.1), ("b", 0.4)) for seed in range(2)]
    frame = outputs.trials_frame(trials, 6, OBJECTIVE, EXTRA)
    summary = outputs.summary_table(frame).splitlines()
    assert summary[0].split()[:1 + len(COLUMNS)] == ["configuration", *COLUMNS]
    assert {line.split()[0]: line.split()[3] for line in summary[1:]} == {"a0": "0.100",
                                                                           "b0": "0.400"}


# --- TensorBoard's HParams and Ray's trial table ----------------------------------------------


def test_hparams_are_the_spaces_parameters(tmp_path: Path, spaces: None) -> None:
    config = {**FIXED, "lr": 0.01, "lam": 0.25, "cell": "gru", "dropout": 0.3, **HELD,
              REPEAT_KEY: 0, "shape": [1, 2]}
    with SummaryWriter(str(tmp_path / "space")) as writer:
        write_hparams(writer, config, search_spaces.parameters(EXTRA))
    assert hparams_of(tmp_path / "space") == {key: config[key] for key in COLUMNS}
    # Without names: every value HParams can hold, as Ray's TensorBoard logger writes them.
    with SummaryWriter(str(tmp_path / "all")) as writer:
        write_hparams(writer, config)
    assert hparams_of(tmp_path / "all") == {key: value for key, value in config.items()
                                            if key != "shape"}


def test_the_callback_keeps_its_parameters_through_a_pickle(tmp_path: Path) -> None:
    callback = TrialTensorBoardCallback(tmp_path, ["lam", "dropout"])
    assert pickle.loads(pickle.dumps(callback)).params == ("lam", "dropout")
    assert TrialTensorBoardCallback(tmp_path).params is None


def test_rays_trial_table_shows_the_spaces_parameters(spaces: None) -> None:
    reporter = trial_table(StudySettings(space=EXTRA, repeats=2))
    assert list(reporter._parameter_columns) == [*COLUMNS, REPEAT_KEY]


# --- The report ---------------------------------------------------------------------------------


def extra_study() -> Study:
    """Three configurations of EXTRA, one seed each, different dropout."""
    records = []
    for index, (dropout, accuracy) in enumerate(((0.1, 0.5), (0.2, 0.7), (0.3, 0.6))):
        selected = {"epoch": 1, **{f"{role}_video_acc": accuracy
                                   for role in ("target", "heldout", "source")}}
        config = {**FIXED, "lam": index / 2, "cell": "gru", "dropout": dropout, **HELD}
        records.append(TrialRecord(f"t{index}", "TERMINATED", Path("."), config,
                                   selected=selected, last={"learned": 1.0},
                                   configuration=f"t{index}"))
    settings = StudySettings(space=EXTRA, trials=3, epochs=1, target_holdout=0.3)
    return Study(StudyLayout(Path("no-such-study")), settings, {}, records)


def test_report_tables_show_the_new_parameter(spaces: None) -> None:
    study = extra_study()
    dropouts = {trial.configuration: trial.config["dropout"] for trial in study.trials}
    frame = search.search_frame(study)  # search.csv: what the search varied
    assert list(frame.columns[1:1 + len(SEARCHED)]) == list(SEARCHED)
    assert "seq_len" not in frame and frame.set_index("configuration")["dropout"].to_dict() \
        == dropouts
    table_ii = tables.table_ii_frame(study)  # Table II: every setting of each row
    assert [c for c in table_ii.columns if c in {*COLUMNS, *FIXED}] == COLUMNS
    assert table_ii.set_index("configuration")["dropout"].to_dict() == dropouts
    assert search.describe_params(study, study.trials[1].config) == \
        "λ=0.5, cell=gru, dropout=0.2"
    assert set(search.space_distributions(study)) == set(SEARCHED)
