"""Centroids of eq. (2): k-means matched to classes, and class means."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cluster import KMeans

from trainables.centroids import centroid_distances, compute_centroids

CLASSES, DIM, PER_CLASS = 5, 4, 60


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs; blob b gets class label perm[b], so cluster order and
    class order disagree."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=20.0, size=(CLASSES, DIM))
    blob = np.repeat(np.arange(CLASSES), PER_CLASS)
    points = means[blob] + rng.normal(scale=0.5, size=(blob.size, DIM))
    permutation = rng.permutation(CLASSES)
    return points, permutation[blob]


def class_means_by_loop(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([points[labels == c].mean(axis=0) for c in range(CLASSES)])


def test_kmeans_recovers_permuted_class_means() -> None:
    points, labels = blobs()
    result = compute_centroids(points, labels, CLASSES, seed=3)
    assert result.method == "kmeans"
    assert result.centroids.shape == (CLASSES, DIM) and result.centroids.dtype == np.float32
    np.testing.assert_allclose(result.centroids, class_means_by_loop(points, labels), atol=1e-3)
    assert result.agreement == pytest.approx(1.0)
    assert sorted(result.cluster_to_class.tolist()) == list(range(CLASSES))
    # cluster k of the same k-means run must be stored as the row of class cluster_to_class[k]
    centres = KMeans(n_clusters=CLASSES, n_init=10, random_state=3).fit(points).cluster_centers_
    np.testing.assert_allclose(result.centroids[result.cluster_to_class], centres, rtol=1e-5)


def test_noisy_labels_agreement_is_fraction_of_clean_labels() -> None:
    points, clean = blobs(seed=1)
    rng = np.random.default_rng(7)
    noisy = clean.copy()
    flip = rng.random(clean.size) < 0.2
    noisy[flip] = (clean[flip] + rng.integers(1, CLASSES, size=flip.sum())) % CLASSES
    expected = float(np.mean(noisy == clean))
    assert expected < 0.9  # the noise is real
    result = compute_centroids(points, noisy, CLASSES)
    assert result.agreement == pytest.approx(expected)
    np.testing.assert_allclose(result.centroids, class_means_by_loop(points, clean), atol=1e-3)


def test_class_means() -> None:
    points, labels = blobs(seed=2)
    result = compute_centroids(points, labels, CLASSES, method="mean")
    np.testing.assert_allclose(result.centroids, class_means_by_loop(points, labels), rtol=1e-6)
    assert result.agreement == 1.0 and result.method == "mean"
    assert result.cluster_to_class.tolist() == list(range(CLASSES))


def test_absent_class_is_named() -> None:
    points, labels = blobs(seed=2)
    keep = labels != 3
    with pytest.raises(ValueError, match="3"):
        compute_centroids(points[keep], labels[keep], CLASSES, method="mean")


def test_bad_inputs_raise() -> None:
    points, labels = blobs()
    with pytest.raises(ValueError, match="method"):
        compute_centroids(points, labels, CLASSES, method="median")
    with pytest.raises(ValueError, match="labels"):
        compute_centroids(points, labels[:-1], CLASSES)
    with pytest.raises(ValueError, match="class indices"):
        compute_centroids(points, labels, CLASSES - 1)


def test_to_dict_is_json_able() -> None:
    points, labels = blobs()
    result = compute_centroids(points, labels, CLASSES, method="mean")
    restored = json.loads(json.dumps(result.to_dict()))
    np.testing.assert_allclose(np.array(restored["centroids"]), result.centroids)
    assert restored["method"] == "mean" and restored["cluster_to_class"] == list(range(CLASSES))


def test_centroid_distances() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 128)), rng.normal(size=(7, 128))
    expected = [sum((x - y) ** 2 for x, y in zip(a[i], b[i], strict=True)) ** 0.5
                for i in range(7)]
    np.testing.assert_allclose(centroid_distances(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(centroid_distances(a, a), np.zeros(7))
    with pytest.raises(ValueError):
        centroid_distances(a, b[:6])
