"""Frame data layer: one split's decoded frames, grouped by video, as models take them.

:func:`load_split` lists a split's videos (trainables.video_listing: the AFEW folder layout
or a CSV manifest) and reads their frames from the frame cache, decoding them only once
(trainables.frame_cache); :func:`to_model_input` maps the stored uint8 values to
``[-1, 1]`` (Section IV-B of the paper). :func:`load_va_split` loads a split of unlabelled
videos with per-frame valence and arousal instead (trainables.va_annotations, issue #14).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE, cache_root
from trainables.errors import DataError
from trainables.frame_cache import build_frame_cache, cache_key_for, read_frame_cache
from trainables.va_annotations import align_to_decoded, list_va_manifest, list_va_split
from trainables.video_listing import VideoRecord, read_manifest, scan_split


@dataclass
class DataReport:
    """What was loaded for a split, for logs and study reports."""

    split: str
    videos: int
    frames: int
    skipped_frames: list[str]
    videos_per_class: dict[str, int]
    masked_frames: int = 0  # decoded frames without a valid valence/arousal annotation

    def to_dict(self) -> dict:
        """Plain JSON-serialisable copy."""
        return asdict(self)


@dataclass
class SplitData:
    """All decoded frames of one split, grouped by video (frames of a video are contiguous)."""

    split: str
    classes: tuple[str, ...]
    frames: np.ndarray
    frame_labels: np.ndarray
    frame_video: np.ndarray
    video_offsets: np.ndarray
    video_labels: np.ndarray
    video_ids: list[str]
    cache_key: str
    report: DataReport
    frame_va: np.ndarray | None = None  # (N, 2) float32 valence, arousal; NaN: masked

    @property
    def num_frames(self) -> int:
        """Number of decoded frames N."""
        return int(self.frames.shape[0])

    @property
    def num_videos(self) -> int:
        """Number of videos V."""
        return len(self.video_ids)


def load_split(root: str | Path, split: str, classes: Sequence[str] = DEFAULT_CLASSES, *,
               manifest: str | Path | None = None, cache_dir: str | Path | None = None,
               image_size: int = IMAGE_SIZE, num_workers: int | None = None,
               progress: bool = True) -> SplitData:
    """Load one split, decoding frames only when no valid cache exists for this exact data.

    With ``manifest`` the videos come from the CSV (``root`` is then unused except as
    documentation); otherwise from the folder layout under ``root``.
    """
    classes = tuple(classes)
    if manifest is not None:
        records = read_manifest(manifest, split, classes)
        base = Path(manifest).expanduser().parent
    else:
        records = scan_split(root, split, classes)
        base = Path(root).expanduser()
    return load_videos(records, base, split, classes, cache_dir=cache_dir,
                       image_size=image_size, num_workers=num_workers, progress=progress)


def load_videos(records: Sequence[VideoRecord], base: Path, split: str,
                classes: Sequence[str] = DEFAULT_CLASSES, *, cache_dir: str | Path | None = None,
                image_size: int = IMAGE_SIZE, num_workers: int | None = None,
                progress: bool = True) -> SplitData:
    """The frames of these videos as one split, from the frame cache (decoded on a miss);
    file names in the cache key are relative to ``base``. A video's label may be
    :data:`~trainables.video_listing.UNLABELLED`."""
    classes = tuple(classes)
    cache_dir = _frame_cache_dir(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key_for(records, base, classes, image_size)
    cached = read_frame_cache(cache_dir, key)
    if cached is None:
        build_frame_cache(records, key, cache_dir, image_size, num_workers, progress, split)
        cached = read_frame_cache(cache_dir, key)
        if cached is None:
            raise DataError(f"frame cache in {cache_dir} could not be read back after writing; "
                            "check free disk space and permissions, or pass another cache_dir")
    return _split_data(split, classes, key, *cached)


def _frame_cache_dir(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else cache_root() / "frames"


def load_va_split(root: str | Path, split: str, *, manifest: str | Path | None = None,
                  cache_dir: str | Path | None = None, image_size: int = IMAGE_SIZE,
                  num_workers: int | None = None, progress: bool = True) -> SplitData:
    """Load one split of videos annotated with per-frame valence and arousal (issue #14).

    Videos come from the Aff-Wild style layout under ``root`` or, with ``manifest``, from a
    ``video_dir,split,annotation_file`` CSV (trainables.va_annotations); every annotation file
    is checked before any frame is decoded. Frames go through the same frame cache as
    :func:`load_split` (annotations are not cached: they are read on every load). The result
    has ``classes == ()``, every label :data:`~trainables.video_listing.UNLABELLED`, and
    ``frame_va`` aligned with ``frames`` (rows of skipped, unreadable frames dropped);
    ``report.masked_frames`` counts its NaN rows.
    """
    if manifest is not None:
        videos = list_va_manifest(manifest, split)
        base = Path(manifest).expanduser().parent
    else:
        videos = list_va_split(root, split)
        base = Path(root).expanduser()
    records = [record for record, _ in videos]
    data = load_videos(records, base, split, (), cache_dir=cache_dir, image_size=image_size,
                       num_workers=num_workers, progress=progress)
    index = _frame_cache_dir(cache_dir) / f"{data.cache_key}.json"
    data.frame_va = align_to_decoded(records, [values for _, values in videos],
                                     data.report.skipped_frames,
                                     np.diff(data.video_offsets).tolist(), base, index)
    data.report.masked_frames = int(np.isnan(data.frame_va).any(axis=1).sum())
    return data


def _split_data(split: str, classes: tuple[str, ...], key: str, frames: np.ndarray,
                index: dict) -> SplitData:
    counts = np.asarray(index["frames_per_video"], dtype=np.int64)
    video_labels = np.asarray(index["video_labels"], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    frame_video = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    labelled = video_labels[video_labels >= 0]  # unlabelled videos count in no class
    per_class = np.bincount(labelled, minlength=len(classes)).tolist()
    videos_per_class = dict(zip(classes, per_class, strict=True))
    report = DataReport(split=split, videos=len(counts), frames=int(offsets[-1]),
                        skipped_frames=list(index["skipped_frames"]),
                        videos_per_class=videos_per_class)
    return SplitData(split=split, classes=classes, frames=frames,
                     frame_labels=video_labels[frame_video], frame_video=frame_video,
                     video_offsets=offsets, video_labels=video_labels,
                     video_ids=list(index["video_ids"]), cache_key=key, report=report)


def to_model_input(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` -> float32 ``(..., 3, H, W)`` in ``[-1, 1]`` (Section IV-B)."""
    is_uint8 = frames.dtype == (np.uint8 if isinstance(frames, np.ndarray) else torch.uint8)
    if not is_uint8 or frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames shaped (..., H, W, 3), got {frames.dtype} "
                         f"{tuple(frames.shape)}")
    if isinstance(frames, np.ndarray):
        # astype copies, so read-only memmaps never reach torch.from_numpy.
        tensor = torch.from_numpy(frames.astype(np.float32))
    else:
        tensor = frames.to(torch.float32)
    return (tensor / 127.5 - 1.0).movedim(-1, -3).contiguous()
