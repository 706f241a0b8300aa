"""A floor to beat: a linear probe on the same cached frozen-CNN features the networks see.

A logistic regression on standardised features (scikit-learn's ``StandardScaler`` then
``LogisticRegression``) is fitted on the frames of one split and scored like the networks,
at frame level and at video level (a video's score is the mean of its frames' predicted
probabilities, :func:`trainables.metrics.video_scores`). A network that scores below the
probe on its own training split has not learned.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from trainables.config import LEARNED_MARGIN
from trainables.engine import SplitArrays, StudyArrays
from trainables.metrics import split_metrics

#: Inverse regularisation strength of the probe (the issue's measurement used 0.1).
PROBE_C = 0.1
#: Frames the probe is fitted on at most (a seeded subsample beyond that, for speed).
PROBE_MAX_FRAMES = 20_000
PROBE_MAX_ITER = 1000


def chance_accuracy(video_labels: np.ndarray) -> float:
    """Accuracy of always answering the most frequent class: its share of the videos."""
    labels = np.asarray(video_labels, dtype=np.int64).ravel()
    if labels.size == 0:
        raise ValueError("chance accuracy of no videos is undefined")
    if labels.min() < 0:
        raise ValueError("class labels must be non-negative integers")
    return float(np.bincount(labels).max() / labels.size)


def chance_accuracies(data: StudyArrays) -> dict[str, float]:
    """:func:`chance_accuracy` of every split present, keyed by its role."""
    return {role: chance_accuracy(arrays.video_labels) for role, arrays in data.roles().items()}


def beats_chance(video_accuracy: float, chance: float) -> bool:
    """Whether a network has learned its training split: its video accuracy there beats
    chance by at least LEARNED_MARGIN."""
    return video_accuracy >= chance + LEARNED_MARGIN


def _features(split: SplitArrays) -> np.ndarray:
    if split.kind != "features":
        raise ValueError(f"the linear probe needs cached frozen-CNN features, but split "
                         f"{split.name!r} holds {split.kind}")
    return np.asarray(split.inputs, dtype=np.float32)


def probe_scores(model: Pipeline, features: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) predicted probabilities; classes absent from training score 0."""
    probabilities = model.predict_proba(features)
    scores = np.zeros((len(features), num_classes), dtype=np.float64)
    scores[:, model.classes_.astype(np.int64)] = probabilities
    return scores


def fit_probe(train: SplitArrays, *, seed: int = 0, C: float = PROBE_C,
              max_frames: int | None = PROBE_MAX_FRAMES) -> Pipeline:
    """StandardScaler + LogisticRegression fitted on ``train``'s frames (float32 features)."""
    features = _features(train)
    labels = np.asarray(train.frame_labels, dtype=np.int64)
    if max_frames is not None and len(labels) > max_frames:
        chosen = np.sort(np.random.default_rng(seed).choice(len(labels), max_frames,
                                                            replace=False))
        features, labels = features[chosen], labels[chosen]
    if np.unique(labels).size < 2:
        raise ValueError(f"split {train.name!r} holds a single class: nothing to fit a probe to")
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(C=C, max_iter=PROBE_MAX_ITER, random_state=seed))
    return model.fit(features, labels)


def linear_probe(train: SplitArrays, others: dict[str, SplitArrays] | None = None, *,
                 train_role: str = "train", seed: int = 0, C: float = PROBE_C,
                 max_frames: int | None = PROBE_MAX_FRAMES) -> dict[str, float]:
    """Fit the probe on ``train`` and score it on ``train`` itself and on every other split.

    Returns ``{role}_frame_acc`` and ``{role}_video_acc`` for ``train_role`` (the training
    split's role, e.g. ``"target"``) and for each role in ``others`` (e.g. ``"heldout"``).
    Every split must hold features (``kind == "features"``), else ``ValueError``.
    """
    others = dict(others or {})
    if train_role in others:
        raise ValueError(f"role {train_role!r} is both the training split and another split")
    for split in others.values():
        _features(split)  # refuse frames before spending time on the fit
    model = fit_probe(train, seed=seed, C=C, max_frames=max_frames)
    metrics: dict[str, float] = {}
    for role, split in {train_role: train, **others}.items():
        scores = probe_scores(model, _features(split), len(split.classes))
        every = split_metrics(role, scores, np.asarray(split.frame_labels),
                              np.asarray(split.video_offsets), np.asarray(split.video_labels),
                              split.classes)
        for level in ("frame", "video"):
            metrics[f"{role}_{level}_acc"] = every[f"{role}_{level}_acc"]
    return metrics


def learning_floor(probe: dict[str, float], own_role: str, level: str = "video") -> float | None:
    """The accuracy a network needs on its own training split to count as having learned it.

    That is what the probe reaches on held-out videos, not on its own split: with fewer frames
    than feature dimensions the probe fits its own split perfectly, a floor no regularised
    network should be held to. Without held-out figures, the probe's own-split accuracy.
    """
    held = probe.get(f"heldout_{level}_acc")
    return held if held is not None else probe.get(f"{own_role}_{level}_acc")
