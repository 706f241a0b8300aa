"""The sequence path learns: windows, crops, packing and masking carry labels correctly.

Issue #9 found NetB fitting its split per frame (L = 1) but barely over 80-frame windows:
an epoch tiled each short video into one padded window, so it held a few dozen steps.
These tests guard the fix on data built for them (not the embedded faces):

* where only the *order* of frames carries the label, an RNN over windows learns it and a
  per-frame model cannot (so windows reach the RNN in order, and labels stay aligned);
* where every frame carries it, L = 80 fits the split at least as fast, in epochs, as L = 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainables.engine import SplitArrays, StudyArrays
from trainables.netb import train_netb
from trainables.network import NetworkSettings
from trainables.sequences import crop_windows

DIM = 128


def _split(features: list[np.ndarray], labels: list[int], classes: tuple[str, ...],
           name: str) -> SplitArrays:
    lengths = [len(f) for f in features]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    frame_labels = np.repeat(np.asarray(labels, dtype=np.int64), lengths)
    return SplitArrays(name, "features", np.concatenate(features).astype(np.float16),
                       frame_labels, offsets, np.asarray(labels, dtype=np.int64), classes)


def order_only_split(videos_per_class: int, seed: int) -> SplitArrays:
    """Two classes made of the same two frame types A and B: A then B, or B then A.

    Every frame type occurs equally often in both classes, so a frame alone says nothing
    about the class (per-frame accuracy is at chance); only the order does.
    """
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, (2, DIM))
    features, labels = [], []
    for label in (0, 1):
        for _ in range(videos_per_class):
            half = int(rng.integers(8, 20))
            first, second = (a, b) if label == 0 else (b, a)
            video = np.concatenate([np.repeat(first[None], half, 0),
                                    np.repeat(second[None], half, 0)])
            features.append(video + rng.normal(0, 0.3, video.shape))
            labels.append(label)
    return _split(features, labels, ("AB", "BA"), "order")


def per_frame_split(videos_per_class: int, noise: float, seed: int) -> SplitArrays:
    """Seven classes whose every frame is the class mean plus strong noise (as an
    expression seen through a new camera), videos of 16-40 frames."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (7, DIM))
    features, labels = [], []
    for label in range(7):
        for _ in range(videos_per_class):
            length = int(rng.integers(16, 41))
            features.append(means[label] + rng.normal(0, noise, (length, DIM)))
            labels.append(label)
    return _split(features, labels, tuple(f"c{i}" for i in range(7)), "frames")


def fit_history(split: SplitArrays, seq_len: int, batch_size: int,
                epochs: int) -> list[float]:
    """NetB's own-split frame accuracy per epoch (the plateau rule may stop it early)."""
    data = StudyArrays(source=split, target=split)
    settings = NetworkSettings(seq_len=seq_len, batch_size=batch_size, fc_units=512)
    reported: list[dict[str, float]] = []
    result = train_netb(data, settings, epochs=epochs, seed=0, centroid_method="mean",
                        on_epoch=reported.append)
    assert reported == result.history, "on_epoch sees every epoch's history row, in order"
    return [row["target_frame_acc"] for row in result.history]


def first_epoch_reaching(history: list[float], level: float) -> int:
    """1-based epoch at which ``history`` first reaches ``level`` (inf if never)."""
    return next((n for n, value in enumerate(history, 1) if value >= level), 10**9)


def test_only_an_rnn_over_windows_learns_a_label_carried_by_frame_order() -> None:
    split = order_only_split(videos_per_class=40, seed=1)
    windows = fit_history(split, seq_len=80, batch_size=8, epochs=8)
    per_frame = fit_history(split, seq_len=1, batch_size=64, epochs=4)
    assert max(windows) >= 0.9, windows
    assert max(per_frame) <= 0.65, per_frame


@pytest.mark.parametrize("seed", [0, 1])
def test_long_windows_fit_as_fast_as_single_frames(seed: int) -> None:
    split = per_frame_split(videos_per_class=12, noise=3.0, seed=seed)
    long_windows = fit_history(split, seq_len=80, batch_size=8, epochs=8)
    single_frames = fit_history(split, seq_len=1, batch_size=64, epochs=8)
    assert max(long_windows) >= 0.9, long_windows
    assert first_epoch_reaching(long_windows, 0.9) <= first_epoch_reaching(single_frames, 0.9), \
        (long_windows, single_frames)


def test_crops_cover_every_video_in_order_and_stay_inside_it() -> None:
    offsets = np.array([0, 1, 5, 22, 102, 103, 303])
    windows = crop_windows(offsets, seq_len=80, frames_per_crop=8,
                           generator=__import__("torch").Generator().manual_seed(0))
    lengths = np.diff(offsets)
    assert len(windows) == sum(-(-n // 8) for n in lengths)
    for row in windows:
        real = row[row >= 0]
        assert (row[: len(real)] == real).all(), "real frames are left-aligned"
        assert (np.diff(real) == 1).all(), "a crop is a contiguous run, in order"
        video = np.searchsorted(offsets, real[0], side="right") - 1
        assert offsets[video] <= real[0] and real[-1] < offsets[video + 1], "inside one video"
        longest = min(lengths[video], 80)
        assert (longest + 1) // 2 <= len(real) <= longest
