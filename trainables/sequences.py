"""Cut videos into fixed-length frame windows for the RNN (80 frames in Section IV-A).

Windows never cross a video boundary; short tails are padded with ``-1`` and masked.
Everything is vectorised: no Python loop runs over frames or windows.
"""

from __future__ import annotations

import numpy as np
import torch

PAD = -1


def window_index(video_offsets: np.ndarray, seq_len: int, *, shift: int = 0) -> np.ndarray:
    """Tile every video into consecutive, non-overlapping windows of ``seq_len`` frames.

    Returns ``(W, seq_len)`` int64 frame indices; real frames are left-aligned in each
    window and the remaining slots hold ``-1``. Every frame appears exactly once.
    With ``shift`` > 0 each video's first window holds only ``seq_len - shift`` frames, so
    that training sees different window boundaries (a random ``shift`` per epoch).
    """
    if seq_len < 1 or not 0 <= shift < seq_len:
        raise ValueError(f"need seq_len >= 1 and 0 <= shift < seq_len, got {seq_len}, {shift}")
    offsets = np.asarray(video_offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    # Frame j of a video sits at virtual position j + shift of a grid of seq_len slots.
    windows_per_video = np.where(lengths > 0, -(-(lengths + shift) // seq_len), 0)
    first_window = np.concatenate([[0], np.cumsum(windows_per_video)])
    frames = np.arange(offsets[0], offsets[-1], dtype=np.int64)
    video = np.repeat(np.arange(lengths.size), lengths)
    position = frames - offsets[video] + shift
    local_window, slot = np.divmod(position, seq_len)
    slot -= np.where(local_window == 0, shift, 0)  # left-align the shortened first window
    out = np.full((int(first_window[-1]), seq_len), PAD, dtype=np.int64)
    out[first_window[video] + local_window, slot] = frames
    return out


def window_video(video_offsets: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """``(W,)`` video index of each window (all frames of a window share one video)."""
    offsets = np.asarray(video_offsets, dtype=np.int64)
    any_frame = np.asarray(windows).max(axis=1)  # padding is -1, so max is a real frame
    return np.searchsorted(offsets, any_frame, side="right") - 1


def gather_windows(data: np.ndarray | torch.Tensor,
                   windows: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index ``data`` ``(N, ...)`` with ``windows`` ``(B, L)`` -> ``((B, L, ...), mask (B, L))``.

    Padding positions are filled with row 0 of ``data`` and marked False in the mask.
    Torch ``data`` stays on its device; numpy ``data`` (e.g. a read-only memmap) is
    gathered in numpy first so only the needed rows are read and copied.
    """
    if isinstance(data, np.ndarray):
        index = windows.cpu().numpy() if isinstance(windows, torch.Tensor) else np.asarray(windows)
        index = index.astype(np.int64, copy=False)
        mask = torch.from_numpy(index >= 0)
        gathered = torch.from_numpy(np.ascontiguousarray(data[np.maximum(index, 0)]))
        return gathered, mask
    index = torch.as_tensor(windows, dtype=torch.int64, device=data.device)
    mask = index >= 0
    return data[index.clamp(min=0)], mask


def crop_windows(video_offsets: np.ndarray, seq_len: int, frames_per_crop: int,
                 generator: torch.Generator) -> np.ndarray:
    """Random temporal crops for one training epoch -> ``(W, seq_len)`` frame indices.

    Each video gives ``ceil(length / min(frames_per_crop, seq_len))`` crops, so an epoch
    takes about as
    many optimisation steps per frame at ``seq_len = 80`` as at ``seq_len = 1``: tiling a
    short video into one padded window would leave a whole epoch of a few hundred videos
    with a few dozen steps. A crop is a contiguous run of ``[m/2, m]`` frames
    (``m = min(length, seq_len)``) at a random start, left-aligned and padded with ``-1``.
    """
    if seq_len < 1 or frames_per_crop < 1:
        raise ValueError(f"need seq_len >= 1 and frames_per_crop >= 1, got {seq_len}, "
                         f"{frames_per_crop}")
    offsets = np.asarray(video_offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    # Windows shorter than frames_per_crop would leave frames unseen: then a crop per slot.
    every = min(frames_per_crop, seq_len)
    crops = np.where(lengths > 0, -(-lengths // every), 0)
    video = np.repeat(np.arange(lengths.size), crops)
    longest = np.minimum(lengths[video], seq_len)
    shortest = np.maximum(1, (longest + 1) // 2)
    draws = torch.rand((2, video.size), generator=generator, dtype=torch.float64).numpy()
    crop_len = shortest + np.floor(draws[0] * (longest - shortest + 1)).astype(np.int64)
    start = np.floor(draws[1] * (lengths[video] - crop_len + 1)).astype(np.int64)
    slots = np.arange(seq_len, dtype=np.int64)
    index = offsets[video, None] + start[:, None] + slots
    return np.where(slots < crop_len[:, None], index, PAD)
