"""``python -m study.report``: a study's tables and figures, laid out as in Section IV.

It reads what is on disk under ``STORAGE/NAME`` (Tune's trial folders and experiment
state, NetB's summary and centroids Z, ``study.json``, ``confirm.csv``) and writes
``STORAGE/NAME/report/``: ``report.md``, one CSV per table and one PNG per figure. A running
or interrupted study is reported as far as it got; what is missing is said in the report,
not raised.

Every number names its level (video or frame), its split and its epoch rule. Each trial is
read at its *selected epoch*: the first epoch that reached its best selection metric
(``selected_epoch``, reported by the trainable with every accuracy at that epoch as
``selected_<name>``). Held-out and source accuracies are only ever taken there, never as a
maximum over epochs. When the study has no held-out videos (``--target-holdout 0`` and no
``--test-split``), its target figures were selected on the split they are measured on and
are labelled "selected on the evaluation split (optimistic)".

With ``--repeats N`` the unit is the *configuration* (one suggestion of the sampler, run
with N seeds): tables show the mean and 95% interval over its seeds
(:func:`study.statistics.mean_ci`).

Sections, in order: NetB's floor (NetB and a linear probe beside NetA), Table II (accuracy
per lam; with ``--space table2`` a paired lam = 0 against lam = 1 test on the held-out
videos; the ``--confirm-top`` runs), Tables III/IV (per-class accuracy on the evaluation
split and the source), Table V (the best configuration's confusion matrix on the evaluation
split, recomputed from its kept checkpoints), Table VII (distance of NetA's class centroids
from Z), t-SNE (Figures 5-9, plus the frame representations X of eq. 4), and what the
search learned (Optuna's parameter importances, accuracy against lam, the source/target
Pareto front).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import torch
from sklearn.manifold import TSNE
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

import search_spaces
from study import defaults
from study.cli import OneLineParser
from study.layout import StudyLayout, read_json, relative
from study.outputs import REPEAT_KEY, load_analysis, trials_frame
from study.settings import StudySettings
from study.statistics import format_ci, mean_ci, paired_difference
from study.storage import is_uri
from study.tensorboard import HPARAMS
from trainables.centroids import compute_centroids
from trainables.checkpoint import CHECKPOINT_FILE
from trainables.config import (
    DEFAULT_CLASSES,
    DISTANCE_TEMPERATURE,
    HELDOUT,
    LEARNED_MARGIN,
    SOURCE,
    TARGET,
)
from trainables.engine import DeviceSplit, Evaluation, SplitArrays, StudyArrays, evaluate
from trainables.errors import UserInputError
from trainables.metrics import video_scores
from trainables.network import NetworkSettings, build_network
from trainables.probe import learning_floor

matplotlib.use("Agg")  # files only: the report runs on headless machines too

# --- The paper's published AFEW figures (EmotiW 2017: source = Train, target = Val) --------
#: Table II: lam -> (accuracy on the validation set, accuracy on the training set).
PAPER_TABLE_II = {0.0: (0.446, 0.69), 0.25: (0.426, 0.67), 0.5: (0.422, 0.622),
                  0.75: (0.398, 0.611), 1.0: (0.384, 0.606)}
#: Table III: per-category accuracy on the validation set, classes in DEFAULT_CLASSES order,
#: then the total; lam = 0 and lam = 1.
PAPER_TABLE_III = {0.0: (0.492, 0.578, 0.075, 0.217, 0.667, 0.623, 0.217, 0.446),
                   1.0: (0.466, 0.56, 0.0, 0.046, 0.635, 0.431, 0.111, 0.384)}
#: Table IV: the same on the training set.
PAPER_TABLE_IV = {0.0: (0.842, 0.854, 0.08, 0.273, 0.923, 0.928, 0.444, 0.69),
                  1.0: (0.833, 0.802, 0.007, 0.014, 0.901, 0.707, 0.164, 0.606)}
#: Table VII: mean distance of each training-set cluster centre from the validation one (Z).
PAPER_TABLE_VII = {0.0: (0.015, 0.015, 0.052, 0.055, 0.012, 0.025, 0.055),
                   1.0: (0.067, 0.061, 0.058, 0.065, 0.077, 0.065, 0.067)}
REFERENCE = "paper, AFEW (reference)"

#: lam within this of 0 (of 1) counts as "lam near 0" ("near 1") for Tables III/IV and VII;
#: on the table2 grid that is exactly lam = 0 and lam = 1, the paper's comparison.
NEAR_LAM = 0.1
#: Frames of each split in the t-SNE of representations (t-SNE's cost grows with N^2).
MAX_TSNE_FRAMES = 500
#: Up to this many points exact t-SNE is faster than Barnes-Hut (whose per-iteration
#: thread start-up dominates on a few dozen centroids).
EXACT_TSNE_POINTS = 300
#: Fewest finished configurations Optuna's importances are computed from: fANOVA fits a
#: random forest to (parameters, objective); with a handful of points its ranking is noise.
MIN_IMPORTANCE_TRIALS = 10
IMPORTANCE_SEED = 0
RESULT_FILE = "result.json"
CONFIRM_CSV = "confirm.csv"
OPTIMISTIC = "selected on the evaluation split (optimistic)"
SECTIONS = ("Floor: NetB and a linear probe", "Table II", "Tables III/IV", "Table V",
            "Table VII", "t-SNE (Figures 5-9)", "What the search learned")
ROLE_NAMES = {SOURCE: "source", TARGET: "target", HELDOUT: "held-out"}


# --- What the study holds ---------------------------------------------------------------


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and math.isfinite(float(value)))


@dataclass
class TrialRecord:
    """One NetA trial as found on disk.

    ``selected`` holds its numbers at the selected epoch under their plain names
    (``target_video_acc``, ``class_acc/heldout_video/Anger``, ``centroid_distance/Sad``,
    ``epoch``); ``last`` is its last result (``best_*``, ``learned``, chance levels).
    ``checkpoint`` is the kept checkpoint of the selected epoch or, when Tune kept another
    epoch tied with it on the selection metric, that one (``checkpoint_epoch`` says which).
    """

    trial_id: str
    status: str
    path: Path
    config: dict[str, Any]
    selected: dict[str, Any] | None = None
    last: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    checkpoint_epoch: int | None = None
    epochs_done: int = 0
    configuration: str = ""

    @property
    def lam(self) -> float:
        value = self.config.get("lam")
        return float(value) if _finite(value) else math.nan

    @property
    def repeat(self) -> int:
        return int(self.config.get(REPEAT_KEY, 0))

    @property
    def label(self) -> str:
        seed = f", seed #{self.repeat}" if self.repeat else ""
        return f"λ={self.lam:.2f} (trial {self.trial_id}{seed})"

    @property
    def selected_epoch(self) -> int | None:
        epoch = (self.selected or {}).get("epoch")
        return int(epoch) if _finite(epoch) else None

    @property
    def did_not_learn(self) -> bool | None:
        learned = self.last.get("learned")
        return None if not _finite(learned) else not bool(learned)

    def value(self, key: str) -> float:
        value = (self.selected or {}).get(key)
        return float(value) if _finite(value) else math.nan


@dataclass
class Configuration:
    """One suggestion of the sampler and its seeds' trials (one trial without repeats)."""

    configuration: str
    trials: list[TrialRecord]

    @property
    def first(self) -> TrialRecord:
        return self.trials[0]

    @property
    def config(self) -> dict[str, Any]:
        return self.first.config

    @property
    def lam(self) -> float:
        return self.first.lam

    @property
    def seeds(self) -> int:
        return len(self.trials)

    @property
    def label(self) -> str:
        if self.seeds == 1:
            return self.first.label
        return f"λ={self.lam:.2f} (configuration {self.configuration}, {self.seeds} seeds)"

    def values(self, key: str) -> list[float]:
        return [trial.value(key) for trial in self.trials]

    def mean(self, key: str) -> float:
        values = [v for v in self.values(key) if math.isfinite(v)]
        return float(np.mean(values)) if values else math.nan

    def interval(self, key: str) -> tuple[float, float, float]:
        bounds = (0.0, 1.0) if key.endswith("_acc") or key.startswith("class_acc/") else None
        return mean_ci(self.values(key), bounds=bounds)

    @property
    def did_not_learn_seeds(self) -> int:
        return sum(trial.did_not_learn is True for trial in self.trials)

    @property
    def learning_known(self) -> bool:
        return any(trial.did_not_learn is not None for trial in self.trials)

    def learned_cell(self) -> str:
        if not self.learning_known:
            return "—"
        if not self.did_not_learn_seeds:
            return "yes"
        if self.seeds == 1:
            return "**did not learn**"
        return f"**did not learn ({self.did_not_learn_seeds}/{self.seeds} seeds)**"


@dataclass
class Study:
    """A study's settings and trials, and what the report needs to say is missing."""

    layout: StudyLayout
    settings: StudySettings
    stored: dict[str, Any]
    trials: list[TrialRecord]
    missing: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.settings.metric

    @property
    def level(self) -> str:
        """``video`` or ``frame``: the level of the metric that selects trials."""
        return self.settings.metric.split("_")[1]

    @property
    def selection_role(self) -> str:
        """The split whose accuracy selects: ``target`` (or ``source``)."""
        return self.settings.metric.split("_")[0]

    def accuracy_key(self, role: str) -> str:
        return f"{role}_{self.level}_acc"

    @property
    def has_heldout(self) -> bool:
        key = self.accuracy_key(HELDOUT)
        return any(_finite((t.selected or {}).get(key)) for t in self.trials)

    @property
    def optimistic(self) -> bool:
        """Selection and evaluation on the same videos: no held-out split."""
        return not self.has_heldout or (self.settings.target_holdout == 0
                                        and not self.settings.test_split)

    @property
    def eval_role(self) -> str:
        """The split the paper's evaluation tables are measured on: held-out, if any."""
        return TARGET if self.optimistic else HELDOUT

    def split_name(self, role: str) -> str:
        """The data split behind a role, as the user named it."""
        settings = self.settings
        if role == SOURCE:
            return settings.source_split
        if role == HELDOUT:
            return settings.test_split or (f"{settings.target_split}, "
                                           f"{settings.target_holdout:.0%} held out")
        if self.has_heldout and not settings.test_split and settings.target_holdout > 0:
            return f"{settings.target_split}, the other {1 - settings.target_holdout:.0%}"
        return settings.target_split

    def rule(self, role: str) -> str:
        """The epoch rule of ``role``'s accuracy: the selection split's value at the selected
        epoch is its best; every other split's is taken at the selected epoch."""
        return "best epoch" if role == self.selection_role else "selected epoch"

    def describe(self, role: str) -> str:
        """``held-out video acc (selected epoch)`` (+ the optimistic note where it applies)."""
        text = f"{ROLE_NAMES[role]} {self.level} acc ({self.rule(role)})"
        if role == TARGET and self.optimistic:
            text += f", {OPTIMISTIC}"
        return text

    def split_phrase(self, role: str) -> str:
        note = f", {OPTIMISTIC}" if role == TARGET and self.optimistic else ""
        return f"{ROLE_NAMES[role]} ({self.split_name(role)}){note}"

    @property
    def scored(self) -> list[TrialRecord]:
        """Trials with a selected epoch, in order of lam."""
        return sorted((t for t in self.trials if t.selected is not None),
                      key=lambda t: (t.lam, t.trial_id))

    @functools.cached_property
    def configurations(self) -> list[Configuration]:
        """Configurations with a result, best mean selection metric first (ties: better mean
        source accuracy, then lower lam); ids as in trials.csv."""
        groups: dict[str, list[TrialRecord]] = {}
        for trial in self.scored:
            groups.setdefault(trial.configuration or trial.trial_id, []).append(trial)
        found = [Configuration(name, sorted(trials, key=lambda t: (t.repeat, t.trial_id)))
                 for name, trials in groups.items()]
        source = self.accuracy_key(SOURCE)
        return sorted(found, key=lambda c: (-_or(c.mean(self.metric), -1.0),
                                            -_or(c.mean(source), -1.0), _or(c.lam, 2.0),
                                            c.configuration))

    @property
    def repeated(self) -> bool:
        return any(c.seeds > 1 for c in self.configurations)

    def best_configuration(self, among: Iterable[Configuration] | None = None
                           ) -> Configuration | None:
        """The first of ``among`` (default: all) in :attr:`configurations` order."""
        chosen = {id(c) for c in (self.configurations if among is None else among)}
        return next((c for c in self.configurations if id(c) in chosen), None)

    def best_trial(self) -> TrialRecord | None:
        """The best configuration's first seed (for figures of one network)."""
        best = self.best_configuration()
        return best.first if best else None

    @functools.cached_property
    def netb(self) -> dict[str, Any] | None:
        if not self.layout.netb_summary.exists():
            return None
        return read_json(self.layout.netb_summary)


def _or(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def find_study(storage_path: str, name: str) -> StudyLayout:
    """The study folder; bad names and paths are the user's to fix (one-line errors).

    A study stored at a URI is downloaded whole (checkpoints included: Table V needs them)
    into its local mirror, and reported from there.
    """
    if "/" in name or name in ("", ".", ".."):
        raise UserInputError(f"--name {name!r} must be a plain folder name")
    if is_uri(storage_path):
        return download_study(StudyLayout.create(storage_path, name))
    storage = Path(storage_path).expanduser()
    if storage.exists() and not storage.is_dir():
        raise UserInputError(f"--storage-path {storage} is a file; give the folder that holds "
                             f"the study")
    layout = StudyLayout.create(storage, name)
    if not layout.exists():
        known = sorted(p.parent.name for p in storage.glob("*/study.json"))
        hint = f"studies there: {', '.join(known)}" if known else "it holds no study"
        raise UserInputError(f"no study {name!r} under {storage} ({hint}); check --name and "
                             f"--storage-path")
    return layout


def download_study(layout: StudyLayout) -> StudyLayout:
    if not layout.exists():
        raise UserInputError(f"no study {layout.name!r} under {layout.tune_storage}; check "
                             f"--name and --storage-path")
    layout.clear_mirror()
    print(f"Downloading {layout.remote.uri} to {layout.root}")
    layout.remote.download("", layout.root)
    return layout


def read_results(path: Path) -> list[dict[str, Any]]:
    """Tune's per-epoch results of one trial (one JSON object a line); [] when absent.

    A running trial may be mid-write, so an incomplete last line is dropped.
    """
    result_file = path / RESULT_FILE
    if not result_file.exists():
        return []
    rows = []
    for line in result_file.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def tune_trials(layout: StudyLayout) -> dict[str, tuple[str, Path, dict, dict]]:
    """trial id -> (status, folder, config, last result) from Tune's experiment state.

    No experiment state yet (a study stopped during NetB or before Tune's first snapshot)
    gives {}; the trial folders are then the only record.
    """
    try:
        analysis = load_analysis(layout)
    except (ValueError, FileNotFoundError, OSError):
        return {}
    return {t.trial_id: (t.status, Path(t.path), dict(t.config), dict(t.last_result or {}))
            for t in analysis.trials}


def folder_trials(layout: StudyLayout) -> dict[str, tuple[str, Path, dict, dict]]:
    """Trial folders Tune's snapshot does not list yet (a running study's newest trials)."""
    found = {}
    for params in layout.root.glob("trial_*/params.json"):
        trial_id = params.parent.name.removeprefix("trial_")
        found[trial_id] = ("UNKNOWN", params.parent, read_json(params), {})
    return found


def _plain_selected(row: dict[str, Any]) -> dict[str, Any]:
    """``selected_<name>`` values of a result row under their plain names."""
    return {key.removeprefix("selected_"): value for key, value in row.items()
            if key.startswith("selected_") and key != "selected_epoch"}


def _selection_values(row: dict[str, Any]) -> dict[str, Any]:
    """The per-epoch numbers of a row that the report reads at the selected epoch."""
    return {key: value for key, value in row.items()
            if key.endswith("_acc") and not key.startswith(("best_", "selected_", "chance_"))
            or key.startswith(("class_acc/", "centroid_distance"))}


def selected_epoch(rows: Sequence[dict[str, Any]], metric: str, folder: Path
                   ) -> tuple[dict[str, Any] | None, Path | None, int | None]:
    """(numbers at the selected epoch, kept checkpoint folder, that checkpoint's epoch).

    The selected epoch is the trainable's ``selected_epoch`` with its ``selected_*``
    values; for a study written before those existed, the first epoch with the best
    ``metric`` and that row's values. The checkpoint is the selected epoch's when Tune kept
    it; else a kept one of an epoch tied with it on ``metric`` (Tune keeps the latest of
    tied epochs); else None.
    """
    if not rows:
        return None, None, None
    last = rows[-1]
    if _finite(last.get("selected_epoch")):
        epoch = int(last["selected_epoch"])
        selected = {**_plain_selected(last), "epoch": epoch}
        at_epoch = [row for row in rows if row.get("epoch") == epoch]
        value = at_epoch[-1].get(metric) if at_epoch else selected.get(metric)
    else:
        scored = [row for row in rows if _finite(row.get(metric))]
        if not scored:
            return None, None, None
        value = max(row[metric] for row in scored)
        first = next(row for row in scored if row[metric] == value)
        epoch = int(first.get("epoch", first.get("training_iteration", 0)))
        selected = {**_selection_values(first), "epoch": epoch}
        at_epoch = [first]
    for row in at_epoch:
        path = folder / str(row.get("checkpoint_dir_name"))
        if (path / CHECKPOINT_FILE).exists():
            return selected, path, epoch
    tied = [row for row in rows if _finite(value) and row.get(metric) == value
            and (folder / str(row.get("checkpoint_dir_name")) / CHECKPOINT_FILE).exists()]
    if tied:
        return selected, folder / tied[-1]["checkpoint_dir_name"], int(tied[-1].get("epoch", 0))
    return selected, None, None


def load_trial(trial_id: str, status: str, folder: Path, config: dict, last: dict,
               metric: str, missing: list[str]) -> TrialRecord:
    """A trial's record, noting in ``missing`` what of it is not on disk."""
    rows = read_results(folder)
    if not rows and "training_iteration" in last:  # a pending trial's last result is empty
        rows = [last]
        missing.append(f"trial {trial_id}: {RESULT_FILE} is missing; only its last result "
                       f"(from Tune's experiment state) is used")
    selected, checkpoint, checkpoint_epoch = selected_epoch(rows, metric, folder)
    done = max((int(row.get("epoch", 0)) for row in rows), default=0)
    record = TrialRecord(trial_id, status, folder, config, selected, rows[-1] if rows else {},
                         checkpoint, checkpoint_epoch, done)
    if record.selected is None:
        missing.append(f"trial {trial_id} ({status}): no results yet")
    elif record.checkpoint is None:
        missing.append(f"trial {trial_id}: the checkpoint of its selected epoch "
                       f"({record.selected_epoch}) is not on disk")
    elif checkpoint_epoch != record.selected_epoch:
        missing.append(f"trial {trial_id}: Tune kept the checkpoint of epoch {checkpoint_epoch} "
                       f"(tied with the selected epoch {record.selected_epoch} on `{metric}`); "
                       f"sections that re-evaluate it say so")
    return record


def assign_configurations(trials: list[TrialRecord], objective: str) -> None:
    """Configuration ids as trials.csv names them (:func:`study.outputs.trials_frame`)."""
    if not trials:
        return
    fakes = [SimpleNamespace(trial_id=t.trial_id, status=t.status, config=t.config,
                             last_result=t.last, path=str(t.path)) for t in trials]
    frame = trials_frame(fakes, 0, objective)
    names = dict(zip(frame["trial_id"], frame["configuration"], strict=True))
    for trial in trials:
        trial.configuration = names.get(trial.trial_id, trial.trial_id)


def load_study(layout: StudyLayout) -> Study:
    """Settings from ``study.json``; trials from Tune's state plus any newer trial folders."""
    stored = read_json(layout.study_file)
    settings = StudySettings.from_dict(stored["settings"])
    study = Study(layout, settings, stored, [])
    tune_state, folders = tune_trials(layout), folder_trials(layout)
    if folders and not tune_state:
        study.missing.append("Tune's experiment state (experiment_state-*.json): trial "
                             "statuses are unknown")
    if not layout.netb_summary.exists():
        study.missing.append(f"NetB has not finished ({relative(layout.netb_summary)} is "
                             f"missing)")
    known = {**folders, **tune_state}
    for trial_id, (status, folder, config, last) in sorted(known.items()):
        study.trials.append(load_trial(trial_id, status, folder, config, last,
                                       settings.metric, study.missing))
    assign_configurations(study.trials, settings.objective)
    expected = settings.trials * max(1, settings.repeats)
    unstarted = expected - len(study.trials)
    if unstarted > 0:
        study.missing.append(f"{unstarted} of {expected} trials have not started")
    return study


# --- Re-evaluating checkpoints on the study's data ---------------------------------------


class Evaluator:
    """Scores and representations X (eq. 4) of a trial's kept checkpoint on a split.

    The splits come from the study's own frame/feature caches (no Ray cluster: features are
    computed on this process when not cached). Loaded on first use; ``problem`` says why it
    cannot be, e.g. when the data changed since the study ran. ``data`` (and
    ``backbone_state``) given here are used as they are, without reading anything.
    """

    def __init__(self, study: Study, data: StudyArrays | None = None,
                 backbone_state: dict[str, torch.Tensor] | None = None,
                 z: np.ndarray | None = None) -> None:
        self.study = study
        self._data = data
        self._backbone_state = backbone_state
        self._cache: dict[tuple[str, str], Evaluation] = {}
        if z is not None:
            self.__dict__["z"] = np.asarray(z, dtype=np.float32)

    @functools.cached_property
    def problem(self) -> str | None:
        """None once the data is loaded; else why it cannot be."""
        if self._data is not None:
            return None
        return self._load()

    @functools.cached_property
    def z(self) -> np.ndarray:
        """NetB's class centroids Z (eq. 2), rows in class order."""
        return np.asarray(read_json(self.study.layout.centroids_file)["centroids"],
                          dtype=np.float32)

    def _load(self) -> str | None:
        # Imported here: the data and backbone code is only needed when re-evaluating.
        from study.data_roles import fingerprint, load_data, study_arrays
        from study.stages import Backbone, Resources, features_by_role
        from trainables.config import IMAGE_SIZE

        settings = self.study.settings
        if not self.study.layout.centroids_file.exists():
            return f"NetB's centroids ({relative(self.study.layout.centroids_file)}) are missing"
        try:
            backbone = Backbone.build(settings.backbone, settings.backbone_weights,
                                      settings.train_backbone, settings.seed, IMAGE_SIZE)
            splits = load_data(settings, progress=False)
        except (UserInputError, OSError) as error:
            return f"the study's data cannot be read ({error})"
        if fingerprint(splits, backbone) != self.study.stored.get("fingerprint"):
            return ("the data or backbone weights no longer match the study's fingerprint in "
                    "study.json")
        resources = Resources(gpus=0, gpus_per_trial=1, cpus_per_trial=1, progress=False)
        try:
            self._data = study_arrays(splits, features_by_role(splits, backbone, resources),
                                      settings)
        except UserInputError as error:
            return f"the study's splits cannot be rebuilt ({error})"
        self._backbone_state = backbone.state if backbone.trainable else None
        return None

    def network(self, trial: TrialRecord) -> torch.nn.Module:
        """NetA with the weights of the trial's kept checkpoint."""
        assert self._data is not None and trial.checkpoint is not None
        network = build_network(NetworkSettings.from_config(trial.config), self._data.source,
                                self._backbone_state, trial.config.get("train_backbone", False))
        saved = torch.load(trial.checkpoint / CHECKPOINT_FILE, map_location="cpu",
                           weights_only=True)
        network.load_state_dict(saved["network"])
        return network

    def evaluate(self, trial: TrialRecord, role: str) -> Evaluation:
        """``trainables.engine.evaluate`` of the trial's kept checkpoint on ``role``'s split."""
        key = (trial.trial_id, role)
        if key not in self._cache:
            settings = NetworkSettings.from_config(trial.config)
            split = DeviceSplit.create(self.arrays(role), torch.device("cpu"))
            self._cache[key] = evaluate(
                self.network(trial), split, torch.as_tensor(self.z), lam=trial.lam,
                normalisation=trial.config["normalisation"],
                tau=float(trial.config.get("tau", DISTANCE_TEMPERATURE)),
                seq_len=settings.seq_len, batch_size=settings.batch_size)
        return self._cache[key]

    def arrays(self, role: str) -> SplitArrays:
        assert self._data is not None
        return self._data.roles()[role]

    def has(self, role: str) -> bool:
        return self._data is not None and role in self._data.roles()


def unusable(evaluator: Evaluator, trials: Sequence[TrialRecord | None]) -> str | None:
    """Why these trials' checkpoints cannot be evaluated, or None when they can."""
    present = [t for t in trials if t is not None]
    if not present:
        return "no trial has reported a result yet"
    lacking = sorted({t.trial_id for t in present if t.checkpoint is None})
    if lacking:
        return f"no checkpoint of the selected epoch on disk for trial(s) {', '.join(lacking)}"
    return evaluator.problem


def substitutes(trials: Iterable[TrialRecord]) -> str:
    """A sentence naming checkpoints that are not of the selected epoch, or ""."""
    other = [t for t in trials if t.checkpoint is not None
             and t.checkpoint_epoch != t.selected_epoch]
    if not other:
        return ""
    return (" Tune kept a tied epoch's checkpoint instead of the selected epoch's for " +
            ", ".join(f"trial {t.trial_id} (epoch {t.checkpoint_epoch} for "
                      f"{t.selected_epoch})" for t in other) + ".")


# --- Writing --------------------------------------------------------------------------------


@dataclass
class Section:
    title: str
    lines: list[str]


class ReportFolder:
    """The report folder; every CSV and PNG goes through here, and so does every gap."""

    def __init__(self, folder: Path, missing: list[str]) -> None:
        self.folder = folder
        self.missing = missing

    def reset(self) -> None:
        """Start empty, so no file from an earlier report outlives a section now skipped."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)

    def csv(self, name: str, frame: pd.DataFrame, index: bool = False) -> str:
        frame.to_csv(self.folder / name, index=index)
        return f"CSV: [{name}]({name})"

    def png(self, name: str, figure: plt.Figure) -> str:
        figure.tight_layout()
        figure.savefig(self.folder / name, dpi=120)
        plt.close(figure)
        return f"![{name}]({name})"

    def gap(self, section: str, reason: str) -> str:
        """Record what a section lacks; return the sentence the section shows."""
        self.missing.append(f"{section}: {reason}")
        return f"_Missing: {reason}._"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3f}"
    return "—" if value is None or value is pd.NA else str(value)


def markdown_table(frame: pd.DataFrame, bold: Sequence[str] = (),
                   top: dict[str, pd.Series] | None = None) -> str:
    """A pipe table; the largest value of each ``bold`` column in bold, as the paper does.

    ``top`` gives, for a column of text (``0.5 [0.4, 0.6]``), the numbers that decide which
    of its rows is bold.
    """
    text = frame.map(_cell)
    for column in [*bold, *(top or {})]:
        values = (top or {}).get(column)
        values = pd.to_numeric(frame[column] if values is None else values, errors="coerce")
        if values.notna().any():
            best = (values == values.max()).to_numpy()
            text.loc[best, column] = "**" + text.loc[best, column] + "**"
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines)


def _params(study: Study, configuration: Configuration) -> dict[str, Any]:
    return {name: configuration.config.get(name) for name in searched(study)}


def searched(study: Study) -> list[str]:
    """The searched parameters (the space's), else the HParams names."""
    return list(space_distributions(study.settings.space) or HPARAMS)


def shown_params(study: Study) -> list[str]:
    """Parameters worth a column: present in some trial's config."""
    present = {key for trial in study.trials for key in trial.config}
    return [name for name in dict.fromkeys([*searched(study), *HPARAMS]) if name in present]


# --- Floor: NetB and the linear probe --------------------------------------------------------


def floor_section(study: Study, out: ReportFolder) -> Section:
    """NetB's own-split and held-out accuracy and the linear probe's, beside NetA's best."""
    title = SECTIONS[0]
    summary = study.netb
    if summary is None:
        return Section(title, [out.gap(title, "NetB's summary.json is missing")])
    level = study.level
    metrics, chance = summary.get("metrics", {}), summary.get("chance", {})
    probe = summary.get("probe") or {}
    roles = [TARGET, *([] if study.optimistic else [HELDOUT]), SOURCE]

    def key(role: str) -> str:
        return f"{role}_{level}_acc"

    def verdict(own: float, floor: float | None, learned: bool | None) -> str:
        if _finite(floor) and _finite(own) and own < floor:
            return ("**has not learned** (below the linear probe's held-out accuracy, on its "
                    "own split)")
        if learned is False:
            return (f"**has not learned** (within {LEARNED_MARGIN:g} of chance on its own "
                    f"split)")
        return "learned" if learned is not None or _finite(floor) else "—"

    rows = []
    netb_own = metrics.get(key(TARGET))
    rows.append({"network": "NetB", "trained on": f"target ({study.split_name(TARGET)})",
                 f"own split {level} acc": netb_own,
                 **{study.split_phrase(r): metrics.get(key(r)) for r in roles},
                 "verdict": verdict(netb_own, learning_floor(probe, TARGET, level),
                                    summary.get("learned"))})
    if probe:
        rows.append({"network": "linear probe (frozen CNN features)",
                     "trained on": f"target ({study.split_name(TARGET)})",
                     f"own split {level} acc": probe.get(key(TARGET)),
                     **{study.split_phrase(r): probe.get(key(r)) for r in roles},
                     "verdict": "the floor"})
    best = study.best_configuration()
    if best is not None:
        learned = None if not best.learning_known else best.did_not_learn_seeds == 0
        neta_own = best.mean(key(SOURCE))
        rows.append({"network": f"NetA, best: {best.label}",
                     "trained on": f"source ({study.split_name(SOURCE)})",
                     f"own split {level} acc": neta_own,
                     **{study.split_phrase(r): best.mean(key(r)) for r in roles},
                     "verdict": verdict(neta_own, None, learned)})
    rows.append({"network": "chance (majority class)", "trained on": "—",
                 f"own split {level} acc": None,
                 **{study.split_phrase(r): chance.get(f"{r}_video_acc") if level == "video"
                    else None for r in roles}, "verdict": "—"})
    frame = pd.DataFrame(rows)
    lines = [f"{level.capitalize()}-level accuracy of NetB (trained on the target part, "
             f"centroids Z from it), of a linear probe (logistic regression on the frozen CNN's "
             f"features, fitted on the same part) and of NetA's best configuration (at its "
             f"selected epoch; target: its best epoch). A network that does not reach, on the "
             f"split it was trained on, what the probe reaches on held-out videos has not "
             f"learned it (the probe itself fits its own split perfectly: it has more feature "
             f"dimensions than there are frames).", "", markdown_table(frame), "",
             out.csv("floor.csv", frame)]
    if not probe:
        lines += ["", "No linear probe in NetB's summary (a study on frames, or one run "
                      "before the probe existed)."]
    return Section(title, lines)


# --- Table II -------------------------------------------------------------------------------


def _roles(study: Study) -> list[str]:
    """Target (selection), held-out (if any), source."""
    return [TARGET, *([HELDOUT] if study.has_heldout else []), SOURCE]


def table_ii_frame(study: Study) -> pd.DataFrame:
    """One row per configuration with a result, sorted by lam: mean and 95% interval over
    its seeds of each split's accuracy at the selected epoch (the selection split's value
    there is its best), and how many seeds did not learn."""
    rows = []
    for config in sorted(study.configurations, key=lambda c: (_or(c.lam, 2.0),
                                                               c.configuration)):
        paper = PAPER_TABLE_II.get(config.lam, (math.nan, math.nan))
        row: dict[str, Any] = {
            "configuration": config.configuration,
            "trial_ids": ",".join(t.trial_id for t in config.trials),
            "status": ",".join(sorted({t.status for t in config.trials})),
            **{name: config.config.get(name) for name in shown_params(study)},
            "seeds": config.seeds,
            "selected_epochs": ",".join(str(t.selected_epoch) for t in config.trials)}
        for role in _roles(study):
            key = study.accuracy_key(role)
            row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = config.interval(key)
        row["did_not_learn_seeds"] = (config.did_not_learn_seeds if config.learning_known
                                      else None)
        row["paper_target_acc"], row["paper_source_acc"] = paper
        rows.append(row)
    return pd.DataFrame(rows)


def _ci_cell(frame: pd.DataFrame, key: str) -> pd.Series:
    return pd.Series([format_ci(m, lo, hi) for m, lo, hi in
                      zip(frame[f"{key}_mean"], frame[f"{key}_low"], frame[f"{key}_high"],
                          strict=True)], index=frame.index)


def _column(study: Study, role: str) -> str:
    suffix = ", mean [95% CI] over seeds" if study.repeated else ""
    return f"{study.split_phrase(role)}: {study.level} acc ({study.rule(role)}){suffix}"


def table_ii_shown(study: Study, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Table II as printed: text cells, and the means deciding the bold ones."""
    shown = pd.DataFrame({"configuration": frame["configuration"]})
    for name in shown_params(study):
        shown[name] = frame[name]
    shown["seeds"] = frame["seeds"]
    if not study.repeated:
        shown["selected epoch"] = frame["selected_epochs"]
    top = {}
    for role in _roles(study):
        key, column = study.accuracy_key(role), _column(study, role)
        shown[column] = _ci_cell(frame, key)
        top[column] = frame[f"{key}_mean"]
    configurations = {c.configuration: c for c in study.configurations}
    shown["learned?"] = [configurations[c].learned_cell() for c in frame["configuration"]]
    return shown, top


def paper_layout(study: Study) -> tuple[pd.DataFrame, dict]:
    """Table II as printed (one row per grid lam), the paper's figures beside ours."""
    rows, top = [], {}
    for lam, (paper_target, paper_source) in PAPER_TABLE_II.items():
        best = study.best_configuration(c for c in study.configurations if c.lam == lam)
        row: dict[str, Any] = {"Value of λ": f"{lam:g}"}
        for role in _roles(study):
            key, column = study.accuracy_key(role), _column(study, role)
            row[column] = format_ci(*best.interval(key)) if best else None
            top.setdefault(column, []).append(best.mean(key) if best else math.nan)
        row["seeds"] = str(best.seeds) if best else None
        row["learned?"] = best.learned_cell() if best else None
        row["configuration"] = best.configuration if best else None
        row[f"Validation, {REFERENCE}"] = paper_target
        row[f"Training, {REFERENCE}"] = paper_source
        rows.append(row)
    return pd.DataFrame(rows), {k: pd.Series(v) for k, v in top.items()}


def reference_table_ii() -> pd.DataFrame:
    return pd.DataFrame([{"Value of λ": f"{lam:g}", f"Validation, {REFERENCE}": target,
                          f"Training, {REFERENCE}": source}
                         for lam, (target, source) in PAPER_TABLE_II.items()])


def table_ii(study: Study, evaluator: Evaluator, out: ReportFolder) -> Section:
    """Table II: accuracy on each split for each lam (each configuration's selected epoch)."""
    title = SECTIONS[1]
    frame = table_ii_frame(study)
    if frame.empty:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    seeds = (" Each row is a configuration: the mean over its seeds with a 95% interval "
             "(Student's t below 10 seeds, bootstrap from 10)." if study.repeated else "")
    selecting = ROLE_NAMES[study.selection_role]
    lines = [f"{study.level.capitalize()}-level accuracy at each trial's selected epoch: the "
             f"first epoch with its best `{study.metric}` (so the {selecting} figure is its "
             f"best over epochs; the others are read at that epoch, never maximised)." + seeds
             + (f" **No held-out videos: target accuracy was {OPTIMISTIC}.**"
                if study.optimistic else "")]
    if study.settings.space == "table2":
        layout, top = paper_layout(study)
        lines += ["", markdown_table(layout, top=top)]
        absent = [f"{lam:g}" for lam in PAPER_TABLE_II if lam not in set(frame["lam"])]
        if absent:
            lines += ["", out.gap(title, f"no result yet for λ = {', '.join(absent)}")]
        lines += ["", *paired_lines(study, evaluator, out)]
    else:
        shown, top = table_ii_shown(study, frame)
        lines += ["", markdown_table(shown, top=top), "",
                  "The paper's published figures (Table II):", "",
                  markdown_table(reference_table_ii())]
    lines += ["", out.csv("table_ii.csv", frame), *confirmation_lines(study, out)]
    return Section(title, lines)


def per_video_correct(evaluator: Evaluator, trial: TrialRecord, role: str) -> np.ndarray:
    """1.0 where the trial's checkpoint classifies a video of ``role`` right, else 0.0."""
    arrays = evaluator.arrays(role)
    scores = video_scores(evaluator.evaluate(trial, role).scores, arrays.video_offsets)
    return (scores.argmax(axis=1) == arrays.video_labels).astype(float)


def paired_comparison(study: Study, evaluator: Evaluator) -> dict[str, Any] | str:
    """lam = 0 against lam = 1 on the evaluation split's video accuracy, paired.

    Paired per video (correctness from re-evaluating every seed's checkpoint of the
    selected epoch, averaged over seeds) when those checkpoints and the data are at hand;
    else paired per seed index (each seed's reported accuracy at its selected epoch).
    Returns the :func:`study.statistics.paired_difference` result with ``unit`` and
    ``seeds``, or a sentence saying why there is none.
    """
    role = study.eval_role
    low = study.best_configuration(c for c in study.configurations if c.lam == 0.0)
    high = study.best_configuration(c for c in study.configurations if c.lam == 1.0)
    if low is None or high is None:
        return "the λ = 0 and λ = 1 configurations have not both reported yet"
    trials = [*low.trials, *high.trials]
    exact = all(t.checkpoint is not None and t.checkpoint_epoch == t.selected_epoch
                for t in trials)
    if exact and evaluator.problem is None and evaluator.has(role):
        first = np.mean([per_video_correct(evaluator, t, role) for t in low.trials], axis=0)
        second = np.mean([per_video_correct(evaluator, t, role) for t in high.trials], axis=0)
        result = paired_difference(first, second, seed=study.settings.seed)
        unit = (f"{result['n']} {ROLE_NAMES[role]} videos (each video's correctness "
                f"averaged over {low.seeds} and {high.seeds} seeds, from their checkpoints "
                f"of the selected epoch)")
    else:
        key = f"{role}_video_acc"
        by_seed = {t.repeat: t.value(key) for t in low.trials}
        pairs = [(by_seed[t.repeat], t.value(key)) for t in high.trials if t.repeat in by_seed]
        if len(pairs) < 2:
            return ("the checkpoints of the selected epochs cannot be re-evaluated and fewer "
                    "than 2 seeds pair up (run `--space table2 --repeats 3` or more)")
        result = paired_difference([a for a, _ in pairs], [b for _, b in pairs],
                                   seed=study.settings.seed)
        unit = (f"{result['n']} seeds (paired by seed index; per-video pairing needs every "
                f"seed's checkpoint of its selected epoch and the study's data)")
    return {**result, "unit": unit, "role": role, "low_configuration": low.configuration,
            "high_configuration": high.configuration}


def paired_lines(study: Study, evaluator: Evaluator, out: ReportFolder) -> list[str]:
    result = paired_comparison(study, evaluator)
    name = f"Paired comparison λ=0 − λ=1 ({study.split_phrase(study.eval_role)}, video acc, " \
           f"selected epoch)"
    if isinstance(result, str):
        return [f"**{name}**: none, {result}."]
    frame = pd.DataFrame([{key: result[key] for key in ("difference", "low", "high",
                                                        "p_value", "n", "unit", "role",
                                                        "low_configuration",
                                                        "high_configuration")}])
    return [f"**{name}**: difference {result['difference']:+.3f} (95% CI "
            f"[{result['low']:+.3f}, {result['high']:+.3f}]), p = {result['p_value']:.3g} "
            f"(two-sided paired permutation test) over {result['unit']}.", "",
            out.csv("paired_lam.csv", frame)]


def confirmation_lines(study: Study, out: ReportFolder) -> list[str]:
    """The ``--confirm-top`` runs (``confirm.csv``), when the study has them."""
    path = study.layout.root / CONFIRM_CSV
    if not path.exists():
        if study.settings.confirm_top > 0:
            return ["", out.gap(SECTIONS[1], f"the --confirm-top {study.settings.confirm_top} "
                                             f"runs have not finished ({CONFIRM_CSV} is "
                                             f"missing)")]
        return []
    table = pd.read_csv(path, dtype={"configuration": str})
    shown = pd.DataFrame({"configuration": table["configuration"]})
    for column in ("search_rank", *[n for n in shown_params(study) if n in table], "seeds"):
        if column in table:
            shown[column.replace("_", " ")] = table[column]
    for role in _roles(study):
        key = f"selected_{study.accuracy_key(role)}"
        if f"{key}_mean" in table:
            shown[_column(study, role).replace(" over seeds", " over fresh seeds")] = \
                _ci_cell(table, key)
    if "did_not_learn_seeds" in table:
        shown["did not learn"] = table["did_not_learn_seeds"]
    return ["", "**Confirmation on fresh seeds** (`--confirm-top`): the best configurations of "
                "the search re-run with seeds the search never used; these numbers were not "
                "used to choose, so they are the ones to cite.", "", markdown_table(shown), "",
            out.csv("confirmation.csv", table)]


# --- Tables III/IV and VII: the lam ~ 0 / lam ~ 1 comparison -------------------------------


@dataclass
class Comparison:
    """The two configurations the paper compares (lam = 0 against lam = 1), or the closest."""

    low: Configuration | None
    high: Configuration | None
    note: str

    @property
    def configurations(self) -> list[Configuration]:
        return [c for c in (self.low, self.high) if c is not None]

    @property
    def trials(self) -> list[TrialRecord]:
        """One network per side: each configuration's first seed."""
        return [c.first for c in self.configurations]


def comparison(study: Study) -> Comparison:
    """Best configuration with lam near 0 against best with lam near 1; else the best
    against the lam = 1 baseline (a lam-near-1 configuration, or the paper's lam = 1 row)."""
    low = study.best_configuration(c for c in study.configurations if c.lam <= NEAR_LAM)
    high = study.best_configuration(c for c in study.configurations if c.lam >= 1 - NEAR_LAM)
    if low is not None and high is not None:
        return Comparison(low, high, f"Best configuration with λ ≤ {NEAR_LAM:g} against the "
                                     f"best with λ ≥ {1 - NEAR_LAM:g}, as the paper compares "
                                     f"λ = 0 and 1.")
    best = study.best_configuration()
    if high is not None and high is not best:
        return Comparison(best, high, f"No configuration with λ ≤ {NEAR_LAM:g}: the best "
                                      f"against the λ = 1 baseline (best with λ ≥ "
                                      f"{1 - NEAR_LAM:g}).")
    remedy = ("the grid's λ = 0 and λ = 1 trials have not both reported yet"
              if study.settings.space == "table2" else "`--space table2` runs both")
    return Comparison(best, None, f"No pair of configurations with λ ≤ {NEAR_LAM:g} and λ ≥ "
                                  f"{1 - NEAR_LAM:g} ({remedy}): the best configuration "
                                  f"against the paper's published λ = 1 baseline.")


def paper_rows(study: Study, table: dict[float, tuple[float, ...]],
               columns: Sequence[str]) -> list[dict[str, Any]]:
    """The paper's rows for lam = 0 and 1, when the study uses the paper's seven classes."""
    if tuple(study.settings.classes) != DEFAULT_CLASSES:
        return []
    return [{"row": f"λ={lam:g}, {REFERENCE}", "configuration": None, "lam": lam,
             **dict(zip(columns, values, strict=True))} for lam, values in table.items()]


def per_class_frame(study: Study, pair: Comparison, role: str,
                    paper: dict[float, tuple[float, ...]]) -> pd.DataFrame:
    """Tables III and IV: per-class accuracy and the total at the selected epoch, per
    configuration (mean over its seeds)."""
    classes = list(study.settings.classes)
    level = f"{role}_{study.level}"
    rows = [{"row": config.label, "configuration": config.configuration, "lam": config.lam,
             **{name: config.mean(f"class_acc/{level}/{name}") for name in classes},
             "Total": config.mean(study.accuracy_key(role))}
            for config in pair.configurations]
    return pd.DataFrame(rows + paper_rows(study, paper, [*classes, "Total"]))


def tables_iii_iv(study: Study, pair: Comparison, out: ReportFolder) -> Section:
    """Tables III and IV: per-class accuracy on the evaluation split and on the source."""
    title = SECTIONS[2]
    if not pair.configurations:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    seeds = " Means over each configuration's seeds." if study.repeated else ""
    lines = [pair.note + seeds, ""]
    for number, role, paper in (("III", study.eval_role, PAPER_TABLE_III),
                                ("IV", SOURCE, PAPER_TABLE_IV)):
        frame = per_class_frame(study, pair, role, paper)
        name = f"table_{number.lower()}.csv"
        lines += [f"**Table {number}**: {study.level}-level accuracy per class on the "
                  f"{study.split_phrase(role)}, at the selected epoch.", "",
                  markdown_table(frame.drop(columns=["configuration", "lam"])), "",
                  out.csv(name, frame), ""]
    return Section(title, lines)


def table_vii(study: Study, pair: Comparison, out: ReportFolder) -> Section:
    """Table VII: distance of NetA's class centroids (k-means on X, source) from NetB's Z."""
    title = SECTIONS[4]
    if not pair.configurations:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    classes = list(study.settings.classes)
    frame = pd.DataFrame({"class": classes})
    for config in pair.configurations:
        frame[config.label] = [config.mean(f"centroid_distance/{c}") for c in classes]
    if tuple(classes) == DEFAULT_CLASSES:
        for lam, values in PAPER_TABLE_VII.items():
            frame[f"λ={lam:g}, {REFERENCE}"] = values
    mean = {"class": "Mean", **{c: pd.to_numeric(frame[c]).mean() for c in frame.columns[1:]}}
    frame = pd.concat([frame, pd.DataFrame([mean])], ignore_index=True)
    seeds = " (mean over seeds)" if study.repeated else ""
    lines = [pair.note + " Euclidean distance between each class centroid of NetA's "
             "representations X on the source and NetB's Z, at the selected epoch" + seeds +
             ". The paper's distances are on its own scale: compare the λ ordering, not "
             "magnitudes.", "", markdown_table(frame), "", out.csv("table_vii.csv", frame)]
    return Section(title, lines)


# --- Table V --------------------------------------------------------------------------------


def predictions(study: Study, evaluator: Evaluator, trial: TrialRecord,
                role: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predicted classes) of ``role`` at the study's level (frames or videos)."""
    scores = evaluator.evaluate(trial, role).scores
    arrays = evaluator.arrays(role)
    if study.level == "video":
        return arrays.video_labels, video_scores(scores, arrays.video_offsets).argmax(axis=1)
    return arrays.frame_labels, scores.argmax(axis=1)


def confusion_figure(counts: np.ndarray, classes: Sequence[str], title: str) -> plt.Figure:
    """Row-normalised heatmap, as Table V prints rates per true class."""
    figure, axes = plt.subplots(figsize=(7, 6))
    axes.set_title(title, fontsize=9)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    ConfusionMatrixDisplay(rates, display_labels=list(classes)).plot(
        ax=axes, values_format=".2f", cmap="Blues", colorbar=False)
    axes.tick_params(axis="x", labelrotation=45)
    return figure


def table_v(study: Study, evaluator: Evaluator, out: ReportFolder) -> Section:
    """Table V: the best configuration's confusion matrix on the evaluation split, from the
    kept checkpoints of its seeds (counts summed over seeds)."""
    title = SECTIONS[3]
    best = study.best_configuration()
    if best is None:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    problem = unusable(evaluator, best.trials)
    if problem:
        return Section(title, [out.gap(title, problem)])
    role = study.eval_role
    if not evaluator.has(role):
        return Section(title, [out.gap(title, f"the study's data has no {ROLE_NAMES[role]} "
                                              f"split to re-evaluate on")])
    classes = list(study.settings.classes)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for trial in best.trials:
        labels, predicted = predictions(study, evaluator, trial, role)
        counts += confusion_matrix(labels, predicted, labels=range(len(classes)))
    frame = pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=classes)
    rates = frame.div(frame.sum(axis=1).replace(0, np.nan), axis=0)
    accuracy = float(np.trace(counts) / counts.sum())
    reported = best.mean(study.accuracy_key(role))
    pooled = f", summed over its {best.seeds} seeds" if best.seeds > 1 else ""
    where = study.split_phrase(role)
    whose = "each seed's checkpoint" if best.seeds > 1 else "its checkpoint"
    lines = [f"Best configuration {best.label}, {whose} of the selected epoch"
             f"{pooled}, re-evaluated on the {where}: {counts.sum()} {study.level}s, rows = "
             f"true class, columns = predicted; rates per true class below, counts in the CSV. "
             f"Accuracy recomputed {accuracy:.3f}, reported at the selected epoch "
             f"{reported:.3f}." + substitutes(best.trials), "",
             markdown_table(rates.reset_index()), "", out.csv("table_v.csv", frame, index=True),
             "", out.png("table_v.png", confusion_figure(
                 counts, classes,
                 f"Table V: {where}, {study.level} level, selected epoch\n{best.label}"))]
    return Section(title, lines)


# --- t-SNE (Figures 5-9) ----------------------------------------------------------------------


def tsne(points: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE; perplexity kept below the point count, which scikit-learn requires.
    Identical points (a collapsed network) all land on the origin."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2 or not np.ptp(points, axis=0).any():
        return np.zeros((len(points), 2))
    perplexity = float(max(1, min(30, (len(points) - 1) // 3)))
    method = "exact" if len(points) <= EXACT_TSNE_POINTS else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity, init="pca", method=method,
                random_state=seed).fit_transform(points)


def neta_centroids(study: Study, evaluator: Evaluator, trial: TrialRecord) -> np.ndarray:
    """NetA's class centroids on the source, clustered as the trainable does for Table VII."""
    arrays = evaluator.arrays(SOURCE)
    representations = evaluator.evaluate(trial, SOURCE).representations
    return compute_centroids(representations, arrays.frame_labels, len(study.settings.classes),
                             seed=trial.config.get("seed", study.settings.seed),
                             n_init=3).centroids


def centroid_figure(study: Study, evaluator: Evaluator, pair: Comparison) -> plt.Figure:
    """Figures 5-9: Z (dots) and NetA's centroids (stars: the lam ~ 0 side, crosses: lam ~ 1)."""
    classes = study.settings.classes
    groups = [("Z (NetB)", "o", evaluator.z)]
    groups += [(trial.label, marker, neta_centroids(study, evaluator, trial))
               for trial, marker in zip(pair.trials, ("*", "X"), strict=False)]
    embedded = tsne(np.concatenate([g[2] for g in groups]), study.settings.seed)
    colours = plt.get_cmap("tab10")
    figure, axes = plt.subplots(figsize=(7, 6))
    for index, (name, marker, _) in enumerate(groups):
        chunk = embedded[index * len(classes):(index + 1) * len(classes)]
        axes.scatter(chunk[:, 0], chunk[:, 1], marker=marker, s=140,
                     c=[colours(i % 10) for i in range(len(classes))], edgecolors="black")
        axes.scatter([], [], marker=marker, c="grey", label=name)
    for i, name in enumerate(classes):
        axes.scatter([], [], marker="s", color=colours(i % 10), label=name)
    axes.legend(fontsize=8, loc="best")
    axes.set_title(f"t-SNE of class centroids: Z (NetB, target {study.split_name(TARGET)}) "
                   f"and NetA's (source {study.split_name(SOURCE)}, frame level, selected "
                   f"epoch)", fontsize=9)
    return figure


def frame_sample(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(count, MAX_TSNE_FRAMES), replace=False))


def frames_figure(study: Study, evaluator: Evaluator, trial: TrialRecord) -> plt.Figure:
    """t-SNE of the best trial's frame representations X, coloured by class."""
    roles = [(TARGET, "o"), (SOURCE, "^")]
    chunks = []
    for role, _ in roles:
        representations = evaluator.evaluate(trial, role).representations
        keep = frame_sample(len(representations), study.settings.seed)
        chunks.append((representations[keep], evaluator.arrays(role).frame_labels[keep]))
    embedded = tsne(np.concatenate([c[0] for c in chunks]), study.settings.seed)
    figure, axes = plt.subplots(figsize=(7, 6))
    colours = plt.get_cmap("tab10")
    start = 0
    for (role, marker), (_, labels) in zip(roles, chunks, strict=True):
        part = embedded[start:start + len(labels)]
        start += len(labels)
        axes.scatter(part[:, 0], part[:, 1], c=[colours(i % 10) for i in labels], s=12,
                     marker=marker, alpha=0.7, label=f"{role} ({study.split_name(role)})")
    for i, name in enumerate(study.settings.classes):
        axes.scatter([], [], marker="s", color=colours(i % 10), label=name)
    axes.legend(fontsize=8, loc="best")
    axes.set_title(f"t-SNE of X (frame level, target and source), selected epoch, "
                   f"{trial.label}", fontsize=9)
    return figure


def tsne_section(study: Study, evaluator: Evaluator, pair: Comparison,
                 out: ReportFolder) -> Section:
    """Figures 5-9 (centroids) and a t-SNE of frame representations coloured by class."""
    title = SECTIONS[5]
    best = study.best_trial()
    problem = unusable(evaluator, [*pair.trials, best])
    if problem:
        return Section(title, [out.gap(title, problem)])
    seeds = " (each configuration's first seed)" if study.repeated else ""
    lines = [pair.note + " Dots: NetB's Z; stars: " + pair.trials[0].label +
             ("; crosses: " + pair.trials[1].label if len(pair.trials) > 1 else "") +
             seeds + ". Colour = class; checkpoints of the selected epoch." +
             substitutes([*pair.trials, best]), "",
             out.png("tsne_centroids.png", centroid_figure(study, evaluator, pair)), "",
             f"Frame representations X of the best configuration's first seed, {best.label} "
             f"(circles: target, triangles: source; at most {MAX_TSNE_FRAMES} frames of "
             f"each).", "",
             out.png("tsne_frames.png", frames_figure(study, evaluator, best))]
    return Section(title, lines)


# --- What the search learned ---------------------------------------------------------------


def search_frame(study: Study) -> pd.DataFrame:
    """Per configuration: parameters, mean objective, mean accuracies at the selected epoch,
    seeds, learning, Pareto membership (source against the selection split)."""
    objective = study.settings.objective
    rows = []
    for config in study.configurations:
        row = {"configuration": config.configuration, **_params(study, config),
               "seeds": config.seeds,
               objective: config.mean(study.metric),
               "did_not_learn_seeds": config.did_not_learn_seeds}
        for role in _roles(study):
            key = study.accuracy_key(role)
            row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = config.interval(key)
        rows.append(row)
    frame = pd.DataFrame(rows)
    target, source = (f"{study.accuracy_key(TARGET)}_mean", f"{study.accuracy_key(SOURCE)}_mean")
    frame["pareto"] = pareto_front(frame[source].to_numpy(float), frame[target].to_numpy(float))
    return frame


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where no other point is at least as good on both and better on one (maximise)."""
    ge = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    gt = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~(ge & gt).any(axis=1)


@functools.cache
def space_distributions(space: str) -> dict[str, optuna.distributions.BaseDistribution]:
    """The space's Optuna distributions, from one throw-away trial of its define();
    {} when the space's module is gone from search_spaces/."""
    try:
        module = search_spaces.load(space)
    except UserInputError:
        return {}
    scratch = optuna.create_study(direction="maximize")
    trial = scratch.ask()
    module.define(trial)
    scratch.tell(trial, state=optuna.trial.TrialState.FAIL)
    return dict(trial.distributions)


def finished_configurations(study: Study) -> list[tuple[Configuration, float]]:
    """Configurations whose every seed finished (TERMINATED), with their mean objective."""
    return [(c, c.mean(study.metric)) for c in study.configurations
            if all(t.status == "TERMINATED" for t in c.trials)
            and math.isfinite(c.mean(study.metric))]


def importances(study: Study) -> dict[str, float] | str:
    """Optuna's parameter importances of the objective, or why there are none."""
    distributions = space_distributions(study.settings.space)
    if not distributions:
        return (f"The search space `{study.settings.space}` is no longer in search_spaces/, "
                f"so its distributions for Optuna's importances are unknown.")
    values = finished_configurations(study)
    unit = "configurations (each the mean of its seeds)" if study.repeated else "trials"
    if len(values) < MIN_IMPORTANCE_TRIALS:
        return (f"Parameter importances need at least {MIN_IMPORTANCE_TRIALS} finished {unit}; "
                f"this study has {len(values)}. Below that, fANOVA's forest ranks noise.")
    if len({v for _, v in values}) < 2:
        return (f"Parameter importances need finished {unit} with different "
                f"`{study.settings.objective}`; all {len(values)} have the same value.")
    optuna_study = optuna.create_study(direction="maximize")
    for config, value in values:
        params = {name: config.config[name] for name in distributions}
        optuna_study.add_trial(optuna.trial.create_trial(params=params,
                                                         distributions=distributions,
                                                         value=value))
    try:
        # fANOVA fits the objective's values; Optuna 5's default (PED-ANOVA) only looks at
        # which trials reach the top quantile, one trial in a small study.
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
        return optuna.importance.get_param_importances(optuna_study, evaluator=evaluator)
    except (RuntimeError, ValueError) as error:
        return f"Optuna could not compute parameter importances ({error})."


def importance_figure(study: Study, scores: dict[str, float]) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    names = list(scores)[::-1]
    axes.barh(names, [scores[n] for n in names])
    axes.set_xlabel("importance (Optuna, fANOVA)")
    axes.set_title(f"Importance for {study.describe(study.selection_role)}", fontsize=9)
    return figure


def _mark_did_not_learn(axes: plt.Axes, x: pd.Series, y: pd.Series, failed: pd.Series) -> None:
    if failed.any():
        axes.scatter(x[failed], y[failed], marker="x", s=120, c="red", zorder=5,
                     label="did not learn (some seed)")


def lam_figure(study: Study, frame: pd.DataFrame) -> plt.Figure:
    """Accuracy against lam: the shape of Table II over the whole search."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    ordered = frame.sort_values("lam")
    for role, marker in zip(_roles(study), ("o", "s", "^"), strict=False):
        key = study.accuracy_key(role)
        mean, low, high = (ordered[f"{key}_{p}"] for p in ("mean", "low", "high"))
        errors = np.vstack([(mean - low).fillna(0).clip(lower=0),
                            (high - mean).fillna(0).clip(lower=0)])
        axes.errorbar(ordered["lam"], mean, yerr=errors if study.repeated else None,
                      marker=marker, linestyle=":", capsize=3, label=study.describe(role))
        _mark_did_not_learn(axes, ordered["lam"], mean,
                            ordered["did_not_learn_seeds"] > 0) if role == TARGET else None
    axes.set_xlabel("λ (eq. 9)")
    axes.set_ylabel(f"{study.level} accuracy" + (", mean and 95% CI over seeds"
                                                  if study.repeated else ""))
    axes.set_title(f"{study.level.capitalize()}-level accuracy against λ; selected epoch"
                   + (f" ({OPTIMISTIC})" if study.optimistic else ""), fontsize=9)
    axes.legend(fontsize=7)
    return figure


def pareto_figure(study: Study, frame: pd.DataFrame) -> plt.Figure:
    """Source against target accuracy, the Pareto front (both maximised) marked."""
    target, source = (f"{study.accuracy_key(TARGET)}_mean", f"{study.accuracy_key(SOURCE)}_mean")
    figure, axes = plt.subplots(figsize=(6, 5))
    axes.scatter(frame[source], frame[target], c="lightgrey", edgecolors="black",
                 label="configurations")
    front = frame[frame["pareto"]].sort_values(source)
    axes.plot(front[source], front[target], "r-o", drawstyle="steps-post",
              label="Pareto front")
    _mark_did_not_learn(axes, frame[source], frame[target], frame["did_not_learn_seeds"] > 0)
    # Configurations on the same point share one label, so ties stay readable.
    for (x, y), lams in frame.groupby([source, target])["lam"]:
        axes.annotate("λ=" + ", ".join(f"{lam:.2f}" for lam in sorted(lams)), (x, y),
                      fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes.set_xlabel(study.describe(SOURCE))
    axes.set_ylabel(study.describe(TARGET))
    axes.set_title(f"Source against target ({study.level} level)"
                   + (", means over seeds" if study.repeated else ""), fontsize=9)
    axes.legend(fontsize=8)
    return figure


def search_section(study: Study, out: ReportFolder) -> Section:
    """What the search learned: importances, accuracy against lam, the Pareto front."""
    title = SECTIONS[6]
    if not study.configurations:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    frame = search_frame(study)
    scores = importances(study)
    if isinstance(scores, str):
        lines = [scores]
    else:
        table = pd.DataFrame({"parameter": list(scores), "importance": list(scores.values())})
        alone = " (the only searched parameter, so 1 by definition)" if len(scores) == 1 else ""
        lines = [f"Optuna's importance of each searched parameter for "
                 f"`{study.settings.objective}` ({len(finished_configurations(study))} "
                 f"finished configurations){alone}.", "",
                 markdown_table(table), "", out.csv("importances.csv", table), "",
                 out.png("importances.png", importance_figure(study, scores))]
    front = frame[frame["pareto"]].sort_values("lam")
    failed = frame[frame["did_not_learn_seeds"] > 0]
    lines += ["", out.png("accuracy_vs_lam.png", lam_figure(study, frame)), ""]
    if not failed.empty:
        lines += [f"Red crosses: configurations with a seed that did not learn (source video "
                  f"accuracy within {LEARNED_MARGIN:g} of chance): "
                  + ", ".join(failed["configuration"]) + ".", ""]
    lines += [f"Pareto front of {study.describe(SOURCE)} against {study.describe(TARGET)} "
              f"({len(front)} of {len(frame)} configurations): "
              + ", ".join(f"{c} (λ={lam:.2f})" for c, lam in zip(front["configuration"],
                                                                 front["lam"], strict=True))
              + ".", "", out.png("pareto.png", pareto_figure(study, frame)), "",
              out.csv("search.csv", frame)]
    return Section(title, lines)


# --- The report ------------------------------------------------------------------------------


def header(study: Study) -> list[str]:
    """Title, what the study is, and how far it got."""
    settings = study.settings
    statuses = pd.Series([t.status for t in study.trials], dtype=object).value_counts()
    counts = ", ".join(f"{n} {s.lower()}" for s, n in statuses.items()) or "none"
    early = sum(t.status == "TERMINATED" and t.epochs_done < settings.epochs
                for t in study.trials)
    if early:
        counts += f" ({early} stopped early by {settings.scheduler.upper()})"
    failed = [t for t in study.trials if t.did_not_learn]
    seeds = (f", each with {settings.repeats} seeds" if settings.repeats > 1 else "")
    unit = "configurations" if settings.repeats > 1 else "trials"
    lines = [f"# Report: {study.layout.name}", "",
             f"Space `{settings.space}`, {settings.trials} {unit}{seeds} of "
             f"{settings.epochs} epochs, {settings.scheduler.upper()} scheduler; source "
             f"`{settings.source_split}`, selection on `{study.split_name(TARGET)}`, "
             + (f"held-out figures on `{study.split_name(HELDOUT)}`; "
                if not study.optimistic else "no held-out videos; ")
             + f"trials are selected by `{settings.objective}`. Trials found: {counts}."]
    search = study.stored.get("search")
    if search:
        lines += ["", f"Search: {search}."]
    if study.optimistic:
        lines += ["", f"**Every target figure here was {OPTIMISTIC}**: the study has no "
                      f"held-out videos (`--target-holdout 0` and no `--test-split`), as in "
                      f"the paper's protocol."]
    if failed:
        lines += ["", f"**{len(failed)} of {len(study.trials)} trials did not learn** (source "
                      f"video accuracy within {LEARNED_MARGIN:g} of chance): "
                      + ", ".join(t.label for t in failed) + "."]
    return lines


def missing_list(missing: Sequence[str]) -> list[str]:
    if not missing:
        return ["Nothing is missing: every trial has results and a kept checkpoint."]
    return ["**Missing from this report** (the study is running, was interrupted, or files "
            "were removed):", "", *[f"- {item}" for item in missing]]


def write_report(layout: StudyLayout, evaluator: Evaluator | None = None
                 ) -> tuple[Path, list[str]]:
    """Write ``report/`` for the study; returns report.md and what was missing."""
    study = load_study(layout)
    out = ReportFolder(layout.report_dir, study.missing)
    out.reset()
    evaluator = Evaluator(study) if evaluator is None else evaluator
    evaluator.study = study
    pair = comparison(study)
    sections = [floor_section(study, out), table_ii(study, evaluator, out),
                tables_iii_iv(study, pair, out), table_v(study, evaluator, out),
                table_vii(study, pair, out), tsne_section(study, evaluator, pair, out),
                search_section(study, out)]
    lines = [*header(study), "", *missing_list(study.missing)]
    for section in sections:
        lines += ["", f"## {section.title}", "", *section.lines]
    path = out.folder / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path, study.missing


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.report",
                           description="Write the tables and figures of a study (Tables II-V, "
                                       "VII, Figures 5-9 of Kollias & Zafeiriou, IJCNN 2018) "
                                       "to STORAGE/NAME/report/.")
    parser.add_argument("--name", required=True, help="the study's name (its folder).")
    parser.add_argument("--storage-path", default=defaults.STORAGE_PATH,
                        help=f"folder or URI holding the study [{defaults.STORAGE_PATH}].")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per in-memory study else
    try:
        layout = find_study(args.storage_path, args.name)
        path, missing = write_report(StudyLayout(layout.root))  # the local copy
    except UserInputError as error:
        sys.stderr.write(f"study.report: error: {error}\n")
        return 2
    layout.push("report")
    print(f"Report: {layout.display_root}/report/report.md" if layout.remote
          else f"Report: {relative(path)}")
    if missing:
        print(f"{len(missing)} item(s) missing; see the top of the report.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
