"""Reading a study from disk: its folder, Tune's trials and each trial's selected epoch.

It reads what is under ``STORAGE/NAME`` (Tune's trial folders and experiment state,
``study.json``); a running or interrupted study is read as far as it got, and what is
missing is listed in :attr:`Study.missing`, not raised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from study.layout import StudyLayout, read_json, relative
from study.outputs import load_analysis, trials_frame
from study.report.records import Study, TrialRecord, finite
from study.settings import StudySettings
from study.storage import is_uri
from trainables.checkpoint import CHECKPOINT_FILE, SELECTED_FILE
from trainables.errors import UserInputError

RESULT_FILE = "result.json"


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
    """The per-epoch numbers of a row that the report reads at the selected epoch (valence
    and arousal: CCC, Pearson and RMSE too)."""
    scores = ("_acc", "_ccc", "_ccc_valence", "_ccc_arousal", "_pcc_valence", "_pcc_arousal",
              "_rmse_valence", "_rmse_arousal")
    return {key: value for key, value in row.items()
            if key.endswith(scores) and not key.startswith(("best_", "selected_", "chance_"))
            or key.startswith(("class_acc/", "centroid_distance"))}


def kept_checkpoint(rows: Sequence[dict[str, Any]], epoch: int, folder: Path) -> Path | None:
    """The checkpoint folder holding the weights of the selected ``epoch``, or None.

    Every checkpoint holds the weights of the epoch selected when it was written
    (``best.pt``, :mod:`trainables.checkpoint`) and Tune keeps the latest: it is used when
    its row names this epoch as selected. In a study written before ``best.pt``, Tune kept
    the selected epoch's own checkpoint (weights in ``state.pt``).
    """
    for row in reversed(rows):
        path = folder / str(row.get("checkpoint_dir_name"))
        if (path / SELECTED_FILE).exists():
            chosen = row.get("selected_epoch")
            return path if finite(chosen) and int(chosen) == epoch else None
    for row in rows:
        path = folder / str(row.get("checkpoint_dir_name"))
        if row.get("epoch") == epoch and (path / CHECKPOINT_FILE).exists():
            return path
    return None


def selected_epoch(rows: Sequence[dict[str, Any]], metric: str, folder: Path
                   ) -> tuple[dict[str, Any] | None, Path | None, int | None]:
    """(numbers at the selected epoch, checkpoint folder with its weights, that epoch).

    The selected epoch is the trainable's ``selected_epoch`` with its ``selected_*``
    values; for a study written before those existed, the first epoch with the best
    ``metric`` and that row's values. The checkpoint is :func:`kept_checkpoint`'s (None,
    and no epoch, when there is none).
    """
    if not rows:
        return None, None, None
    last = rows[-1]
    if finite(last.get("selected_epoch")):
        epoch = int(last["selected_epoch"])
        selected = {**_plain_selected(last), "epoch": epoch}
    else:
        scored = [row for row in rows if finite(row.get(metric))]
        if not scored:
            return None, None, None
        value = max(row[metric] for row in scored)
        first = next(row for row in scored if row[metric] == value)
        epoch = int(first.get("epoch", first.get("training_iteration", 0)))
        selected = {**_selection_values(first), "epoch": epoch}
    checkpoint = kept_checkpoint(rows, epoch, folder)
    return selected, checkpoint, None if checkpoint is None else epoch


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
