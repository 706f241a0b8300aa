"""Dimensional emotion (valence, arousal) as classes: a G x G grid over the VA square (issue #14).

Each frame carries a valence and an arousal in ``[-1, 1]`` (Aff-Wild: Kollias et al., IJCV 2019;
NaN where it is not annotated). :class:`VAGrid` cuts each axis into ``G`` equal bins, so the
square becomes ``G^2`` cells that the classifier and the centroid loss of Kollias & Zafeiriou
(IJCNN 2018, eqs. 5-9) treat as classes; :func:`predicted_va` maps class scores back to a VA
point, and :func:`va_metrics` reports the dimensional metrics of one split, led by Lin's
concordance correlation coefficient (CCC, Lin 1989), AVEC's and Aff-Wild's measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trainables.metrics import predicted

#: How :func:`predicted_va` turns class scores into a VA point.
VA_RULES = ("expected", "argmax")
#: The suffixes of :func:`va_metrics`'s keys (``{role}_{suffix}``), in the order it reports them.
VA_METRIC_NAMES = tuple(
    f"{level}_{name}"
    for level in ("frame", "video")
    for name in ("ccc", "ccc_valence", "ccc_arousal", "pcc_valence", "pcc_arousal",
                 "rmse_valence", "rmse_arousal", "acc")
) + ("annotated_frames",)
#: The suffixes that may select a model or trial; larger is better for each.
VA_SELECTION = ("frame_ccc", "video_ccc", "frame_acc", "video_acc")
MAX_GRID_SIZE = 100
#: The "expected" rule averages the centres of this many best cells (a 3 x 3 neighbourhood's
#: worth), weighted by their scores above the next best cell's (see :func:`predicted_va`).
TOP_CELLS = 9  # two-digit bin numbers in :meth:`VAGrid.names`


@dataclass(frozen=True)
class VAGrid:
    """``size`` x ``size`` equal cells over ``[-1, 1]^2``; cell ``c = valence_bin * size +
    arousal_bin``. Bin ``b`` of an axis is ``[edges[b], edges[b + 1])``, the last one closed."""

    size: int

    def __post_init__(self) -> None:
        size = self.size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise ValueError(f"VA grid size must be an integer, got {size!r}")
        if not 2 <= size <= MAX_GRID_SIZE:
            raise ValueError(f"VA grid size must be in [2, {MAX_GRID_SIZE}], got {size}")
        object.__setattr__(self, "size", int(size))

    @property
    def num_cells(self) -> int:
        """``G^2``, the number of classes."""
        return self.size**2

    @property
    def edges(self) -> np.ndarray:
        """The ``G + 1`` bin edges of either axis, ``-1 .. 1``."""
        return np.linspace(-1.0, 1.0, self.size + 1)

    def bin_of(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value in ``[-1, 1]``: ``clip(floor((x + 1) / 2 * G), 0, G - 1)``.

        Computed as the ``b`` with ``edges[b] <= x < edges[b + 1]`` (``x = 1`` in the last bin),
        which is that formula, but agrees with :attr:`edges` to the last bit on the edges.
        """
        bins = np.searchsorted(self.edges, values, side="right") - 1
        return np.clip(bins, 0, self.size - 1).astype(np.int64)

    def cell_of(self, va: np.ndarray) -> np.ndarray:
        """``(N, 2)`` (valence, arousal) -> ``(N,)`` int64 cells; ``-1`` for rows with a NaN.

        Raises ValueError on values outside ``[-1, 1]`` (infinities included): the readers
        validate annotations, this guards against a bug upstream.
        """
        va = np.asarray(va, dtype=np.float64)
        if va.ndim != 2 or va.shape[1] != 2:
            raise ValueError(f"va must be (N, 2) (valence, arousal), got shape {va.shape}")
        missing = np.isnan(va).any(axis=1)
        known = va[~missing]
        if known.size and not (np.all(known >= -1.0) and np.all(known <= 1.0)):
            bad = known[(known < -1.0) | (known > 1.0)]
            raise ValueError(f"valence/arousal must lie in [-1, 1], got {bad[:5].tolist()}")
        cells = np.full(len(va), -1, dtype=np.int64)
        cells[~missing] = self.bin_of(known[:, 0]) * self.size + self.bin_of(known[:, 1])
        return cells

    def bins(self, cell: int) -> tuple[int, int]:
        """``(valence_bin, arousal_bin)`` of ``cell``: ``divmod(cell, G)``."""
        if not 0 <= int(cell) < self.num_cells:
            raise ValueError(f"cell must be in [0, {self.num_cells}), got {cell}")
        valence_bin, arousal_bin = divmod(int(cell), self.size)
        return valence_bin, arousal_bin

    def centres(self) -> np.ndarray:
        """``(G^2, 2)`` float64: row ``c`` is the centre of cell ``c`` (its bins' midpoints)."""
        edges = self.edges
        mid = (edges[:-1] + edges[1:]) / 2.0
        valence_bins, arousal_bins = np.divmod(np.arange(self.num_cells), self.size)
        return np.stack([mid[valence_bins], mid[arousal_bins]], axis=1)

    def names(self) -> tuple[str, ...]:
        """One class name per cell, in cell order: ``v{valence_bin:02d}a{arousal_bin:02d}``."""
        return tuple(f"v{v:02d}a{a:02d}" for v in range(self.size) for a in range(self.size))


def _pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 copies of ``x`` and ``y`` without the pairs where either is NaN."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def _centred(x: np.ndarray) -> np.ndarray:
    """``x - mean(x)``; exactly 0 for a constant ``x`` (whose float mean may be off by an ulp)."""
    if np.all(x == x[0]):
        return np.zeros_like(x)
    return x - x.mean()


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (Lin 1989), AVEC's and Aff-Wild's metric:
    ``2 s_xy / (s_x^2 + s_y^2 + (m_x - m_y)^2)`` with population (``1/N``) moments.

    Pairs with a NaN are dropped; NaN when fewer than 2 pairs remain or the denominator is 0.
    """
    x, y = _pairs(x, y)
    if len(x) < 2:
        return math.nan
    dx, dy = _centred(x), _centred(y)
    denominator = np.mean(dx * dx) + np.mean(dy * dy) + (x.mean() - y.mean()) ** 2
    if denominator == 0.0:
        return math.nan
    return float(2.0 * np.mean(dx * dy) / denominator)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation ``s_xy / (s_x s_y)``; NaN pairs dropped; NaN (without a warning)
    for fewer than 2 pairs or a constant input."""
    x, y = _pairs(x, y)
    if len(x) < 2:
        return math.nan
    dx, dy = _centred(x), _centred(y)
    sxx, syy = float(np.dot(dx, dx)), float(np.dot(dy, dy))
    if sxx == 0.0 or syy == 0.0:
        return math.nan
    return float(np.clip(np.dot(dx, dy) / math.sqrt(sxx * syy), -1.0, 1.0))


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error ``sqrt(mean((x - y)^2))``; NaN pairs dropped; NaN if none left."""
    x, y = _pairs(x, y)
    return float(np.sqrt(np.mean((x - y) ** 2))) if len(x) else math.nan


def predicted_va(
    scores: np.ndarray, grid: VAGrid, *, lam: float, rule: str = "expected"
) -> np.ndarray:
    """``(N, G^2)`` class scores -> ``(N, 2)`` predicted (valence, arousal).

    ``scores`` are :func:`trainables.loss.predict`'s: eq. (9)'s closeness
    ``lam O + (1 - lam)(1 - f(V))`` less ``1 - lam``. ``"argmax"`` is the centre of the best
    cell (the first on ties, as :func:`trainables.metrics.predicted`). ``"expected"`` is the
    score-weighted mean of the centres of the :data:`TOP_CELLS` best cells, each weighted by
    how far its score is above the next best cell's (the weights ignore a constant added to
    every score, such as the ``1 - lam`` left out; rows whose weights are all 0 or not finite
    fall back to ``"argmax"``).

    Why not every cell: over G^2 = 400 cells a mean of all scores is pulled to the centre of
    the grid by the many small ones (outputs O near 0, or at lam = 0 the 1 - f(V) of a
    saturated softmax, about 1 for all cells but one), which flattens the predictions. ``lam``
    is checked (in [0, 1]) for the caller's sake; the weights do not need it.
    """
    if rule not in VA_RULES:
        raise ValueError(f"unknown VA rule {rule!r}; choose one of {', '.join(VA_RULES)}")
    if not 0.0 <= float(lam) <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != grid.num_cells:
        raise ValueError(f"scores must be (N, {grid.num_cells}), got shape {scores.shape}")
    centres = grid.centres()
    result = centres[predicted(scores)] if len(scores) else np.zeros((0, 2))
    if rule == "argmax":
        return result
    top = min(TOP_CELLS, grid.num_cells - 1)
    ranked = -np.sort(-scores, axis=1)  # best first
    floor = ranked[:, top:top + 1]       # the best score outside the top cells
    weights = np.clip(scores - floor, 0.0, None)
    totals = weights.sum(axis=1)
    usable = np.isfinite(weights).all(axis=1) & (totals > 0.0)
    result[usable] = (weights[usable] / totals[usable, None]) @ centres
    return result


def _regression_metrics(prefix: str, predictions: np.ndarray, truth: np.ndarray
                        ) -> dict[str, float]:
    """CCC, PCC and RMSE per dimension, and the mean CCC, keyed ``{prefix}_...``."""
    metrics: dict[str, float] = {}
    for axis, name in enumerate(("valence", "arousal")):
        metrics[f"{prefix}_ccc_{name}"] = ccc(predictions[:, axis], truth[:, axis])
        metrics[f"{prefix}_pcc_{name}"] = pearson(predictions[:, axis], truth[:, axis])
        metrics[f"{prefix}_rmse_{name}"] = rmse(predictions[:, axis], truth[:, axis])
    metrics[f"{prefix}_ccc"] = (metrics[f"{prefix}_ccc_valence"]
                                + metrics[f"{prefix}_ccc_arousal"]) / 2.0
    return metrics


def _accuracy(scores: np.ndarray, cells: np.ndarray) -> float:
    return float(np.mean(predicted(scores) == cells)) if len(cells) else math.nan


def va_metrics(
    role: str,
    scores: np.ndarray,
    frame_va: np.ndarray,
    video_offsets: np.ndarray,
    grid: VAGrid,
    *,
    lam: float,
    rule: str = "expected",
) -> dict[str, float]:
    """The dimensional metrics of one split, keyed ``{role}_{suffix}`` for every suffix of
    :data:`VA_METRIC_NAMES`, over annotated frames only (``frame_va`` rows without a NaN).

    Frame level: CCC (Lin 1989), Pearson and RMSE per dimension between :func:`predicted_va`
    and the annotation, their mean CCC (``frame_ccc``, the AVEC / Aff-Wild objective) and the
    cell accuracy (the argmax cell against :meth:`VAGrid.cell_of`). Video level: the same
    between each video's mean predicted and mean annotated VA, and the accuracy of the argmax of
    its mean scores against the cell of its mean annotation; a video without annotated frames
    is left out. ``video_offsets`` are ``(V + 1,)`` frame offsets (video ``v`` is frames
    ``offsets[v]:offsets[v + 1]``).
    """
    scores = np.asarray(scores, dtype=np.float64)
    frame_va = np.asarray(frame_va, dtype=np.float64)
    offsets = np.asarray(video_offsets, dtype=np.int64)
    if frame_va.ndim != 2 or frame_va.shape[1] != 2 or len(frame_va) != len(scores):
        raise ValueError(f"frame_va must be (N={len(scores)}, 2), got shape {frame_va.shape}")
    if (offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(scores)
            or np.any(np.diff(offsets) < 0)):
        raise ValueError(f"video_offsets must rise from 0 to N={len(scores)}, got {offsets}")
    annotated = ~np.isnan(frame_va).any(axis=1)
    scores_a, truth_a = scores[annotated], frame_va[annotated]
    cells_a = grid.cell_of(truth_a)
    predictions_a = predicted_va(scores_a, grid, lam=lam, rule=rule)

    frame = _regression_metrics(f"{role}_frame", predictions_a, truth_a)
    frame[f"{role}_frame_acc"] = _accuracy(scores_a, cells_a)

    # The annotated frames stay in video order: video v's are a contiguous run of `counts[v]`.
    video_of_frame = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    counts = np.bincount(video_of_frame[annotated], minlength=len(offsets) - 1)
    counts = counts[counts > 0]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def video_mean(values: np.ndarray) -> np.ndarray:
        if not len(counts):
            return np.zeros((0, values.shape[1]))
        return np.add.reduceat(values, starts, axis=0) / counts[:, None]

    truth_v = video_mean(truth_a)
    video = _regression_metrics(f"{role}_video", video_mean(predictions_a), truth_v)
    video[f"{role}_video_acc"] = _accuracy(video_mean(scores_a), grid.cell_of(truth_v))

    metrics = {**frame, **video, f"{role}_annotated_frames": int(annotated.sum())}
    return {f"{role}_{name}": metrics[f"{role}_{name}"] for name in VA_METRIC_NAMES}
