"""Valence-arousal studies (the paper's Section V): per-frame (valence, arousal) in [-1, 1]
become classes by a G x G grid over the 2D space (:class:`trainables.va.VAGrid`), so that E_a,
E_b and E_tot (eqs. 5-9) are unchanged with C = G^2.

The splits keep every frame's annotation (``SplitArrays.frame_va``); the cells follow from
the grid a trial runs with, so G can be searched: :func:`relabel` gives a split's labels for
any grid, sharing its inputs. A frame without a valid annotation is labelled -1: it is an input
of the RNN, never a target (trainables.engine). A video's label is the cell of its annotated
frames' mean (valence, arousal).

Centroids are class means, not k-means: with k = G^2 = 400 most cells are sparse and k-means
is unstable. A cell that no target frame falls in has no centroid: its row of Z is NaN and it is
dropped from V and f (trainables.loss).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from trainables.centroids import CentroidResult, compute_centroids
from trainables.config import VA_GRID, VA_RULE
from trainables.engine import SplitArrays, StudyArrays
from trainables.va import VA_RULES, VAGrid

#: How valence-arousal centroids are made (see the module docstring).
VA_CENTROIDS = "mean"


def is_dimensional(data: StudyArrays) -> bool:
    """Whether the study's splits carry valence and arousal (not emotion categories)."""
    return data.source.frame_va is not None


def trial_grid(config: dict[str, Any]) -> VAGrid:
    """The grid a trial runs with (``va_grid``, searchable; the study's default otherwise)."""
    return VAGrid(int(config.get("va_grid") or VA_GRID))


def trial_rule(config: dict[str, Any]) -> str:
    """How a trial turns class scores into (valence, arousal): ``expected`` or ``argmax``."""
    rule = str(config.get("va_rule") or VA_RULE)
    if rule not in VA_RULES:
        raise ValueError(f"unknown va_rule {rule!r}; choose one of {', '.join(VA_RULES)}")
    return rule


def video_va(frame_va: np.ndarray, video_offsets: np.ndarray) -> np.ndarray:
    """(V, 2): each video's mean annotated (valence, arousal); NaN for a video without any."""
    means = np.full((len(video_offsets) - 1, 2), np.nan)
    for video, (start, end) in enumerate(zip(video_offsets[:-1], video_offsets[1:],
                                             strict=True)):
        annotated = frame_va[start:end]
        annotated = annotated[~np.isnan(annotated).any(axis=1)]
        if len(annotated):
            means[video] = annotated.mean(axis=0)
    return means


def relabel(arrays: SplitArrays, grid: VAGrid) -> SplitArrays:
    """The split with ``grid``'s cells as its classes and labels (inputs shared, not copied)."""
    if arrays.frame_va is None:
        raise ValueError(f"split {arrays.name!r} has no valence-arousal annotations")
    return replace(arrays, frame_labels=grid.cell_of(arrays.frame_va),
                   video_labels=grid.cell_of(video_va(arrays.frame_va, arrays.video_offsets)),
                   classes=grid.names())


def relabel_study(data: StudyArrays, grid: VAGrid) -> StudyArrays:
    """:func:`relabel` of every split of the study."""
    return StudyArrays(**{role: relabel(arrays, grid) for role, arrays in data.roles().items()})


def cell_centroids(representations: np.ndarray, labels: np.ndarray,
                   num_cells: int) -> CentroidResult:
    """Z of eq. (2) as class means over the annotated frames; NaN rows for empty cells."""
    annotated = labels >= 0
    return compute_centroids(representations[annotated], labels[annotated], num_cells,
                             method=VA_CENTROIDS, allow_absent=True)


def dropped_cells(centroids: np.ndarray) -> int:
    """Cells without a centroid (no target frame in them), left out of V and f."""
    return int(np.isnan(np.asarray(centroids, dtype=np.float64)).any(axis=1).sum())
