"""The report's figures, drawn from numbers computed elsewhere (tables, search, embedding).

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot: no global figure
list to close, no display backend needed (the report runs on headless machines too).
:meth:`study.report.files.ReportFolder.png` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from study.report.files import format_lam
from study.report.methods import NETB_ROW, SOURCE_ONLY
from study.report.records import OPTIMISTIC, ROLE_NAMES, Study, TrialRecord
from trainables.config import SOURCE, TARGET

#: Markers of Z and of the two compared networks' centroids (Figures 5-9).
CENTROID_MARKERS = ("o", "*", "X")
#: Markers of the frame t-SNE's splits, by role.
FRAME_MARKERS = {TARGET: "o", SOURCE: "^"}
#: Markers of each split's accuracy against lam, in :attr:`Study.roles` order.
ROLE_MARKERS = ("o", "s", "^")


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="tight")
    return figure, figure.subplots()


def class_colours(labels: Sequence[int] | np.ndarray) -> list:
    colours = matplotlib.colormaps["tab10"]
    return [colours(int(i) % 10) for i in labels]


def class_legend(axes: Axes, classes: Sequence[str]) -> None:
    """One square per class in its colour, beside the legend entries already drawn."""
    for name, colour in zip(classes, class_colours(range(len(classes))), strict=True):
        axes.scatter([], [], marker="s", color=colour, label=name)
    axes.legend(fontsize=8, loc="best")


def confusion_figure(counts: np.ndarray, classes: Sequence[str], title: str) -> Figure:
    """Row-normalised heatmap, as Table V prints rates per true class."""
    figure, axes = new_figure(7, 6)
    axes.set_title(title, fontsize=9)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    ConfusionMatrixDisplay(rates, display_labels=list(classes)).plot(
        ax=axes, values_format=".2f", cmap="Blues", colorbar=False)
    axes.tick_params(axis="x", labelrotation=45)
    return figure


def centroid_figure(study: Study, groups: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """Figures 5-9: Z (dots) and NetA's centroids (stars: the lam ~ 0 side, crosses: lam ~ 1),
    from :func:`study.report.embedding.centroid_points`."""
    classes = study.settings.classes
    figure, axes = new_figure(7, 6)
    for (name, points), marker in zip(groups, CENTROID_MARKERS, strict=False):
        axes.scatter(points[:, 0], points[:, 1], marker=marker, s=140,
                     c=class_colours(range(len(classes))), edgecolors="black")
        axes.scatter([], [], marker=marker, c="grey", label=name)
    class_legend(axes, classes)
    axes.set_title(f"t-SNE of class centroids: Z (NetB, target {study.split_name(TARGET)}) "
                   f"and NetA's (source {study.split_name(SOURCE)}, frame level, selected "
                   f"epoch)", fontsize=9)
    return figure


def frames_figure(study: Study, trial: TrialRecord,
                  groups: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    """t-SNE of a trial's frame representations X, coloured by class, from
    :func:`study.report.embedding.frame_points`."""
    figure, axes = new_figure(7, 6)
    for role, points, labels in groups:
        axes.scatter(points[:, 0], points[:, 1], c=class_colours(labels), s=12,
                     marker=FRAME_MARKERS[role], alpha=0.7,
                     label=f"{role} ({study.split_name(role)})")
    class_legend(axes, study.settings.classes)
    axes.set_title(f"t-SNE of X (frame level, target and source), selected epoch, "
                   f"{trial.label}", fontsize=9)
    return figure


def importance_figure(study: Study, scores: dict[str, float]) -> Figure:
    figure, axes = new_figure(6, 3)
    names = list(scores)[::-1]
    axes.barh(names, [scores[n] for n in names])
    axes.set_xlabel("importance (Optuna, fANOVA)")
    axes.set_title(f"Importance for {study.describe(study.selection_role)}", fontsize=9)
    return figure


def mark_did_not_learn(axes: Axes, x: pd.Series, y: pd.Series, failed: pd.Series) -> None:
    if failed.any():
        axes.scatter(x[failed], y[failed], marker="x", s=120, c="red", zorder=5,
                     label="did not learn (some seed)")


def lam_figure(study: Study, frame: pd.DataFrame, series: Sequence[pd.DataFrame]) -> Figure:
    """Accuracy against lam: the shape of Table II over the whole search. A dotted line
    joins only configurations that differ in lam alone (``series``, from
    :func:`study.report.search.lam_series`); the others stand as markers."""
    figure, axes = new_figure(7, 4.5)
    for index, (role, marker) in enumerate(zip(study.roles, ROLE_MARKERS, strict=False)):
        key = study.accuracy_key(role)
        for number, group in enumerate(series):
            mean, low, high = (group[f"{key}_{p}"] for p in ("mean", "low", "high"))
            errors = np.vstack([(mean - low).fillna(0).clip(lower=0),
                                (high - mean).fillna(0).clip(lower=0)])
            axes.errorbar(group["lam"], mean, yerr=errors if study.repeated else None,
                          marker=marker, color=f"C{index}", capsize=3,
                          linestyle=":" if len(group) > 1 else "none",
                          label=study.describe(role) if number == 0 else None)
        if role == TARGET:
            mean = frame[f"{key}_mean"]
            mark_did_not_learn(axes, frame["lam"], mean, frame["did_not_learn_seeds"] > 0)
    axes.set_xlabel("λ (eq. 9)")
    axes.set_ylabel(f"{study.level} {study.measure_name}" + (", mean and 95% CI over seeds"
                                                             if study.repeated else ""))
    axes.set_title(f"{study.level.capitalize()}-level {study.measure_name} against λ; "
                   f"selected epoch"
                   + (f" ({OPTIMISTIC})" if study.optimistic else ""), fontsize=9)
    axes.legend(fontsize=7)
    return figure


def pareto_figure(study: Study, frame: pd.DataFrame) -> Figure:
    """Source against target accuracy, the Pareto front (both maximised) marked."""
    target, source = (f"{study.accuracy_key(TARGET)}_mean", f"{study.accuracy_key(SOURCE)}_mean")
    figure, axes = new_figure(6, 5)
    axes.scatter(frame[source], frame[target], c="lightgrey", edgecolors="black",
                 label="configurations")
    front = frame[frame["pareto"]].sort_values(source)
    axes.plot(front[source], front[target], "r-o", drawstyle="steps-post",
              label="Pareto front")
    mark_did_not_learn(axes, frame[source], frame[target], frame["did_not_learn_seeds"] > 0)
    axes.margins(0.15)  # room for the labels inside the axes
    middle = ((frame[source].min() + frame[source].max()) / 2,
              (frame[target].min() + frame[target].max()) / 2)
    # Configurations on the same point share one label, so ties stay readable; each label
    # points towards the middle of the cloud, so none runs off the axes.
    for (x, y), lams in frame.groupby([source, target])["lam"]:
        right, top = x > middle[0], y > middle[1]
        axes.annotate("λ=" + ", ".join(format_lam(lam) for lam in sorted(lams)), (x, y),
                      fontsize=7, textcoords="offset points",
                      xytext=(-4 if right else 4, -4 if top else 4),
                      ha="right" if right else "left", va="top" if top else "bottom")
    axes.set_xlabel(study.describe(SOURCE))
    axes.set_ylabel(study.describe(TARGET))
    axes.set_title(f"Source against target ({study.level} level)"
                   + (", means over seeds" if study.repeated else ""), fontsize=9)
    axes.legend(fontsize=8)
    return figure


def objectives_figure(frame: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """A ``--objectives`` search: its first two objectives against each other, the trials
    on the Pareto front (over every objective) marked and joined."""
    x, y = metrics[0], metrics[1]
    figure, axes = new_figure(6, 5)
    axes.scatter(frame[x], frame[y], c="lightgrey", edgecolors="black", label="trials")
    front = frame[frame["pareto"]].sort_values(x)
    axes.plot(front[x], front[y], "r-o", drawstyle="steps-post" if len(metrics) == 2 else None,
              label="Pareto front" + (f" (over all {len(metrics)} objectives)"
                                      if len(metrics) > 2 else ""))
    axes.margins(0.15)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title("The front the multi-objective search found (best-so-far values Optuna "
                   "was told)", fontsize=9)
    axes.legend(fontsize=8)
    return figure


def methods_figure(study: Study, frame: pd.DataFrame) -> Figure:
    """Each method's best configuration (rows of :func:`study.report.methods.methods_frame`):
    mean evaluation accuracy with its 95% interval over seeds (the number of seeds beside
    it), a dashed line at source_only's mean and one at NetB's accuracy, the upper bound
    (none without a held-out split: NetB then trained on the videos measured)."""
    key = study.accuracy_key(study.eval_role)
    rows = frame[frame["method"] != NETB_ROW].reset_index(drop=True)
    mean, low, high = (rows[f"{key}_{p}"] for p in ("mean", "low", "high"))
    figure, axes = new_figure(max(4.0, 1.2 * len(rows) + 2), 4.5)
    errors = np.vstack([(mean - low).fillna(0).clip(lower=0),
                        (high - mean).fillna(0).clip(lower=0)])
    x = np.arange(len(rows))
    axes.errorbar(x, mean, yerr=errors, marker="o", linestyle="none", capsize=4,
                  color="C0", label="best configuration: mean and 95% CI over seeds")
    for position, value, seeds in zip(x, mean, rows[f"{key}_n"], strict=True):
        axes.annotate(f"n={int(seeds)}", (position, value), textcoords="offset points",
                      xytext=(6, 4), fontsize=7, va="bottom")
    source_only = rows.loc[rows["method"] == SOURCE_ONLY, f"{key}_mean"]
    if len(source_only):
        axes.axhline(source_only.iloc[0], linestyle="--", color="C1",
                     label=f"source_only, mean ({source_only.iloc[0]:.3f})")
    netb = frame.loc[frame["method"] == NETB_ROW, f"{key}_mean"]
    if len(netb) and not study.optimistic:
        axes.axhline(netb.iloc[0], linestyle="--", color="C2",
                     label=f"NetB, in-domain upper bound, 1 run ({netb.iloc[0]:.3f})")
    axes.set_xticks(x, list(rows["method"]))
    axes.set_xlim(-0.5, len(rows) - 0.5)
    axes.margins(y=0.15)
    axes.set_xlabel("method (its best configuration by the selection metric)")
    axes.set_ylabel(f"{ROLE_NAMES[study.eval_role]} {study.level} {study.measure_name}")
    axes.set_title(f"{study.level.capitalize()}-level {study.measure_name} on the "
                   f"{study.split_phrase(study.eval_role)}, {study.rule(study.eval_role)}",
                   fontsize=9)
    axes.legend(fontsize=7, loc="best")
    return figure
