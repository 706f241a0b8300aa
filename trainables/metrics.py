"""Accuracy metrics at frame and video level, and the names they are reported under.

The paper classifies frames and aggregates them into a video decision (Section IV-C);
a video's score is the mean of its frames' scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def video_scores(frame_scores: np.ndarray, video_offsets: np.ndarray) -> np.ndarray:
    """Mean frame score per video: (N, C) frame scores -> (V, C)."""
    sums = np.add.reduceat(frame_scores, video_offsets[:-1], axis=0)
    lengths = np.diff(video_offsets)[:, None]
    return sums / lengths


def predicted(scores: np.ndarray) -> np.ndarray:
    """The class every row of ``(M, C)`` scores predicts: its arg-max (the first on ties), as
    every accuracy here counts it."""
    return scores.argmax(axis=1)


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max matches the label."""
    return float(np.mean(predicted(scores) == labels)) if len(labels) else float("nan")


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Recall of each class (the paper's per-category accuracy, Tables III-IV); NaN if absent."""
    predictions = predicted(scores)
    result = np.full(num_classes, np.nan)
    for cls in np.unique(labels):
        result[cls] = np.mean(predictions[labels == cls] == cls)
    return result


def split_metrics(
    prefix: str,
    frame_scores: np.ndarray,
    frame_labels: np.ndarray,
    video_offsets: np.ndarray,
    video_labels: np.ndarray,
    classes: Sequence[str],
) -> dict[str, float]:
    """Frame- and video-level accuracy, overall and per class, keyed ``{prefix}_{level}_acc``."""
    per_video = video_scores(frame_scores, video_offsets)
    metrics = {
        f"{prefix}_frame_acc": accuracy(frame_scores, frame_labels),
        f"{prefix}_video_acc": accuracy(per_video, video_labels),
    }
    for level, scores, labels in (
        ("frame", frame_scores, frame_labels),
        ("video", per_video, video_labels),
    ):
        recalls = per_class_accuracy(scores, labels, len(classes))
        for name, value in zip(classes, recalls, strict=True):
            metrics[f"class_acc/{prefix}_{level}/{name}"] = float(value)
    return metrics
