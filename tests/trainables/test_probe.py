"""The linear probe (trainables/probe.py): a floor that learns what is linearly there and
nothing more, scored at video level like the networks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trainables.engine import SplitArrays
from trainables.probe import chance_accuracy, linear_probe, probe_scores

CLASSES = tuple(f"c{index}" for index in range(7))
DIM = 64


def make_split(name: str, video_classes: np.ndarray, means: np.ndarray, rng: np.random.Generator,
               *, labels: np.ndarray | None = None, noise: float = 1.0,
               frames: tuple[int, int] = (10, 40)) -> SplitArrays:
    """Videos of ``frames`` frames, each frame drawn around its video's class mean; the
    videos are labelled ``labels`` (default: their true class)."""
    video_classes = np.asarray(video_classes, dtype=np.int64)
    video_labels = video_classes if labels is None else np.asarray(labels, dtype=np.int64)
    lengths = rng.integers(frames[0], frames[1] + 1, len(video_classes))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    centres = np.repeat(means[video_classes], lengths, axis=0)
    features = centres + noise * rng.normal(size=centres.shape)
    return SplitArrays(name, "features", features.astype(np.float16),
                       np.repeat(video_labels, lengths), offsets, video_labels, CLASSES)


def balanced(per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(len(CLASSES)), per_class))


def test_probe_fits_and_generalises_on_linearly_separable_features() -> None:
    rng = np.random.default_rng(0)
    means = 3.0 * rng.normal(size=(len(CLASSES), DIM))
    train = make_split("Val", balanced(8, rng), means, rng)
    heldout = make_split("Test", balanced(6, rng), means, rng)
    metrics = linear_probe(train, {"heldout": heldout}, train_role="target", seed=0)
    assert set(metrics) == {"target_frame_acc", "target_video_acc", "heldout_frame_acc",
                            "heldout_video_acc"}
    assert metrics["target_frame_acc"] == pytest.approx(1.0, abs=0.01)
    assert metrics["target_video_acc"] == 1.0
    assert metrics["heldout_video_acc"] >= 0.97


def test_probe_scores_near_chance_when_labels_are_shuffled_across_videos() -> None:
    rng = np.random.default_rng(1)
    means = 3.0 * rng.normal(size=(len(CLASSES), DIM))
    train_classes, heldout_classes = balanced(10, rng), balanced(20, rng)
    train = make_split("Val", train_classes, means, rng, labels=rng.permutation(train_classes))
    heldout = make_split("Test", heldout_classes, means, rng,
                         labels=rng.permutation(heldout_classes))
    metrics = linear_probe(train, {"heldout": heldout}, train_role="target", seed=0)
    chance = chance_accuracy(heldout.video_labels)
    assert chance == pytest.approx(1 / 7)
    # 140 held-out videos: chance +- 3 standard deviations is about 0.05 to 0.23.
    assert abs(metrics["heldout_video_acc"] - chance) < 0.12
    # The probe can still memorise frames it was fitted on, so the floor says nothing
    # about learning on the held-out split; chance is the comparison there.
    assert metrics["target_frame_acc"] > metrics["heldout_frame_acc"]


def test_chance_accuracy_is_the_majority_share() -> None:
    assert chance_accuracy(np.array([0, 0, 0, 1, 2])) == 0.6
    assert chance_accuracy(np.array([3, 5, 5, 3])) == 0.5
    assert chance_accuracy(np.array([6])) == 1.0
    with pytest.raises(ValueError):
        chance_accuracy(np.array([], dtype=np.int64))


def test_video_score_is_the_mean_of_frame_probabilities() -> None:
    """Overlapping classes, so frames disagree within a video: the probe's frame and video
    accuracy match an independent computation from the same fitted model's probabilities."""
    rng = np.random.default_rng(2)
    means = 0.4 * rng.normal(size=(len(CLASSES), DIM))
    train = make_split("Val", balanced(3, rng), means, rng, frames=(4, 9))
    other = make_split("Test", balanced(3, rng), means, rng, frames=(4, 9))
    metrics = linear_probe(train, {"heldout": other}, train_role="target", seed=0,
                           max_frames=None)

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    model.fit(train.inputs.astype(np.float32), train.frame_labels)
    probabilities = model.predict_proba(other.inputs.astype(np.float32))
    frame_acc = np.mean(model.classes_[probabilities.argmax(1)] == other.frame_labels)
    video_means = [probabilities[start:stop].mean(axis=0)
                   for start, stop in zip(other.video_offsets[:-1], other.video_offsets[1:],
                                          strict=True)]
    video_predictions = model.classes_[np.argmax(video_means, axis=1)]
    video_acc = np.mean(video_predictions == other.video_labels)
    assert 0.0 < frame_acc < 1.0  # the case is not trivial
    assert metrics["heldout_frame_acc"] == pytest.approx(frame_acc)
    assert metrics["heldout_video_acc"] == pytest.approx(video_acc)


def test_probe_scores_put_absent_classes_at_zero() -> None:
    rng = np.random.default_rng(3)
    means = 3.0 * rng.normal(size=(len(CLASSES), DIM))
    features = np.concatenate([means[[0]], means[[2]]]).repeat(5, axis=0)
    labels = np.repeat([0, 2], 5)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)
    scores = probe_scores(model, features, len(CLASSES))
    assert scores.shape == (10, len(CLASSES))
    assert np.all(scores[:, [1, 3, 4, 5, 6]] == 0)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    np.testing.assert_array_equal(scores.argmax(axis=1), labels)


def test_probe_subsamples_frames_reproducibly() -> None:
    rng = np.random.default_rng(4)
    means = 3.0 * rng.normal(size=(len(CLASSES), DIM))
    train = make_split("Val", balanced(4, rng), means, rng)
    first = linear_probe(train, train_role="target", seed=5, max_frames=100)
    again = linear_probe(train, train_role="target", seed=5, max_frames=100)
    assert first == again and first["target_video_acc"] >= 0.9


def test_probe_refuses_frames() -> None:
    rng = np.random.default_rng(5)
    means = rng.normal(size=(len(CLASSES), DIM))
    features = make_split("Val", balanced(2, rng), means, rng)
    frames = SplitArrays("Test", "frames", np.zeros((3, 8, 8, 3), np.uint8), np.zeros(3, int),
                         np.array([0, 3]), np.zeros(1, int), CLASSES)
    with pytest.raises(ValueError, match="features"):
        linear_probe(frames, train_role="target")
    with pytest.raises(ValueError, match="features"):
        linear_probe(features, {"heldout": frames}, train_role="target")


def test_learning_floor_is_the_probes_held_out_accuracy() -> None:
    from trainables.probe import learning_floor
    probe = {"target_video_acc": 1.0, "heldout_video_acc": 0.6, "heldout_frame_acc": 0.5}
    assert learning_floor(probe, "target") == 0.6
    assert learning_floor(probe, "target", "frame") == 0.5
    assert learning_floor({"target_video_acc": 0.7}, "target") == 0.7  # nothing held out
