"""trainables.metrics against independent references: python loops, sklearn, literal numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import recall_score

from trainables.metrics import accuracy, per_class_accuracy, split_metrics, video_scores


def loop_video_means(frame_scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Reference: a plain python loop, one video at a time, one frame at a time."""
    rows = []
    for start, stop in zip(offsets[:-1], offsets[1:], strict=True):
        total = [0.0] * frame_scores.shape[1]
        for frame in range(start, stop):
            for c in range(frame_scores.shape[1]):
                total[c] += float(frame_scores[frame, c])
        rows.append([value / (stop - start) for value in total])
    return np.array(rows)


def test_video_scores_are_the_mean_of_each_videos_frames() -> None:
    rng = np.random.default_rng(0)
    lengths = [1, 7, 80, 3, 1, 200, 2]  # unequal, with 1-frame videos first and in between
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    scores = rng.normal(size=(offsets[-1], 7))
    result = video_scores(scores, offsets)
    assert result.shape == (len(lengths), 7)
    np.testing.assert_allclose(result, loop_video_means(scores, offsets), rtol=1e-12, atol=1e-12)
    # A 1-frame video's score is that frame's score exactly.
    np.testing.assert_array_equal(result[0], scores[0])
    np.testing.assert_array_equal(result[4], scores[offsets[4]])


def test_video_scores_hand_case() -> None:
    scores = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [0.5, 0.25]])
    offsets = np.array([0, 1, 3, 4])
    np.testing.assert_array_equal(video_scores(scores, offsets),
                                  [[1.0, 0.0], [4.0, 3.0], [0.5, 0.25]])


def test_accuracy_counts_argmax_hits() -> None:
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.1, 0.4],
                       [0.0, 0.0, 1.0]])
    labels = np.array([0, 1, 1, 2, 2])  # hits: rows 0, 1, 4
    assert accuracy(scores, labels) == pytest.approx(3 / 5)
    assert accuracy(scores, np.array([1, 0, 0, 1, 0])) == 0.0
    assert math.isnan(accuracy(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)))


def test_per_class_accuracy_matches_sklearn_recall_with_absent_classes_nan() -> None:
    rng = np.random.default_rng(1)
    num_classes = 7
    labels = rng.choice([0, 1, 2, 4, 6], size=500)  # classes 3 and 5 absent
    predictions = np.where(rng.random(500) < 0.6, labels, rng.integers(0, num_classes, 500))
    scores = np.eye(num_classes)[predictions] + rng.random((500, num_classes)) * 0.1
    assert np.array_equal(scores.argmax(axis=1), predictions)
    result = per_class_accuracy(scores, labels, num_classes)
    present = [0, 1, 2, 4, 6]
    reference = recall_score(labels, predictions, labels=present, average=None, zero_division=0)
    np.testing.assert_allclose(result[present], reference, rtol=1e-12)
    assert np.isnan(result[3]) and np.isnan(result[5])


def test_per_class_accuracy_hand_built_confusion() -> None:
    # Confusion (rows = true, cols = predicted): class 0: 3 right, 1 as class 2;
    # class 1: 0 right, 2 as class 0; class 2: 2 right; class 3: absent.
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 0, 0, 2, 0, 0, 2, 2])
    result = per_class_accuracy(np.eye(4)[predictions], labels, 4)
    np.testing.assert_array_equal(result[:3], [0.75, 0.0, 1.0])
    assert np.isnan(result[3])


def test_split_metrics_video_and_frame_level_differ() -> None:
    classes = ("A", "B", "C")
    # Video 0 (label A): 3 frames; 2 of them predict B by a hair, one predicts A strongly,
    #   so the majority of frames is wrong but the mean score picks A: frame 1/3, video right.
    # Video 1 (label B): 2 frames, both predict B: frame 2/2, video right.
    # Video 2 (label C): 3 frames, 2 predict C by a hair, one predicts A strongly:
    #   frame 2/3, video wrong (mean picks A).
    frame_scores = np.array([
        [0.40, 0.45, 0.15], [0.40, 0.45, 0.15], [0.90, 0.05, 0.05],
        [0.10, 0.80, 0.10], [0.20, 0.70, 0.10],
        [0.30, 0.30, 0.40], [0.30, 0.30, 0.40], [0.95, 0.00, 0.05],
    ])
    offsets = np.array([0, 3, 5, 8])
    video_labels = np.array([0, 1, 2])
    frame_labels = np.repeat(video_labels, np.diff(offsets))
    metrics = split_metrics("target", frame_scores, frame_labels, offsets, video_labels, classes)
    expected = {
        "target_frame_acc": 5 / 8,
        "target_video_acc": 2 / 3,
        "class_acc/target_frame/A": 1 / 3,
        "class_acc/target_frame/B": 1.0,
        "class_acc/target_frame/C": 2 / 3,
        "class_acc/target_video/A": 1.0,
        "class_acc/target_video/B": 1.0,
        "class_acc/target_video/C": 0.0,
    }
    assert set(metrics) == set(expected)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-12), key
        assert isinstance(metrics[key], float)


def test_split_metrics_absent_class_is_nan() -> None:
    frame_scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    metrics = split_metrics("source", frame_scores, np.array([0, 1]), np.array([0, 1, 2]),
                            np.array([0, 1]), ("X", "Y", "Z"))
    assert metrics["source_frame_acc"] == 1.0 and metrics["source_video_acc"] == 1.0
    assert math.isnan(metrics["class_acc/source_frame/Z"])
    assert math.isnan(metrics["class_acc/source_video/Z"])
