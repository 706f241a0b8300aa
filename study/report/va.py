"""The numbers of the valence-arousal report (issue #14), as pandas frames and arrays.

A valence-arousal study (``--task va``) predicts per-frame valence and arousal through the
cells of a G x G grid (:mod:`trainables.va`); it is scored by Lin's concordance correlation
coefficient (CCC, Lin 1989; the AVEC / Aff-Wild metric), Pearson's correlation and RMSE per
dimension, and by the cell accuracy. Here:

* :func:`ccc_frame`: the Table II analogue, each configuration's figures on every split at
  its selected epoch (mean and 95% interval over seeds, clipped to what each can take);
* :func:`floor_frame`: NetB's CCC on each split beside NetA's best and chance (CCC 0);
* :func:`predictions` and :func:`histograms`: predicted against annotated valence and
  arousal of one trial's kept checkpoint, re-evaluated, as 2D histograms;
* :func:`distance_frame` and :func:`cell_distances`: Table VII per cell, summarised per
  configuration from what the trials reported, and the best trial's per-cell distance of
  NetA's source cell means from NetB's Z, recomputed.

Nothing here draws (:mod:`study.report.figures_va` does) or writes
(:mod:`study.report.sections_va` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from study.report.evaluator import Evaluator
from study.report.records import ROLE_NAMES, Configuration, Study, TrialRecord, or_default
from study.report.search import shown_params
from study.report.tables import ci_cell, configuration_columns, learned_column
from trainables.config import HELDOUT, SOURCE, TARGET, VA_LEARNED_CCC
from trainables.dimensional import cell_centroids, trial_grid, trial_rule
from trainables.neta import trial_lam
from trainables.va import VAGrid, ccc, predicted_va

#: The dimensions, in the order of ``frame_va``'s columns.
DIMENSIONS = ("valence", "arousal")
#: Each split's figures in :func:`ccc_frame`, by suffix of ``{role}_{level}_``: the mean CCC
#: (the objective's), CCC, Pearson and RMSE per dimension, and the cell accuracy.
FIGURES = ("ccc", "ccc_valence", "ccc_arousal", "pcc_valence", "pcc_arousal",
           "rmse_valence", "rmse_arousal", "acc")
#: The printed figures of each split: the mean CCC and each dimension's.
SHOWN = ("ccc", "ccc_valence", "ccc_arousal")
#: Table VII summarised, as each trial reports it (``centroid_cells``: cells compared).
DISTANCES = ("centroid_distance_mean", "centroid_distance_median", "centroid_distance_max",
             "centroid_cells")
#: The trial's Z's cells without a target frame, left out of V and f.
DROPPED = "dropped_cells"


def grids(study: Study) -> tuple[list[int], list[str]]:
    """The grid sizes G and the prediction rules the configurations ran with."""
    configs = [c.config for c in study.configurations]
    return (sorted({trial_grid(c).size for c in configs}),
            sorted({trial_rule(c) for c in configs}))


def ccc_frame(study: Study) -> pd.DataFrame:
    """One row per configuration with a result, sorted by lam (as Table II): parameters,
    grid and rule, seeds, selected epochs, and for each split every one of :data:`FIGURES`
    (``{role}_{level}_{figure}_mean/_low/_high``) over its seeds at the selected epoch (the
    selection split's: its best), and how many seeds did not learn."""
    rows = []
    for config in sorted(study.configurations, key=lambda c: (or_default(c.lam, 2.0),
                                                               c.configuration)):
        row: dict[str, Any] = {
            "configuration": config.configuration,
            "trial_ids": ",".join(t.trial_id for t in config.trials),
            "status": ",".join(sorted({t.status for t in config.trials})),
            **{name: config.config.get(name) for name in shown_params(study)},
            "va_grid": trial_grid(config.config).size, "va_rule": trial_rule(config.config),
            "seeds": config.seeds,
            "selected_epochs": ",".join(str(t.selected_epoch) for t in config.trials)}
        for role in study.roles:
            for figure in FIGURES:
                key = f"{role}_{study.level}_{figure}"
                row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = \
                    config.interval(key)
        row["did_not_learn_seeds"] = (config.did_not_learn_seeds if config.learning_known
                                      else None)
        rows.append(row)
    return pd.DataFrame(rows)


def figure_name(figure: str) -> str:
    """``ccc_valence`` -> ``valence CCC``; ``ccc`` -> ``CCC``."""
    measure, _, dimension = figure.partition("_")
    return f"{dimension} {measure.upper()}".strip()


def ccc_shown(study: Study, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`ccc_frame` as printed: the mean CCC of each split (named by split, level and
    epoch rule) and its valence and arousal CCC, the grid and rule where configurations
    differ in them; the means decide the bold cells."""
    params = shown_params(study)
    # The grid and rule where configurations differ in them (a searched grid is a parameter).
    extra = [name for name in ("va_grid", "va_rule")
             if name not in params and frame[name].nunique() > 1]
    shown = configuration_columns(study, frame, extra)
    top = {}
    for role in study.roles:
        for figure in SHOWN:
            key = f"{role}_{study.level}_{figure}"
            column = (study.column(role) if figure == "ccc"
                      else f"{ROLE_NAMES[role]} {figure_name(figure)}")
            shown[column] = ci_cell(frame, key)
            top[column] = frame[f"{key}_mean"]
    shown["learned?"] = learned_column(study, frame)
    return shown, top


# --- Floor: NetB against NetA's best and chance --------------------------------------------


def learned_text(learned: bool | None, role: str) -> str:
    """The verdict of a network on its own split: its frame CCC against VA_LEARNED_CCC."""
    if learned is None:
        return "—"
    return "learned" if learned else (f"**has not learned** ({ROLE_NAMES[role]} frame CCC "
                                      f"below {VA_LEARNED_CCC:g})")


def floor_frame(study: Study) -> pd.DataFrame | None:
    """NetB's (trained on the target), NetA's best configuration's and chance's mean CCC on
    each split, and the cells each one's Z dropped; None when NetB's summary is missing."""
    summary = study.netb
    if summary is None:
        return None
    metrics = summary.get("metrics", {})
    roles = [TARGET, *([] if study.optimistic else [HELDOUT]), SOURCE]
    own = f"own split {study.level} CCC"

    def on_splits(values: Any) -> dict[str, Any]:
        return {study.split_phrase(r): values(study.accuracy_key(r)) for r in roles}

    learned = summary.get("learned")
    rows = [{"network": "NetB", "trained on": f"target ({study.split_name(TARGET)})",
             own: metrics.get(study.accuracy_key(TARGET)), **on_splits(metrics.get),
             "dropped cells": summary.get(DROPPED),
             "verdict": learned_text(None if learned is None else bool(learned), TARGET)}]
    best = study.best_configuration()
    if best is not None:
        learning = None if not best.learning_known else best.did_not_learn_seeds == 0
        rows.append({"network": f"NetA, best: {best.label}",
                     "trained on": f"source ({study.split_name(SOURCE)})",
                     own: best.mean(study.accuracy_key(SOURCE)), **on_splits(best.mean),
                     "dropped cells": mean_reported(best, DROPPED),
                     "verdict": learned_text(learning, SOURCE)})
    rows.append({"network": "chance (a constant or unrelated prediction)", "trained on": "—",
                 own: 0.0, **{study.split_phrase(r): 0.0 for r in roles},
                 "dropped cells": None, "verdict": "—"})
    frame = pd.DataFrame(rows)
    frame["dropped cells"] = counts(frame["dropped cells"])
    return frame


def counts(values: pd.Series) -> pd.Series:
    """Counts as integers (printed without decimals) when every one is whole, e.g. cells;
    a mean over seeds that is not whole stays as it is."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    known = numbers.dropna()
    return numbers.astype("Int64") if (known == known.round()).all() else numbers


# --- Predicted against true ----------------------------------------------------------------


@dataclass
class VAPredictions:
    """One trial's predicted and annotated (valence, arousal) of the annotated frames of a
    split (rows in frame order), with the grid it predicted on."""

    role: str
    truth: np.ndarray
    predicted: np.ndarray
    grid: VAGrid

    def ccc(self, axis: int) -> float:
        """Lin's CCC of one dimension (0: valence, 1: arousal)."""
        return ccc(self.predicted[:, axis], self.truth[:, axis])


def predictions(evaluator: Evaluator, trial: TrialRecord, role: str) -> VAPredictions:
    """The trial's kept checkpoint re-evaluated on ``role``: its class scores turned into
    (valence, arousal) by its rule and lam (:func:`trainables.va.predicted_va`), over the
    frames with an annotation."""
    scores = evaluator.evaluate(trial, role).scores
    frame_va = np.asarray(evaluator.arrays(role, trial).frame_va, dtype=np.float64)
    annotated = ~np.isnan(frame_va).any(axis=1)
    grid = trial_grid(trial.config)
    predicted = predicted_va(scores[annotated], grid, lam=trial_lam(trial.config),
                             rule=trial_rule(trial.config))
    return VAPredictions(role, frame_va[annotated], predicted, grid)


@dataclass
class Histograms:
    """2D histograms of predicted against true, one per dimension: ``counts[d, i, j]`` frames
    whose true value of dimension ``d`` is in bin ``i`` and predicted value in bin ``j``
    (bins: ``edges``, the grid's)."""

    edges: np.ndarray
    counts: np.ndarray


def histograms(found: VAPredictions) -> Histograms:
    """Predicted against true per dimension, on the bins of the trial's grid."""
    edges = found.grid.edges
    counts = np.stack([np.histogram2d(found.truth[:, axis], found.predicted[:, axis],
                                      bins=(edges, edges))[0] for axis in range(2)])
    return Histograms(edges, counts.astype(np.int64))


# --- Table VII per cell ---------------------------------------------------------------------


def mean_reported(configuration: Configuration, key: str) -> float:
    """The mean over seeds of ``key`` at the selected epoch, else as last reported."""
    values = [v for v in (t.reported(key) for t in configuration.trials) if math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def distance_frame(study: Study) -> pd.DataFrame:
    """Table VII summarised per configuration (sorted by lam): the mean, median and largest
    distance over the cells of NetA's source cell means from NetB's Z at the selected epoch,
    the cells compared and the cells Z dropped (means over seeds)."""
    rows = []
    for config in sorted(study.configurations, key=lambda c: (or_default(c.lam, 2.0),
                                                               c.configuration)):
        rows.append({"configuration": config.configuration, "row": config.label,
                     "lam": config.lam, "va_grid": trial_grid(config.config).size,
                     "seeds": config.seeds,
                     **{key: mean_reported(config, key) for key in (*DISTANCES, DROPPED)}})
    frame = pd.DataFrame(rows)
    for key in ("centroid_cells", DROPPED):
        if key in frame:
            frame[key] = counts(frame[key])
    return frame


def cell_distances(evaluator: Evaluator, trial: TrialRecord) -> np.ndarray:
    """``(G, G)``: entry ``[v, a]`` is the Euclidean distance, for cell ``v * G + a``, of
    the mean of NetA's source representations X (its kept checkpoint) from NetB's Z; NaN
    where either is empty (no source frame in the cell, or a cell Z dropped)."""
    grid = trial_grid(trial.config)
    labels = evaluator.arrays(SOURCE, trial).frame_labels
    representations = evaluator.evaluate(trial, SOURCE).representations
    neta = cell_centroids(representations, labels, grid.num_cells).centroids
    z = np.asarray(evaluator.z_for(trial), dtype=np.float64)
    distances = np.linalg.norm(np.asarray(neta, dtype=np.float64) - z, axis=1)
    return distances.reshape(grid.size, grid.size)
