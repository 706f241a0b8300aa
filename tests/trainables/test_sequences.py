"""Tests for trainables.sequences: window tiling, padding and masked gathering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.sequences import gather_windows, window_index, window_video


def offsets_of(lengths: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def check_tiling(lengths: list[int], seq_len: int, shift: int) -> np.ndarray:
    """Assert every invariant of window_index and return the windows."""
    offsets = offsets_of(lengths)
    windows = window_index(offsets, seq_len, shift=shift)
    assert windows.dtype == np.int64 and windows.shape[1] == seq_len
    real = windows >= 0
    # Every frame exactly once.
    assert np.array_equal(np.sort(windows[real]), np.arange(offsets[-1]))
    # Real frames are a left-aligned run of consecutive indices; the rest is -1 padding.
    assert np.all(real[:, :-1] >= real[:, 1:]) and np.all(windows[~real] == -1)
    counts = real.sum(axis=1)
    assert np.all(counts >= 1)
    starts = windows[:, :1]
    consecutive = starts + np.arange(seq_len)
    assert np.array_equal(np.where(real, windows, 0), np.where(real, consecutive, 0))
    # No window crosses a video boundary.
    video = window_video(offsets, windows)
    assert np.array_equal(np.searchsorted(offsets, np.where(real, windows, starts), "right") - 1,
                          np.broadcast_to(video[:, None], windows.shape))
    # Windows per video: the first holds at most seq_len - shift frames, then full ones.
    for v, length in enumerate(lengths):
        mine = counts[video == v]
        assert mine.sum() == length
        if length:
            assert mine[0] == min(length, seq_len - shift)
            assert np.all(mine[1:-1] == seq_len)
    return windows


@pytest.mark.parametrize("shift", [0, 1, 3])
def test_short_long_and_empty_videos(shift: int) -> None:
    check_tiling([2, 4, 9, 0, 13, 1], seq_len=4, shift=shift)


def test_explicit_padding() -> None:
    windows = window_index(offsets_of([3, 5]), 4)
    assert windows.tolist() == [[0, 1, 2, -1], [3, 4, 5, 6], [7, -1, -1, -1]]
    shifted = window_index(offsets_of([3, 5]), 4, shift=2)
    assert shifted.tolist() == [[0, 1, -1, -1], [2, -1, -1, -1],
                                [3, 4, -1, -1], [5, 6, 7, -1]]


def test_random_configurations() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        seq_len = int(rng.integers(1, 12))
        lengths = rng.integers(0, 30, int(rng.integers(1, 8))).tolist()
        check_tiling(lengths, seq_len, int(rng.integers(0, seq_len)))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        window_index(offsets_of([3]), 4, shift=4)
    with pytest.raises(ValueError):
        window_index(offsets_of([3]), 0)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_gather_windows(as_tensor: bool) -> None:
    data = np.arange(7 * 2 * 3, dtype=np.uint8).reshape(7, 2, 3)
    data.flags.writeable = False  # like the read-only frame memmap
    source = torch.from_numpy(data.copy()) if as_tensor else data
    windows = window_index(offsets_of([3, 4]), 3)
    out, mask = gather_windows(source, torch.from_numpy(windows) if as_tensor else windows)
    assert out.shape == (3, 3, 2, 3) and mask.shape == (3, 3) and mask.dtype == torch.bool
    assert mask.tolist() == [[True] * 3, [True] * 3, [True, False, False]]
    expected = torch.from_numpy(data[np.maximum(windows, 0)])
    assert torch.equal(out, expected)
    assert torch.equal(out[2, 1], torch.from_numpy(data[0].copy()))  # padding taken from row 0


def test_gather_windows_keeps_device_and_dtype() -> None:
    data = torch.randn(5, 4)
    out, mask = gather_windows(data, np.array([[4, 0, -1]]))
    assert out.device == data.device == mask.device and out.dtype == torch.float32
    assert torch.equal(out[0, :2], data[[4, 0]]) and mask.tolist() == [[True, True, False]]
