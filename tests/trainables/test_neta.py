"""NetA's plain loop: Table VII's distances, the selected epoch, seeds of repeats."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.engine import SplitArrays, StudyArrays
from trainables.neta import CHECKPOINT_SCORE, centroid_metrics, train_neta, trial_seed

CLASSES = ("a", "b", "c", "d")


def test_table_vii_distances_match_a_direct_computation() -> None:
    """Well separated 128-d clusters: k-means finds the class means, so each distance is
    |mean of class i - Z_i|, computed here with numpy alone."""
    rng = np.random.default_rng(0)
    means = rng.normal(0, 5, (4, 128))
    labels = np.repeat(np.arange(4), 300)
    points = means[labels] + rng.normal(0, 0.3, (1200, 128))
    z = np.tanh(rng.normal(size=(4, 128))).astype(np.float32)
    metrics = centroid_metrics(points.astype(np.float32), labels, z, CLASSES, seed=0)
    expected = [np.linalg.norm(points[labels == i].mean(axis=0) - z[i]) for i in range(4)]
    for name, value in zip(CLASSES, expected, strict=True):
        assert metrics[f"centroid_distance/{name}"] == pytest.approx(value, rel=1e-4)
    assert metrics["centroid_distance_mean"] == pytest.approx(np.mean(expected), rel=1e-4)
    assert metrics["source_cluster_agreement"] == 1.0


def test_repeats_get_distinct_seeds_and_the_first_keeps_the_study_seed() -> None:
    assert trial_seed({"seed": 7}) == 7
    seeds = {trial_seed({"seed": 7, "__trial_index__": i}) for i in range(5)}
    assert len(seeds) == 5 and 7 in seeds


def _split(rng: np.random.Generator, name: str) -> SplitArrays:
    labels = np.repeat(np.arange(4), 6)
    lengths = rng.integers(5, 15, labels.size)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    frame_labels = np.repeat(labels, lengths)
    features = rng.normal(0, 1, (offsets[-1], 16)) + frame_labels[:, None]
    return SplitArrays(name, "features", features.astype(np.float16), frame_labels, offsets,
                       labels, CLASSES)


def test_selected_epoch_figures_are_read_at_that_epoch() -> None:
    rng = np.random.default_rng(1)
    data = StudyArrays(_split(rng, "s"), _split(rng, "t"), _split(rng, "h"))
    config = {"lam": 1.0, "normalisation": "softmax", "cell": "gru", "seq_len": 8,
              "epochs": 5, "seed": 0, "metric": "target_frame_acc", "fc_units": 32,
              "batch_size": 4}
    rows: list[dict] = []
    train_neta(config, data, np.zeros((4, 128), np.float32),
               report=lambda metrics, _write: rows.append(metrics))
    targets = [row["target_frame_acc"] for row in rows]
    chosen = rows[int(np.argmax(targets))]  # the first epoch with the best value
    last = rows[-1]
    assert last["selected_epoch"] == chosen["epoch"]
    for name in ("heldout_video_acc", "heldout_frame_acc", "source_video_acc"):
        assert last[f"selected_{name}"] == chosen[name]
    assert [row[CHECKPOINT_SCORE] >= 0 for row in rows] == \
        [t > max(targets[:n], default=-1) for n, t in enumerate(targets)]
    assert last["steps"] == sum(-(-sum(-(-n // 4) for n in np.diff(data.source.video_offsets))
                                  // 4) for _ in rows)
