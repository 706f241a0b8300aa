"""Class centroids ``Z_i`` of eq. (2) from NetB's representations ``U_m`` of eq. (1).

Section III clusters the representations with k-means into one cluster per emotion class; each
cluster is then given the class it agrees with most (a one-to-one Hungarian assignment), so row
``i`` of the result is the centroid used as class ``i``'s target in eq. (6). Class means are the
label-supervised alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import confusion_matrix

from trainables.errors import UserInputError

METHODS: tuple[str, ...] = ("kmeans", "mean")


@dataclass
class CentroidResult:
    """Centroids in class order plus how well the clustering matched the labels."""

    centroids: np.ndarray         # (C, n) float32, row i = centroid of class i
    agreement: float              # fraction of samples whose cluster maps to their label
    cluster_to_class: np.ndarray  # (C,) int, cluster k -> class
    method: str                   # "kmeans" or "mean"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (centroids as nested lists)."""
        return {  # a dropped class's NaN row is written as nulls (valid JSON)
            "centroids": [[None if np.isnan(v) else v for v in row]
                          for row in self.centroids.astype(float).tolist()],
            "agreement": float(self.agreement),
            "cluster_to_class": [int(c) for c in self.cluster_to_class],
            "method": self.method,
        }


def _check_inputs(representations: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    if representations.ndim != 2:
        raise ValueError(f"representations must be (M, n), got shape {representations.shape}")
    if labels.shape != (representations.shape[0],):
        raise ValueError(
            f"labels must be ({representations.shape[0]},), got shape {labels.shape}"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be class indices in [0, {num_classes - 1}]")


def _class_means(
    representations: np.ndarray, labels: np.ndarray, num_classes: int, allow_absent: bool
) -> CentroidResult:
    """Centroid of class ``i`` = mean of its representations; a class without any is an error,
    or with ``allow_absent`` a NaN row (a dropped class, :mod:`trainables.loss`)."""
    counts = np.bincount(labels, minlength=num_classes)
    absent = np.flatnonzero(counts == 0)
    if absent.size and not allow_absent:
        raise ValueError(f"class(es) {', '.join(map(str, absent))} have no samples to average")
    sums = np.zeros((num_classes, representations.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, representations)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0: the NaN of an absent class
        means = sums / counts[:, None]
    return CentroidResult(
        centroids=means.astype(np.float32),
        agreement=1.0,
        cluster_to_class=np.arange(num_classes),
        method="mean",
    )


def _kmeans(
    representations: np.ndarray, labels: np.ndarray, num_classes: int, seed: int, n_init: int
) -> CentroidResult:
    """k-means with ``k = C`` (Section IV-B), clusters matched one-to-one to classes."""
    if representations.shape[0] < num_classes:
        raise ValueError(
            f"k-means needs at least {num_classes} samples, got {representations.shape[0]}"
        )
    kmeans = KMeans(n_clusters=num_classes, n_init=n_init, random_state=seed)
    clusters = kmeans.fit_predict(representations)
    # contingency[i, k] = samples of class i in cluster k; maximise the matched total.
    contingency = confusion_matrix(labels, clusters, labels=np.arange(num_classes))
    classes, matched_clusters = linear_sum_assignment(contingency, maximize=True)
    cluster_to_class = np.empty(num_classes, dtype=np.int64)
    cluster_to_class[matched_clusters] = classes
    centroids = np.empty_like(kmeans.cluster_centers_)
    centroids[cluster_to_class] = kmeans.cluster_centers_
    return CentroidResult(
        centroids=centroids.astype(np.float32),
        agreement=float(contingency[classes, matched_clusters].sum() / labels.size),
        cluster_to_class=cluster_to_class,
        method="kmeans",
    )


def compute_centroids(
    representations: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    method: str = "kmeans",
    seed: int = 0,
    n_init: int = 10,
    allow_absent: bool = False,
) -> CentroidResult:
    """Centroids ``Z_i`` (eq. 2) of ``representations`` ``(M, n)`` with ``labels`` ``(M,)``.

    ``method="kmeans"`` clusters as in Section III; ``"mean"`` averages each class, and with
    ``allow_absent`` leaves a NaN row for a class without samples (valence-arousal cells).
    """
    if method not in METHODS:
        raise UserInputError(f"unknown centroid method {method!r}; choose one of {METHODS}")
    representations = np.asarray(representations, dtype=np.float64)
    raw_labels = np.asarray(labels)
    labels = raw_labels.astype(np.int64)
    if not np.array_equal(labels, raw_labels):
        raise ValueError("labels must be integer class indices")
    _check_inputs(representations, labels, num_classes)
    if method == "mean":
        return _class_means(representations, labels, num_classes, allow_absent)
    return _kmeans(representations, labels, num_classes, seed, n_init)


def centroid_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(C,)`` Euclidean distance between row ``i`` of ``a`` and row ``i`` of ``b`` (Table VII)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (C, n) arrays of equal shape, got {a.shape} and {b.shape}")
    return np.linalg.norm(a - b, axis=1)
