"""The study's durable Optuna study: the trials Ray's OptunaSearch asks and tells, kept where
``optuna-dashboard`` and ``optuna.load_study`` read them while the study runs.

Where (the Optuna study is named after the study, ``--name``):

- by default ``optuna.journal`` in the study folder: Optuna's JournalStorage on a file, whose
  lock works on a shared file system. A study at a URI (``--storage-path s3://...``) writes
  its journal in the local mirror (:mod:`study.storage`) and uploads it whenever Ray saves
  the experiment state, so that a resume anywhere finds every trial that state refers to;
- or ``--optuna-storage URL``, an Optuna RDB storage (``postgresql://``, ``mysql://``,
  ``sqlite:///``), for a cluster or a shared dashboard.

A URL may hold a password. ``study.json`` records it with the password hidden; it must be
given again on ``--resume`` and is compared in that form. Ray pickles the searcher into
``tuner.pkl`` and into its searcher state: :class:`DurableOptunaSearch` pickles no storage
and no Optuna object, only Optuna trial numbers, and takes the storage back at its first
use from :func:`attach`, which the driver calls for this run before it builds or restores
the Tuner.

Resume: the restored searcher maps its Ray trials to Optuna trial numbers, so a trial that
Ray runs again is told to the Optuna trial it asked for, never to a new one. An Optuna trial
left RUNNING that no restored Ray trial refers to (asked after Ray's last snapshot of the
experiment) is marked FAIL, since nothing will ever finish it. The COMPLETE Optuna trials
are then the finished trials of ``trials.csv``.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray import tune
from ray.air.constants import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from study.layout import StudyLayout, relative
from study.settings import RunOptions
from trainables.errors import UserInputError

#: What study.json records as the storage of a study kept in its own journal file.
JOURNAL = "journal"
#: The user attribute of an Optuna trial naming the Ray trial that asked for it (with
#: --repeats, the configuration's first seed).
RAY_TRIAL_ID = "ray_trial_id"


def database_url(text: str) -> str:
    """``--optuna-storage`` as SQLAlchemy reads it; a relative SQLite file made absolute."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise UserInputError("--optuna-storage is not a database URL; give one such as "
                             "postgresql://user:password@host/db or sqlite:///path/optuna.db "
                             "(without it, the study keeps its journal in its folder)") from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise UserInputError("--optuna-storage: an in-memory SQLite database ends with the "
                                 "run; give a file, such as sqlite:///path/optuna.db")
        url = url.set(database=str(Path(url.database).expanduser().absolute()))
    return url.render_as_string(hide_password=False)


def masked(url: str) -> str:
    """The URL with its password shown as ``***``: what study.json and messages show."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class OptunaTarget:
    """Where this run keeps the study's Optuna trials: its journal file, or a database."""

    study_name: str
    journal: Path | None = None
    url: str | None = field(default=None, repr=False)  # may hold a password: never stored
    upload: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    @property
    def shown(self) -> str:
        """The storage as optuna-dashboard and ``optuna.load_study`` take it (a URL's
        password hidden)."""
        return masked(self.url) if self.url else relative(self.journal)

    def record(self) -> dict[str, str]:
        """What study.json keeps of it."""
        return {"study_name": self.study_name,
                "storage": masked(self.url) if self.url else JOURNAL}

    def open(self) -> BaseStorage:
        """The storage (a journal file is created by this)."""
        if self.url:
            return RDBStorage(self.url)
        return JournalStorage(JournalFileBackend(str(self.journal)))


def plan_optuna_storage(layout: StudyLayout, options: RunOptions,
                        stored: dict[str, Any]) -> OptunaTarget:
    """This run's Optuna storage, checked before any data work (``stored``: study.json of a
    resumed study, ``{}`` for a new one). A URL is opened now, so an unreachable one fails
    here; nothing is created in the study folder."""
    name = layout.name
    url = database_url(options.optuna_storage) if options.optuna_storage else None
    if stored:
        recorded = stored.get("optuna", {}).get("storage", JOURNAL)
        if recorded == JOURNAL and url:
            raise UserInputError(f"--optuna-storage: study {name!r} keeps its Optuna trials in "
                                 f"its own {layout.optuna_journal.name}; drop --optuna-storage")
        if recorded != JOURNAL and url is None:
            raise UserInputError(f"study {name!r} keeps its Optuna trials in {recorded}; give "
                                 f"--optuna-storage with that URL again (it is never stored: "
                                 f"it may hold a password)")
        if url and masked(url) != recorded:
            raise UserInputError(f"--optuna-storage {masked(url)} is not the study's {recorded}; "
                                 f"give the URL the study was started with")
    if url is None:
        target = OptunaTarget(name, journal=layout.optuna_journal,
                              upload=partial(layout.push, layout.optuna_journal.name))
    else:
        target = OptunaTarget(name, url=url)
    exists, trials = _study_in(target)
    if trials and not stored:
        raise UserInputError(f"--optuna-storage {target.shown} already holds an Optuna study "
                             f"{name!r} with {trials} trials; pick another --name, or delete "
                             f"it: optuna delete-study --study-name {name} --storage URL")
    # (a study from before the Optuna storage keeps its history in Ray's searcher state only)
    if stored.get("optuna") and not exists and tune.Tuner.can_restore(layout.tune_path):
        fix = ("give the --optuna-storage it ran with" if url
               else f"restore its {layout.optuna_journal.name}")
        raise UserInputError(f"the search of study {name!r} has started, but {target.shown} holds "
                             f"no Optuna study {name!r}; {fix}")
    return target


def _study_in(target: OptunaTarget) -> tuple[bool, int]:
    """Whether the storage holds the study, and its trials; one line if it cannot be read.
    A journal file that is not there yet is not created."""
    if target.journal is not None and not target.journal.exists():
        return False, 0
    try:
        summaries = optuna.get_all_study_summaries(target.open(), include_best_trial=False)
    except Exception as error:  # a bad URL, a missing driver module, no server: all say so
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        password = make_url(target.url).password if target.url else None
        if password:
            detail = detail.replace(str(password), "***")
        fix = ("check --optuna-storage, its database driver and the network" if target.url
               else "it is not a readable Optuna journal: restore it from a copy")
        raise UserInputError(f"Optuna cannot open {target.shown} ({detail}); {fix}") from None
    counts = {summary.study_name: summary.n_trials for summary in summaries}
    return target.study_name in counts, counts.get(target.study_name, 0)


# ----------------------------------------------------------------------------- this run's study


@dataclass(frozen=True)
class AttachedStudy:
    """The study's Optuna storage, open for this run."""

    study_name: str
    storage: BaseStorage = field(repr=False)
    upload: Callable[[], None] = field(repr=False)


#: This run's Optuna study (None until the driver attaches it with :func:`attach`).
ATTACHED: dict[str, AttachedStudy | None] = {"study": None}


def attach(target: OptunaTarget) -> AttachedStudy:
    """Open ``target`` and make it the storage of every :class:`DurableOptunaSearch` built or
    restored from now on in this process (the searcher creates or loads the Optuna study)."""
    ATTACHED["study"] = AttachedStudy(target.study_name, target.open(), target.upload)
    hidden = " (*** stands for the password)" if target.url and "***" in target.shown else ""
    print(f"Optuna:   study {target.study_name!r} in {target.shown}; watch it: "
          f"optuna-dashboard {target.shown}{hidden}")
    return ATTACHED["study"]


def detach() -> None:
    ATTACHED["study"] = None


def _number(trial: optuna.Trial | int) -> int:
    return trial if isinstance(trial, int) else trial.number


class DurableOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch on the study's durable storage, pickled without it (see the module
    docstring): ``_ot_trials`` maps a Ray trial to its Optuna trial, or, once restored, to
    the Optuna trial's number."""

    def __init__(self, attached: AttachedStudy, **kwargs: Any) -> None:
        self._attached: AttachedStudy | None = attached
        super().__init__(study_name=attached.study_name, storage=attached.storage, **kwargs)
        names = self._metric if isinstance(self._metric, list) else [self._metric]
        with warnings.catch_warnings():  # experimental in Optuna; the dashboard shows them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._ot_study.set_metric_names(names)

    # --- pickled by Ray: tuner.pkl (pickle), the experiment's searcher state (save/restore)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_attached=None, _storage=None, _ot_study=None,
                     _sampler=self._ot_study.sampler if self._ot_study else self._sampler,
                     _ot_trials={key: _number(trial) for key, trial in self._ot_trials.items()})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)  # no storage until the first use (_connect)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__getstate__(), file)
        if self._attached is not None:
            self._attached.upload()  # a URI study's journal, as complete as this state

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__setstate__(pickle.load(file))

    # --- Ray's calls

    def suggest(self, trial_id: str) -> dict | None:
        self._connect()
        new = trial_id not in self._ot_trials
        config = super().suggest(trial_id)
        if new:
            self._ot_trials[trial_id].set_user_attr(RAY_TRIAL_ID, trial_id)
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._connect()
        trial = self._ot_trials.get(trial_id)
        if not isinstance(trial, int):
            super().on_trial_result(trial_id, result)
        elif not isinstance(self.metric, list) and trial_id not in self._completed_trials:
            storage_id = self._storage_id(trial)  # a restored trial: report by its number
            if not self._storage.get_trial(storage_id).state.is_finished():
                self._storage.set_trial_intermediate_value(
                    storage_id, int(result[TRAINING_ITERATION]), float(result[self.metric]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        self._connect()
        trial = self._ot_trials.get(trial_id)
        if trial is not None and trial_id not in self._completed_trials:
            state = self._storage.get_trial(self._storage_id(_number(trial))).state
            if state.is_finished():  # told before the driver died, after Ray's last snapshot
                self._completed_trials.add(trial_id)
                return
        super().on_trial_complete(trial_id, result, error)  # Study.tell takes the number too

    # --- the storage of this run

    def _connect(self) -> None:
        """After a restore: this run's storage, the Optuna study, and no phantom trials."""
        if self._ot_study is not None:
            return
        attached = ATTACHED["study"]
        if attached is None or attached.study_name != self._study_name:
            raise RuntimeError(f"the Optuna study {self._study_name!r} is not attached; "
                               f"study.optuna_storage.attach it before building or restoring "
                               f"the Tuner")
        self._attached, self._storage = attached, attached.storage
        self._ot_study = optuna.load_study(study_name=self._study_name, storage=self._storage,
                                           sampler=self._sampler,
                                           pruner=optuna.pruners.NopPruner())
        self._fail_phantoms()

    def _fail_phantoms(self) -> None:
        """Mark FAIL the Optuna trials left RUNNING that no unfinished Ray trial refers to."""
        live = {_number(trial) for key, trial in self._ot_trials.items()
                if key not in self._completed_trials}
        phantoms = [trial.number for trial in self._ot_study.get_trials(
            deepcopy=False, states=(TrialState.RUNNING,)) if trial.number not in live]
        for number in phantoms:
            self._ot_study.tell(number, state=TrialState.FAIL)
        if phantoms:
            print(f"Optuna:   marked FAIL the trial(s) {', '.join(map(str, phantoms))} that the "
                  f"interrupted run had asked for and no Ray trial will finish")

    def _storage_id(self, number: int) -> int:
        study_id = self._storage.get_study_id_from_name(self._study_name)
        return self._storage.get_trial_id_from_study_id_trial_number(study_id, number)
