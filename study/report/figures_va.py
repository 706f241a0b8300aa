"""The valence-arousal report's figures (issue #14), drawn from :mod:`study.report.va`'s
numbers: predicted against true valence and arousal, and Table VII's distance per cell.

As :mod:`study.report.figures`: :class:`matplotlib.figure.Figure` objects made without
pyplot; every title names the split, the level and the epoch rule.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from study.report.records import Study, TrialRecord
from study.report.va import DIMENSIONS, Histograms, VAPredictions
from trainables.config import SOURCE, TARGET


def histogram_figure(study: Study, trial: TrialRecord, found: VAPredictions,
                     counts: Histograms) -> Figure:
    """Two panels, valence and arousal: a 2D histogram of the predicted (y) against the
    annotated (x) value of every annotated frame, empty bins blank, the identity line
    dashed."""
    figure = Figure(figsize=(11, 5), layout="constrained")
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    edges = counts.edges
    for axis, (axes, name) in enumerate(zip(figure.subplots(1, 2), DIMENSIONS, strict=True)):
        shown = np.ma.masked_equal(counts.counts[axis].T, 0)  # rows: predicted bins
        mesh = axes.pcolormesh(edges, edges, shown, cmap=colours)
        figure.colorbar(mesh, ax=axes, label="frames")
        axes.plot([-1, 1], [-1, 1], "r--", linewidth=1, label="identity (predicted = true)")
        axes.set_xlim(-1, 1)
        axes.set_ylim(-1, 1)
        axes.set_aspect("equal")
        axes.set_xlabel(f"true {name}")
        axes.set_ylabel(f"predicted {name}")
        axes.set_title(f"{name.capitalize()}: CCC {found.ccc(axis):.3f}\n"
                       f"{study.split_phrase(found.role)}, frame level, selected epoch",
                       fontsize=9)
        axes.legend(fontsize=7, loc="upper left")
    figure.suptitle(f"Predicted against true, {len(found.truth)} annotated frames; "
                    f"{trial.label}", fontsize=9)
    return figure


def distance_figure(study: Study, trial: TrialRecord, distances: np.ndarray) -> Figure:
    """Table VII per cell: a G x G heat map over the valence-arousal square of the distance
    of NetA's source cell means from NetB's Z; cells without either blank."""
    size = len(distances)
    edges = np.linspace(-1.0, 1.0, size + 1)
    figure = Figure(figsize=(6.5, 5.5), layout="constrained")
    axes = figure.subplots()
    colours = matplotlib.colormaps["magma"].with_extremes(bad="white")
    # distances[v, a]: valence along x, arousal along y.
    mesh = axes.pcolormesh(edges, edges, np.ma.masked_invalid(distances.T), cmap=colours)
    figure.colorbar(mesh, ax=axes, label="Euclidean distance from Z")
    axes.set_aspect("equal")
    axes.set_xlabel("valence")
    axes.set_ylabel("arousal")
    axes.set_title(f"Distance of NetA's cell means (source {study.split_name(SOURCE)}, frame "
                   f"level, selected epoch)\nfrom Z (NetB, target {study.split_name(TARGET)}); "
                   f"{size}x{size} cells, blank: no source frame or no Z\n{trial.label}",
                   fontsize=9)
    return figure
