"""The numbers of the report's tables, as pandas frames: floor, Tables II-V and VII.

Every function here computes; none writes or draws (:mod:`study.report.sections` prints the
frames, :mod:`study.report.figures` draws them), so each table is testable without
matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from study.report.compare import Comparison
from study.report.evaluator import Evaluator
from study.report.files import format_lam
from study.report.records import Configuration, Study, TrialRecord, finite, or_default
from study.report.reference import PAPER_TABLE_II, PAPER_TABLE_VII, REFERENCE
from study.report.search import shown_params
from study.statistics import format_ci
from trainables.config import DEFAULT_CLASSES, HELDOUT, LEARNED_MARGIN, SOURCE, TARGET
from trainables.metrics import video_scores
from trainables.probe import learning_floor

# --- Floor: NetB and the linear probe --------------------------------------------------------


def floor_verdict(own: float | None, floor: float | None, learned: bool | None) -> str:
    """Whether a network learned: below the probe's held-out accuracy, or near chance."""
    if finite(floor) and finite(own) and own < floor:
        return ("**has not learned** (below the linear probe's held-out accuracy, on its "
                "own split)")
    if learned is False:
        return f"**has not learned** (within {LEARNED_MARGIN:g} of chance on its own split)"
    return "learned" if learned is not None or finite(floor) else "—"


def floor_frame(study: Study) -> pd.DataFrame | None:
    """NetB's, the linear probe's and NetA's best accuracy on each split, with chance and a
    verdict; None when NetB's summary is missing."""
    summary = study.netb
    if summary is None:
        return None
    level = study.level
    metrics, chance = summary.get("metrics", {}), summary.get("chance", {})
    probe = summary.get("probe") or {}
    roles = [TARGET, *([] if study.optimistic else [HELDOUT]), SOURCE]
    own = f"own split {level} acc"

    def key(role: str) -> str:
        return f"{role}_{level}_acc"

    def on_splits(values: Any) -> dict[str, Any]:
        return {study.split_phrase(r): values(key(r)) for r in roles}

    rows = [{"network": "NetB", "trained on": f"target ({study.split_name(TARGET)})",
             own: metrics.get(key(TARGET)), **on_splits(metrics.get),
             "verdict": floor_verdict(metrics.get(key(TARGET)),
                                      learning_floor(probe, TARGET, level),
                                      summary.get("learned"))}]
    if probe:
        rows.append({"network": "linear probe (frozen CNN features)",
                     "trained on": f"target ({study.split_name(TARGET)})",
                     own: probe.get(key(TARGET)), **on_splits(probe.get),
                     "verdict": "the floor"})
    best = study.best_configuration()
    if best is not None:
        learned = None if not best.learning_known else best.did_not_learn_seeds == 0
        rows.append({"network": f"NetA, best: {best.label}",
                     "trained on": f"source ({study.split_name(SOURCE)})",
                     own: best.mean(key(SOURCE)), **on_splits(best.mean),
                     "verdict": floor_verdict(best.mean(key(SOURCE)), None, learned)})
    rows.append({"network": "chance (majority class)", "trained on": "—", own: None,
                 **{study.split_phrase(r): chance.get(f"{r}_video_acc") if level == "video"
                    else None for r in roles}, "verdict": "—"})
    return pd.DataFrame(rows)


# --- Table II -------------------------------------------------------------------------------


def table_ii_frame(study: Study) -> pd.DataFrame:
    """One row per configuration with a result, sorted by lam: mean and 95% interval over
    its seeds of each split's accuracy at the selected epoch (the selection split's value
    there is its best), and how many seeds did not learn."""
    rows = []
    for config in sorted(study.configurations, key=lambda c: (or_default(c.lam, 2.0),
                                                               c.configuration)):
        paper = PAPER_TABLE_II.get(config.lam, (math.nan, math.nan))
        row: dict[str, Any] = {
            "configuration": config.configuration,
            "trial_ids": ",".join(t.trial_id for t in config.trials),
            "status": ",".join(sorted({t.status for t in config.trials})),
            **{name: config.config.get(name) for name in shown_params(study)},
            "seeds": config.seeds,
            "selected_epochs": ",".join(str(t.selected_epoch) for t in config.trials)}
        for role in study.roles:
            key = study.accuracy_key(role)
            row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = config.interval(key)
        row["did_not_learn_seeds"] = (config.did_not_learn_seeds if config.learning_known
                                      else None)
        row["paper_target_acc"], row["paper_source_acc"] = paper
        rows.append(row)
    return pd.DataFrame(rows)


def ci_cell(frame: pd.DataFrame, key: str) -> pd.Series:
    """``mean [low, high]`` text of the ``<key>_mean/_low/_high`` columns."""
    return pd.Series([format_ci(m, lo, hi) for m, lo, hi in
                      zip(frame[f"{key}_mean"], frame[f"{key}_low"], frame[f"{key}_high"],
                          strict=True)], index=frame.index)


def configuration_columns(study: Study, frame: pd.DataFrame,
                          extra: Sequence[str] = ()) -> pd.DataFrame:
    """The leading columns of a printed table of configurations: its id, the shown
    parameters, the ``extra`` columns, the seeds and (one seed each) the selected epoch."""
    shown = pd.DataFrame({"configuration": frame["configuration"]})
    for name in [*shown_params(study), *extra]:
        shown[name] = frame[name]
    shown["seeds"] = frame["seeds"]
    if not study.repeated:
        shown["selected epoch"] = frame["selected_epochs"]
    return shown


def learned_column(study: Study, frame: pd.DataFrame) -> list[str]:
    """The "learned?" cell of each configuration of ``frame``."""
    configurations = {c.configuration: c for c in study.configurations}
    return [configurations[c].learned_cell() for c in frame["configuration"]]


def table_ii_shown(study: Study, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Table II as printed: text cells, and the means deciding the bold ones."""
    shown = configuration_columns(study, frame)
    top = {}
    for role in study.roles:
        key, column = study.accuracy_key(role), study.column(role)
        shown[column] = ci_cell(frame, key)
        top[column] = frame[f"{key}_mean"]
    shown["learned?"] = learned_column(study, frame)
    return shown, top


def paper_layout(study: Study) -> tuple[pd.DataFrame, dict]:
    """Table II as printed (one row per grid lam), the paper's figures beside ours."""
    rows, top = [], {}
    for lam, (paper_target, paper_source) in PAPER_TABLE_II.items():
        best = study.best_configuration(c for c in study.configurations if c.lam == lam)
        row: dict[str, Any] = {"Value of λ": format_lam(lam)}
        for role in study.roles:
            key, column = study.accuracy_key(role), study.column(role)
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
    return pd.DataFrame([{"Value of λ": format_lam(lam), f"Validation, {REFERENCE}": target,
                          f"Training, {REFERENCE}": source}
                         for lam, (target, source) in PAPER_TABLE_II.items()])


def absent_grid_points(frame: pd.DataFrame) -> list[float]:
    """The paper's lam grid points no configuration of :func:`table_ii_frame` has."""
    return [lam for lam in PAPER_TABLE_II if lam not in set(frame["lam"])]


def confirmation_frame(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """confirm.csv (the ``--confirm-top`` runs) as printed."""
    shown = pd.DataFrame({"configuration": table["configuration"]})
    for column in ("search_rank", *[n for n in shown_params(study) if n in table], "seeds"):
        if column in table:
            shown[column.replace("_", " ")] = table[column]
    for role in study.roles:
        key = f"selected_{study.accuracy_key(role)}"
        if f"{key}_mean" in table:
            shown[study.column(role).replace(" over seeds", " over fresh seeds")] = \
                ci_cell(table, key)
    if "did_not_learn_seeds" in table:
        shown["did not learn"] = table["did_not_learn_seeds"]
    return shown


# --- Tables III/IV and VII: the lam ~ 0 / lam ~ 1 comparison -------------------------------


def paper_rows(study: Study, table: dict[float, tuple[float, ...]],
               columns: Sequence[str]) -> list[dict[str, Any]]:
    """The paper's rows for lam = 0 and 1, when the study uses the paper's seven classes."""
    if tuple(study.settings.classes) != DEFAULT_CLASSES:
        return []
    return [{"row": f"λ={format_lam(lam)}, {REFERENCE}", "configuration": None, "lam": lam,
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


def table_vii_frame(study: Study, pair: Comparison) -> pd.DataFrame:
    """Table VII: per class, the distance of NetA's centroid (k-means on X, source) from
    NetB's Z at the selected epoch, one column per configuration (mean over seeds), the
    paper's beside them; a last row of means."""
    classes = list(study.settings.classes)
    frame = pd.DataFrame({"class": classes})
    for config in pair.configurations:
        frame[config.label] = [config.mean(f"centroid_distance/{c}") for c in classes]
    if tuple(classes) == DEFAULT_CLASSES:
        for lam, values in PAPER_TABLE_VII.items():
            frame[f"λ={format_lam(lam)}, {REFERENCE}"] = values
    mean = {"class": "Mean", **{c: pd.to_numeric(frame[c]).mean() for c in frame.columns[1:]}}
    return pd.concat([frame, pd.DataFrame([mean])], ignore_index=True)


# --- Table V --------------------------------------------------------------------------------


def predictions(study: Study, evaluator: Evaluator, trial: TrialRecord,
                role: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predicted classes) of ``role`` at the study's level (frames or videos)."""
    scores = evaluator.evaluate(trial, role).scores
    arrays = evaluator.arrays(role)
    if study.level == "video":
        return arrays.video_labels, video_scores(scores, arrays.video_offsets).argmax(axis=1)
    return arrays.frame_labels, scores.argmax(axis=1)


def confusion_frame(study: Study, evaluator: Evaluator, configuration: Configuration,
                    role: str) -> pd.DataFrame:
    """Table V: counts of (true, predicted) class on ``role``, summed over the seeds'
    checkpoints; rows (index ``true``) and columns in class order."""
    classes = list(study.settings.classes)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for trial in configuration.trials:
        labels, predicted = predictions(study, evaluator, trial, role)
        counts += confusion_matrix(labels, predicted, labels=range(len(classes)))
    return pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=classes)


def confusion_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Counts as rates per true class (rows sum to 1; NaN for a class with no sample)."""
    return counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
