"""The study's durable Optuna storage: the searcher as Ray pickles, restores and calls it
(without Ray running), and the checks of --optuna-storage before any data work."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray import cloudpickle
from ray.tune.search import Repeater
from ray.tune.search.optuna import OptunaSearch

from study import optuna_storage
from study.layout import StudyLayout
from study.optuna_storage import (
    RAY_TRIAL_ID,
    DurableOptunaSearch,
    OptunaTarget,
    attach,
    database_url,
    masked,
    plan_optuna_storage,
)
from study.search import fixed_config, make_searcher
from study.settings import RunOptions, StudySettings
from trainables.errors import UserInputError

SETTINGS = StudySettings(space="paper", trials=4, seed=0)
FIXED = fixed_config(SETTINGS, train_backbone=False, autocast=False)
OBJECTIVE = SETTINGS.objective


@pytest.fixture(autouse=True)
def _detached():
    """No test leaves its storage attached for the next one (nor finds one attached)."""
    optuna_storage.detach()
    yield
    optuna_storage.detach()


def result(value: float, epoch: int = 1) -> dict[str, float]:
    return {OBJECTIVE: value, "training_iteration": epoch}


class WarningRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def journal_study(path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))))


def test_a_restored_searcher_tells_the_same_trials_and_fails_the_phantoms(tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    attach(OptunaTarget("study", journal=journal))
    searcher = make_searcher(SETTINGS, FIXED)
    assert isinstance(searcher, DurableOptunaSearch)
    tuner_pkl = cloudpickle.dumps(searcher)        # what tune.Tuner pickles when built
    configs = {key: searcher.suggest(key) for key in ("a", "b", "c")}
    searcher.on_trial_result("a", result(0.5))
    searcher.on_trial_complete("a", result(0.5))
    searcher.on_trial_result("b", result(0.25))
    searcher.save(str(tmp_path / "searcher-state.pkl"))  # Ray's last snapshot
    searcher.on_trial_complete("c", result(0.75))         # told after it: Ray will re-run c
    searcher.suggest("d")                                  # asked after it: no Ray trial
    for pickled in (tuner_pkl, (tmp_path / "searcher-state.pkl").read_bytes()):
        assert str(journal).encode() not in pickled and b"JournalStorage" not in pickled

    # The driver dies; a new one attaches the same journal, Ray restores the searcher.
    optuna_storage.detach()
    attach(OptunaTarget("study", journal=journal))
    restored = cloudpickle.loads(tuner_pkl)
    restored.restore(str(tmp_path / "searcher-state.pkl"))
    warned = WarningRecords()
    logging.getLogger(OptunaSearch.__module__).addHandler(warned)
    try:
        restored.on_trial_result("b", result(0.3, epoch=2))
        restored.on_trial_complete("b", result(0.3, epoch=2))
        restored.on_trial_complete("c", result(0.75))  # Ray runs c again: Optuna has it already
        restored.suggest("e")
    finally:
        logging.getLogger(OptunaSearch.__module__).removeHandler(warned)
    assert not warned.records  # no "trial already finished" from Optuna's tell

    trials = journal_study(journal, "study").trials
    assert [t.user_attrs[RAY_TRIAL_ID] for t in trials] == ["a", "b", "c", "d", "e"]
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE,
                                         TrialState.COMPLETE, TrialState.FAIL,
                                         TrialState.RUNNING]
    assert [t.value for t in trials[:3]] == [0.5, 0.3, 0.75]
    assert trials[1].intermediate_values == {1: 0.25, 2: 0.3}
    for trial in trials[:3]:
        config = configs[trial.user_attrs[RAY_TRIAL_ID]]
        assert trial.params and trial.params == {key: config[key] for key in trial.params}
    assert journal_study(journal, "study").metric_names == [OBJECTIVE]


def test_a_database_url_is_never_pickled_and_repeats_keep_one_trial_per_configuration(
        tmp_path: Path) -> None:
    database = tmp_path / "optuna.db"
    attach(OptunaTarget("study", url=f"sqlite:///{database}"))
    searcher = make_searcher(StudySettings(space="paper", trials=2, repeats=2, seed=0), FIXED)
    assert isinstance(searcher, Repeater) and isinstance(searcher.searcher, DurableOptunaSearch)
    for key in ("a", "b"):
        searcher.suggest(key)
    assert str(database).encode() not in cloudpickle.dumps(searcher)
    searcher.on_trial_complete("a", result(0.2))
    searcher.on_trial_complete("b", result(0.4))
    (trial,) = optuna.load_study(study_name="study", storage=f"sqlite:///{database}").trials
    assert trial.value == pytest.approx(0.3) and trial.user_attrs[RAY_TRIAL_ID] == "a"


def test_the_password_is_hidden_and_a_relative_sqlite_file_made_absolute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://me:s3cret@db.example:5432/studies"
    assert masked(database_url(url)) == "postgresql://me:***@db.example:5432/studies"
    monkeypatch.chdir(tmp_path)
    assert database_url("sqlite:///optuna.db") == f"sqlite:///{tmp_path / 'optuna.db'}"
    for bad in ("results/optuna.db", "sqlite://", "sqlite:///:memory:"):
        with pytest.raises(UserInputError):
            database_url(bad)


def plan(tmp_path: Path, url: str | None, stored: dict | None = None) -> OptunaTarget:
    layout = StudyLayout.create(tmp_path / "results", "study")
    return plan_optuna_storage(layout, RunOptions(name="study", optuna_storage=url), stored or {})


def test_a_resumed_study_needs_its_own_storage_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    new = plan(tmp_path, url)
    assert new.record() == {"study_name": "study", "storage": url}  # no password to hide
    secret = "postgresql://me:s3cret@db.example/studies"
    stored = {"optuna": {"study_name": "study", "storage": masked(secret)}}
    with pytest.raises(UserInputError, match="give --optuna-storage with that URL again"):
        plan(tmp_path, None, stored)
    with pytest.raises(UserInputError, match="is not the study's"):
        plan(tmp_path, url, stored)
    with pytest.raises(UserInputError, match="drop --optuna-storage"):
        plan(tmp_path, url, {"optuna": {"study_name": "study", "storage": "journal"}})
    journal = plan(tmp_path, None)
    assert journal.journal == tmp_path / "results" / "study" / "optuna.journal"
    assert not journal.journal.exists()  # nothing is written before the data work


def test_an_unusable_url_is_one_line_without_its_password(tmp_path: Path) -> None:
    for url in ("postgresql://me:s3cret@127.0.0.1:1/studies",  # no driver, or no server
                f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'optuna.db'}",
                "nosuchdialect://me:s3cret@host/db"):
        with pytest.raises(UserInputError) as error:
            plan(tmp_path, url)
        message = str(error.value)
        assert "\n" not in message and "s3cret" not in message and "Optuna cannot open" in message


def test_a_new_study_does_not_take_over_an_optuna_study_with_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="study", storage=url)
    plan(tmp_path, url)  # an Optuna study without trials (a run stopped before its search)
    study.enqueue_trial({"lam": 0.5})
    with pytest.raises(UserInputError, match="already holds an Optuna study 'study' with 1"):
        plan(tmp_path, url)
    assert sqlite3.connect(tmp_path / "optuna.db").execute(
        "select count(*) from trials").fetchone() == (1,)
