"""``python -m study.report``: a study's tables and figures, laid out as in Section IV.

It reads what is on disk under ``STORAGE/NAME`` (Tune's trial folders and experiment
state, NetB's centroids Z, ``study.json``) and writes ``STORAGE/NAME/report/``:
``report.md``, one CSV per table and one PNG per figure. A running or interrupted study
is reported as far as it got; what is missing is said in the report, not raised.

Sections, in order: Table II (accuracy per lam), Tables III/IV (per-class accuracy on
target and source), Table V (target confusion matrix of the best trial, recomputed from
its best checkpoint), Table VII (distance of NetA's class centroids from Z), t-SNE
(Figures 5-9, plus the frame representations X of eq. 4), and what the search learned
(Optuna's parameter importances, accuracy against lam, the source/target Pareto front).
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
from study.outputs import load_analysis
from study.settings import StudySettings
from study.storage import is_uri
from study.tensorboard import HPARAMS
from trainables.centroids import compute_centroids
from trainables.config import DEFAULT_CLASSES
from trainables.engine import DeviceSplit, Evaluation, SplitArrays, StudyArrays, evaluate
from trainables.errors import UserInputError
from trainables.metrics import video_scores
from trainables.network import NetworkSettings, build_network
from trainables.trainable import CHECKPOINT_FILE

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
RESULT_FILE = "result.json"
SECTIONS = ("Table II", "Tables III/IV", "Table V", "Table VII", "t-SNE (Figures 5-9)",
            "What the search learned")


# --- What the study holds ---------------------------------------------------------------


@dataclass
class TrialRecord:
    """One NetA trial as found on disk; ``best`` is its result row at the best epoch."""

    trial_id: str
    status: str
    path: Path
    config: dict[str, Any]
    best: dict[str, Any] | None = None
    checkpoint: Path | None = None   # folder holding the best epoch's state.pt, if kept
    epochs_done: int = 0

    @property
    def lam(self) -> float:
        return float(self.config["lam"])

    @property
    def label(self) -> str:
        return f"λ={self.lam:.2f} (trial {self.trial_id})"


@dataclass
class Study:
    """A study's settings and trials, and what the report needs to say is missing."""

    layout: StudyLayout
    settings: StudySettings
    stored: dict[str, Any]
    trials: list[TrialRecord]
    missing: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """``video`` or ``frame``: the level of the metric that selects trials."""
        return self.settings.metric.split("_")[1]

    def accuracy_key(self, role: str) -> str:
        return f"{role}_{self.level}_acc"

    @property
    def scored(self) -> list[TrialRecord]:
        """Trials with at least one result, in order of lam."""
        return sorted((t for t in self.trials if t.best is not None), key=lambda t: t.lam)

    def best_trial(self, among: Iterable[TrialRecord] | None = None) -> TrialRecord | None:
        """The trial with the highest selection metric; ties go to the better source accuracy
        (the paper's second column), then to the lower lam."""
        candidates = list(self.scored if among is None else among)
        if not candidates:
            return None
        source = self.accuracy_key("source")
        return max(candidates, key=lambda t: (t.best[self.settings.metric],
                                              t.best.get(source, -1.0), -t.lam))


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


def best_epoch(rows: Sequence[dict[str, Any]], metric: str,
               folder: Path) -> tuple[dict[str, Any] | None, Path | None]:
    """The result row with the best ``metric`` and its checkpoint folder, if still on disk.

    The study's CheckpointConfig keeps the best epoch by ``metric`` (and the latest); among
    tied epochs the one whose checkpoint was kept is taken, the latest otherwise.
    """
    scored = [row for row in rows if _finite(row.get(metric))]
    if not scored:
        return None, None
    top = max(row[metric] for row in scored)
    tied = [row for row in scored if row[metric] == top]
    kept = [row for row in tied
            if (folder / str(row.get("checkpoint_dir_name")) / CHECKPOINT_FILE).exists()]
    if kept:
        return kept[-1], folder / kept[-1]["checkpoint_dir_name"]
    return tied[-1], None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_trial(trial_id: str, status: str, folder: Path, config: dict, last: dict,
               metric: str, missing: list[str]) -> TrialRecord:
    """A trial's record, noting in ``missing`` what of it is not on disk."""
    rows = read_results(folder)
    if not rows and "training_iteration" in last:  # a pending trial's last result is empty
        rows = [last]
        missing.append(f"trial {trial_id}: {RESULT_FILE} is missing; only its last result "
                       f"(from Tune's experiment state) is used")
    best, checkpoint = best_epoch(rows, metric, folder)
    done = max((int(row.get("epoch", 0)) for row in rows), default=0)
    record = TrialRecord(trial_id, status, folder, config, best, checkpoint, done)
    if record.best is None:
        missing.append(f"trial {trial_id} ({status}): no results yet")
    elif record.checkpoint is None:
        missing.append(f"trial {trial_id}: the checkpoint of its best epoch "
                       f"({record.best.get('epoch')}) is not on disk")
    return record


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
    unstarted = settings.trials - len(study.trials)
    if unstarted > 0:
        study.missing.append(f"{unstarted} of {settings.trials} trials have not started")
    return study


# --- Re-evaluating checkpoints on the study's data ---------------------------------------


class Evaluator:
    """Scores and representations X (eq. 4) of a trial's best checkpoint on a split.

    The splits come from the study's own frame/feature caches through the driver's functions
    (no Ray cluster: features are computed on this process when not cached). Loaded on first
    use; ``problem`` says why it cannot be, e.g. when the data changed since the study ran.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self._data: StudyArrays | None = None
        self._backbone_state: dict[str, torch.Tensor] | None = None
        self._cache: dict[tuple[str, str], Evaluation] = {}

    @functools.cached_property
    def problem(self) -> str | None:
        """None once the data is loaded; else why it cannot be."""
        return self._load()

    @functools.cached_property
    def z(self) -> np.ndarray:
        """NetB's class centroids Z (eq. 2), rows in class order."""
        return np.asarray(read_json(self.study.layout.centroids_file)["centroids"],
                          dtype=np.float32)

    def _load(self) -> str | None:
        # Imported here: the driver pulls in the data and backbone code the tables never need.
        from study.driver import fingerprint, load_data, study_arrays
        from study.stages import Backbone, Resources
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
        self._data = study_arrays(splits, backbone, resources)
        self._backbone_state = backbone.state if backbone.trainable else None
        return None

    def network(self, trial: TrialRecord) -> torch.nn.Module:
        """NetA with the weights of the trial's best checkpoint."""
        assert self._data is not None and trial.checkpoint is not None
        network = build_network(NetworkSettings.from_config(trial.config), self._data.source,
                                self._backbone_state, trial.config.get("train_backbone", False))
        saved = torch.load(trial.checkpoint / CHECKPOINT_FILE, map_location="cpu",
                           weights_only=True)
        network.load_state_dict(saved["network"])
        return network

    def evaluate(self, trial: TrialRecord, role: str) -> Evaluation:
        """``trainables.engine.evaluate`` of the trial's best checkpoint on ``role``'s split."""
        key = (trial.trial_id, role)
        if key not in self._cache:
            settings = NetworkSettings.from_config(trial.config)
            split = DeviceSplit.create(self.arrays(role), torch.device("cpu"))
            z = torch.as_tensor(self.z)
            self._cache[key] = evaluate(self.network(trial), split, z, lam=trial.lam,
                                        normalisation=trial.config["normalisation"],
                                        seq_len=settings.seq_len,
                                        batch_size=settings.batch_size)
        return self._cache[key]

    def arrays(self, role: str) -> SplitArrays:
        assert self._data is not None
        return self._data.roles()[role]


def unusable(evaluator: Evaluator, trials: Sequence[TrialRecord | None]) -> str | None:
    """Why these trials' checkpoints cannot be evaluated, or None when they can."""
    present = [t for t in trials if t is not None]
    if not present:
        return "no trial has reported a result yet"
    lacking = sorted({t.trial_id for t in present if t.checkpoint is None})
    if lacking:
        return f"no checkpoint of the best epoch on disk for trial(s) {', '.join(lacking)}"
    return evaluator.problem


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
    return "—" if value is None else str(value)


def markdown_table(frame: pd.DataFrame, bold: Sequence[str] = ()) -> str:
    """A pipe table; the largest value of each ``bold`` column in bold, as the paper does."""
    text = frame.map(_cell)
    for column in bold:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().any():
            top = values == values.max()
            text.loc[top, column] = "**" + text.loc[top, column] + "**"
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines)


# --- Table II -------------------------------------------------------------------------------


def table_ii_frame(study: Study) -> pd.DataFrame:
    """One row per trial with a result, sorted by lam: accuracies at its best epoch."""
    target, source = study.accuracy_key("target"), study.accuracy_key("source")
    rows = []
    for trial in study.scored:
        paper = PAPER_TABLE_II.get(trial.lam, (math.nan, math.nan))
        rows.append({"trial_id": trial.trial_id, "status": trial.status, "lam": trial.lam,
                     **{k: trial.config.get(k) for k in ("normalisation", "cell", "seq_len")},
                     "epoch": trial.best.get("epoch"), target: trial.best.get(target),
                     source: trial.best.get(source), "paper_target_acc": paper[0],
                     "paper_source_acc": paper[1]})
    return pd.DataFrame(rows)


def paper_layout(study: Study) -> pd.DataFrame:
    """Table II as printed (one row per grid lam), the paper's figures beside ours."""
    settings = study.settings
    rows = []
    for lam, (paper_target, paper_source) in PAPER_TABLE_II.items():
        best = study.best_trial(t for t in study.scored if t.lam == lam)
        result = best.best if best else {}
        rows.append({
            "Value of λ": f"{lam:g}",
            f"Target ({settings.target_split})": result.get(study.accuracy_key("target")),
            f"Source ({settings.source_split})": result.get(study.accuracy_key("source")),
            "trial": best.trial_id if best else None,
            f"Validation, {REFERENCE}": paper_target, f"Training, {REFERENCE}": paper_source})
    return pd.DataFrame(rows)


def reference_table_ii() -> pd.DataFrame:
    return pd.DataFrame([{"Value of λ": f"{lam:g}", f"Validation, {REFERENCE}": target,
                          f"Training, {REFERENCE}": source}
                         for lam, (target, source) in PAPER_TABLE_II.items()])


def table_ii(study: Study, out: ReportFolder) -> Section:
    """Table II: accuracy on target and source for each lam (each trial's best epoch)."""
    title = SECTIONS[0]
    frame = table_ii_frame(study)
    if frame.empty:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    lines = [f"{study.level.capitalize()}-level accuracy at each trial's best epoch by "
             f"`{study.settings.metric}` (the checkpoint the study keeps)."]
    target, source = study.accuracy_key("target"), study.accuracy_key("source")
    if study.settings.space == "table2":
        layout = paper_layout(study)
        ours = [c for c in layout.columns if c.startswith(("Target", "Source"))]
        lines += ["", markdown_table(layout, bold=ours)]
        absent = [f"{lam:g}" for lam in PAPER_TABLE_II if lam not in set(frame["lam"])]
        if absent:
            lines += ["", out.gap(title, f"no result yet for λ = {', '.join(absent)}")]
    else:
        shown = frame[["trial_id", "lam", "normalisation", "cell", "seq_len", "status", "epoch",
                       target, source]]
        lines += ["", markdown_table(shown, bold=[target, source]), "",
                  "The paper's published figures (Table II):", "",
                  markdown_table(reference_table_ii())]
    return Section(title, [*lines, "", out.csv("table_ii.csv", frame)])


# --- Tables III/IV and VII: the lam ~ 0 / lam ~ 1 comparison -------------------------------


@dataclass
class Comparison:
    """The two trials the paper compares (lam = 0 against lam = 1), or the closest we have."""

    low: TrialRecord | None
    high: TrialRecord | None
    note: str

    @property
    def trials(self) -> list[TrialRecord]:
        return [t for t in (self.low, self.high) if t is not None]


def comparison(study: Study) -> Comparison:
    """Best trial with lam near 0 against best with lam near 1; else the best trial against
    the lam = 1 baseline (a lam-near-1 trial, or the paper's published lam = 1 row)."""
    low = study.best_trial(t for t in study.scored if t.lam <= NEAR_LAM)
    high = study.best_trial(t for t in study.scored if t.lam >= 1 - NEAR_LAM)
    if low is not None and high is not None:
        return Comparison(low, high, f"Best trial with λ ≤ {NEAR_LAM:g} against the best with "
                                     f"λ ≥ {1 - NEAR_LAM:g}, as the paper compares λ = 0 and 1.")
    best = study.best_trial()
    if high is not None and high is not best:
        return Comparison(best, high, f"No trial with λ ≤ {NEAR_LAM:g}: the best trial against "
                                      f"the λ = 1 baseline (best trial with λ ≥ "
                                      f"{1 - NEAR_LAM:g}).")
    remedy = ("the grid's λ = 0 and λ = 1 trials have not both reported yet"
              if study.settings.space == "table2" else "`--space table2` runs both")
    return Comparison(best, None, f"No pair of trials with λ ≤ {NEAR_LAM:g} and λ ≥ "
                                  f"{1 - NEAR_LAM:g} ({remedy}): the best trial against the "
                                  f"paper's published λ = 1 baseline.")


def paper_rows(study: Study, table: dict[float, tuple[float, ...]],
               columns: Sequence[str]) -> list[dict[str, Any]]:
    """The paper's rows for lam = 0 and 1, when the study uses the paper's seven classes."""
    if tuple(study.settings.classes) != DEFAULT_CLASSES:
        return []
    return [{"row": f"λ={lam:g}, {REFERENCE}", "trial_id": None, "lam": lam,
             **dict(zip(columns, values, strict=True))} for lam, values in table.items()]


def per_class_frame(study: Study, pair: Comparison, role: str,
                    paper: dict[float, tuple[float, ...]]) -> pd.DataFrame:
    """Tables III (target) and IV (source): per-class accuracy and the total, per trial."""
    classes = list(study.settings.classes)
    level = f"{role}_{study.level}"
    rows = [{"row": trial.label, "trial_id": trial.trial_id, "lam": trial.lam,
             **{name: trial.best.get(f"class_acc/{level}/{name}") for name in classes},
             "Total": trial.best.get(study.accuracy_key(role))} for trial in pair.trials]
    return pd.DataFrame(rows + paper_rows(study, paper, [*classes, "Total"]))


def tables_iii_iv(study: Study, pair: Comparison, out: ReportFolder) -> Section:
    """Tables III and IV: per-class accuracy on target and on source for the compared pair."""
    title = SECTIONS[1]
    if not pair.trials:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    lines = [pair.note, ""]
    for number, role, split, paper in (("III", "target", study.settings.target_split,
                                        PAPER_TABLE_III),
                                       ("IV", "source", study.settings.source_split,
                                        PAPER_TABLE_IV)):
        frame = per_class_frame(study, pair, role, paper)
        name = f"table_{number.lower()}.csv"
        lines += [f"**Table {number}**: {study.level}-level accuracy per class on the {role} "
                  f"({split}).", "", markdown_table(frame.drop(columns=["trial_id", "lam"])),
                  "", out.csv(name, frame), ""]
    return Section(title, lines)


def table_vii(study: Study, pair: Comparison, out: ReportFolder) -> Section:
    """Table VII: distance of NetA's class centroids (k-means on X, source) from NetB's Z."""
    title = SECTIONS[3]
    if not pair.trials:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    classes = list(study.settings.classes)
    frame = pd.DataFrame({"class": classes})
    for trial in pair.trials:
        frame[trial.label] = [trial.best.get(f"centroid_distance/{c}") for c in classes]
    if tuple(classes) == DEFAULT_CLASSES:
        for lam, values in PAPER_TABLE_VII.items():
            frame[f"λ={lam:g}, {REFERENCE}"] = values
    mean = {"class": "Mean", **{c: pd.to_numeric(frame[c]).mean() for c in frame.columns[1:]}}
    frame = pd.concat([frame, pd.DataFrame([mean])], ignore_index=True)
    lines = [pair.note + " Euclidean distance between each class centroid of NetA's "
             "representations X on the source and NetB's Z, at the best epoch. The paper's "
             "distances are on its own scale: compare the λ ordering, not magnitudes.", "",
             markdown_table(frame), "", out.csv("table_vii.csv", frame)]
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


def confusion_figure(labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str],
                     title: str) -> plt.Figure:
    """Row-normalised heatmap, as Table V prints rates per true class."""
    figure, axes = plt.subplots(figsize=(7, 6))
    axes.set_title(title, fontsize=10)
    ConfusionMatrixDisplay.from_predictions(labels, predicted, labels=range(len(classes)),
                                            display_labels=classes, normalize="true",
                                            values_format=".2f", cmap="Blues", ax=axes,
                                            colorbar=False)
    axes.tick_params(axis="x", labelrotation=45)
    return figure


def table_v(study: Study, evaluator: Evaluator, out: ReportFolder) -> Section:
    """Table V: the best trial's confusion matrix on the target, from its best checkpoint."""
    title = SECTIONS[2]
    best = study.best_trial()
    problem = unusable(evaluator, [best])
    if problem:
        return Section(title, [out.gap(title, problem)])
    classes = list(study.settings.classes)
    labels, predicted = predictions(study, evaluator, best, "target")
    counts = confusion_matrix(labels, predicted, labels=range(len(classes)))
    frame = pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=classes)
    rates = frame.div(frame.sum(axis=1).replace(0, np.nan), axis=0)
    accuracy = float(np.trace(counts) / counts.sum())
    lines = [f"Best trial {best.label}, epoch {best.best.get('epoch')} (its kept checkpoint), "
             f"re-evaluated on the target ({study.settings.target_split}): "
             f"{counts.sum()} {study.level}s, rows = true class, columns = predicted; rates "
             f"per true class below, counts in the CSV. Accuracy recomputed {accuracy:.3f}, "
             f"reported {best.best[study.accuracy_key('target')]:.3f}.", "",
             markdown_table(rates.reset_index()), "", out.csv("table_v.csv", frame, index=True),
             "", out.png("table_v.png", confusion_figure(
                 labels, predicted, classes,
                 f"Table V: target ({study.settings.target_split}), {study.level} level, "
                 f"{best.label}"))]
    return Section(title, lines)


# --- t-SNE (Figures 5-9) ----------------------------------------------------------------------


def tsne(points: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE; perplexity kept below the point count, which scikit-learn requires."""
    perplexity = float(max(1, min(30, (len(points) - 1) // 3)))
    method = "exact" if len(points) <= EXACT_TSNE_POINTS else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity, init="pca", method=method,
                random_state=seed).fit_transform(np.asarray(points, dtype=np.float64))


def neta_centroids(study: Study, evaluator: Evaluator, trial: TrialRecord) -> np.ndarray:
    """NetA's class centroids on the source, clustered as the trainable does for Table VII."""
    arrays = evaluator.arrays("source")
    representations = evaluator.evaluate(trial, "source").representations
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
    axes.set_title("t-SNE of class centroids: Z and NetA's (source)")
    return figure


def frame_sample(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(count, MAX_TSNE_FRAMES), replace=False))


def frames_figure(study: Study, evaluator: Evaluator, trial: TrialRecord) -> plt.Figure:
    """t-SNE of the best trial's frame representations X, coloured by class."""
    roles = [("target", "o"), ("source", "^")]
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
                     marker=marker, alpha=0.7, label=role)
    for i, name in enumerate(study.settings.classes):
        axes.scatter([], [], marker="s", color=colours(i % 10), label=name)
    axes.legend(fontsize=8, loc="best")
    axes.set_title(f"t-SNE of X, best trial {trial.label}")
    return figure


def tsne_section(study: Study, evaluator: Evaluator, pair: Comparison,
                 out: ReportFolder) -> Section:
    """Figures 5-9 (centroids) and a t-SNE of frame representations coloured by class."""
    title = SECTIONS[4]
    best = study.best_trial()
    problem = unusable(evaluator, [*pair.trials, best])
    if problem:
        return Section(title, [out.gap(title, problem)])
    lines = [pair.note + " Dots: NetB's Z; stars: " + pair.trials[0].label +
             ("; crosses: " + pair.high.label if pair.high else "") + ". Colour = class.", "",
             out.png("tsne_centroids.png", centroid_figure(study, evaluator, pair)), "",
             f"Frame representations X of the best trial, {best.label} (circles: target, "
             f"triangles: source; at most {MAX_TSNE_FRAMES} frames of each).", "",
             out.png("tsne_frames.png", frames_figure(study, evaluator, best))]
    return Section(title, lines)


# --- What the search learned ---------------------------------------------------------------


def search_frame(study: Study) -> pd.DataFrame:
    """Per trial: searched parameters, objective, best-epoch accuracies, Pareto membership."""
    target, source = study.accuracy_key("target"), study.accuracy_key("source")
    frame = pd.DataFrame([{"trial_id": t.trial_id, **_params(study, t),
                           study.settings.objective: t.best.get(study.settings.objective),
                           target: t.best.get(target), source: t.best.get(source)}
                          for t in study.scored])
    frame["pareto"] = pareto_front(frame[source].to_numpy(float), frame[target].to_numpy(float))
    return frame


def _params(study: Study, trial: TrialRecord) -> dict[str, Any]:
    distributions = space_distributions(study.settings.space)
    return {name: trial.config.get(name) for name in distributions or HPARAMS}


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


IMPORTANCE_SEED = 0


def importances(study: Study) -> dict[str, float] | str:
    """Optuna's parameter importances of the objective, or why there are none."""
    distributions = space_distributions(study.settings.space)
    if not distributions:
        return (f"The search space `{study.settings.space}` is no longer in search_spaces/, "
                f"so its distributions for Optuna's importances are unknown.")
    values = [(t, t.best.get(study.settings.objective)) for t in study.scored]
    values = [(t, v) for t, v in values if _finite(v)]
    if len(values) < 2 or len({v for _, v in values}) < 2:
        return (f"Parameter importances need at least two trials with different "
                f"`{study.settings.objective}`; this study has {len(values)} trial(s) with "
                f"{len({v for _, v in values})} distinct value(s).")
    optuna_study = optuna.create_study(direction="maximize")
    for trial, value in values:
        params = {name: trial.config[name] for name in distributions}
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


def importance_figure(scores: dict[str, float]) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(6, 3))
    names = list(scores)[::-1]
    axes.barh(names, [scores[n] for n in names])
    axes.set_xlabel("importance (Optuna, fANOVA)")
    return figure


def lam_figure(study: Study, frame: pd.DataFrame) -> plt.Figure:
    """Accuracy against lam: the shape of Table II over the whole search."""
    figure, axes = plt.subplots(figsize=(6, 4))
    ordered = frame.sort_values("lam")
    for role, marker in (("target", "o"), ("source", "^")):
        key = study.accuracy_key(role)
        axes.plot(ordered["lam"], ordered[key], marker=marker, linestyle=":", label=key)
    axes.set_xlabel("λ (eq. 9)")
    axes.set_ylabel(f"{study.level} accuracy at the best epoch")
    axes.legend()
    return figure


def pareto_figure(study: Study, frame: pd.DataFrame) -> plt.Figure:
    """Source against target accuracy, the Pareto front (both maximised) marked."""
    target, source = study.accuracy_key("target"), study.accuracy_key("source")
    figure, axes = plt.subplots(figsize=(6, 5))
    axes.scatter(frame[source], frame[target], c="lightgrey", edgecolors="black",
                 label="trials")
    front = frame[frame["pareto"]].sort_values(source)
    axes.plot(front[source], front[target], "r-o", drawstyle="steps-post",
              label="Pareto front")
    # Trials on the same point share one label, so tied trials stay readable.
    for (x, y), lams in frame.groupby([source, target])["lam"]:
        axes.annotate("λ=" + ", ".join(f"{lam:.2f}" for lam in sorted(lams)), (x, y),
                      fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes.set_xlabel(source)
    axes.set_ylabel(target)
    axes.legend()
    return figure


def search_section(study: Study, out: ReportFolder) -> Section:
    """What the search learned: importances, accuracy against lam, the Pareto front."""
    title = SECTIONS[5]
    if not study.scored:
        return Section(title, [out.gap(title, "no trial has reported a result yet")])
    frame = search_frame(study)
    scores = importances(study)
    if isinstance(scores, str):
        lines = [scores]
    else:
        table = pd.DataFrame({"parameter": list(scores), "importance": list(scores.values())})
        alone = " (the only searched parameter, so 1 by definition)" if len(scores) == 1 else ""
        lines = [f"Optuna's importance of each searched parameter for "
                 f"`{study.settings.objective}` ({len(frame)} trials){alone}.", "",
                 markdown_table(table), "", out.csv("importances.csv", table), "",
                 out.png("importances.png", importance_figure(scores))]
    front = frame[frame["pareto"]].sort_values("lam")
    lines += ["", out.png("accuracy_vs_lam.png", lam_figure(study, frame)), "",
              f"Pareto front of source against target accuracy ({len(front)} of {len(frame)} "
              f"trials): " + ", ".join(f"trial {t} (λ={lam:.2f})"
                                       for t, lam in zip(front["trial_id"], front["lam"],
                                                         strict=True)) + ".", "",
              out.png("pareto.png", pareto_figure(study, frame)), "",
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
    return [f"# Report: {study.layout.name}", "",
            f"Space `{settings.space}`, {settings.trials} trials of {settings.epochs} epochs, "
            f"{settings.scheduler.upper()} scheduler; source `{settings.source_split}`, target "
            f"`{settings.target_split}`; trials are selected by `{settings.objective}`. "
            f"Trials found: {counts}."]


def missing_list(missing: Sequence[str]) -> list[str]:
    if not missing:
        return ["Nothing is missing: every trial has results and a kept checkpoint."]
    return ["**Missing from this report** (the study is running, was interrupted, or files "
            "were removed):", "", *[f"- {item}" for item in missing]]


def write_report(layout: StudyLayout) -> tuple[Path, list[str]]:
    """Write ``report/`` for the study; returns report.md and what was missing."""
    study = load_study(layout)
    out = ReportFolder(layout.report_dir, study.missing)
    out.reset()
    evaluator = Evaluator(study)
    pair = comparison(study)
    sections = [table_ii(study, out), tables_iii_iv(study, pair, out),
                table_v(study, evaluator, out), table_vii(study, pair, out),
                tsne_section(study, evaluator, pair, out), search_section(study, out)]
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
