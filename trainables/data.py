"""Frame data layer: find AFEW-style videos, decode their frames once, cache them on disk.

Layout read by :func:`scan_split`::

    ROOT/<Split>/<Emotion>/<video_id>/<frame>.png|jpg|jpeg

or a CSV manifest (:func:`read_manifest`) with the header ``video_dir,label,split``.
Preprocessing follows Section IV-B of the paper: every frame is converted to RGB and
resized to ``image_size x image_size`` (96x96x3 by default); :func:`to_model_input`
maps the stored uint8 values to ``[-1, 1]``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE, cache_root
from trainables.errors import DataError
from trainables.io import atomic_path

#: Bump when decoding/resizing changes, so that old caches are not trusted.
PREPROCESS_VERSION = "rgb-bilinear-uint8-v1"
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})

EMOTION_ALIASES: dict[str, str] = {
    "neutral": "Neutral", "neutrality": "Neutral", "none": "Neutral",
    "anger": "Anger", "angry": "Anger",
    "disgust": "Disgust", "disgusted": "Disgust",
    "fear": "Fear", "fearful": "Fear", "afraid": "Fear", "scared": "Fear",
    "happy": "Happy", "happiness": "Happy", "joy": "Happy",
    "sad": "Sad", "sadness": "Sad",
    "surprise": "Surprise", "surprised": "Surprise",
}


@dataclass(frozen=True)
class VideoRecord:
    """One video: a folder of frame images with one emotion label."""

    video_id: str
    directory: Path
    label: int
    frame_paths: tuple[Path, ...]


@dataclass
class DataReport:
    """What was loaded for a split, for logs and study reports."""

    split: str
    videos: int
    frames: int
    skipped_frames: list[str]
    videos_per_class: dict[str, int]

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

    @property
    def num_frames(self) -> int:
        """Number of decoded frames N."""
        return int(self.frames.shape[0])

    @property
    def num_videos(self) -> int:
        """Number of videos V."""
        return len(self.video_ids)


# ----------------------------------------------------------------------------- names

def natural_key(name: str) -> tuple:
    """Sort key that orders ``2.png`` before ``10.png``."""
    return tuple(int(part) if part.isdigit() else part.lower()
                 for part in re.split(r"(\d+)", name))


def _canonical(name: str) -> str:
    """Alias-resolved, case-folded emotion name."""
    lowered = name.strip().lower()
    return EMOTION_ALIASES.get(lowered, lowered).lower()


def class_index(name: str, classes: Sequence[str]) -> int | None:
    """Index of ``name`` in ``classes`` (case-insensitive, aliases allowed), or None."""
    wanted = _canonical(name)
    for index, cls in enumerate(classes):
        if _canonical(cls) == wanted:
            return index
    return None


def _accepted_names(classes: Sequence[str]) -> str:
    """Human-readable list of folder/label names that map onto ``classes``."""
    parts = []
    for cls in classes:
        aliases = sorted(a for a, c in EMOTION_ALIASES.items()
                         if c.lower() == _canonical(cls) and a != cls.lower())
        parts.append(f"{cls} ({'/'.join(aliases)})" if aliases else cls)
    return ", ".join(parts)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _frame_files(directory: Path) -> tuple[Path, ...]:
    """Naturally sorted image files of a video folder (hidden files ignored)."""
    files = [p for p in directory.iterdir()
             if _visible(p) and p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return tuple(sorted(files, key=lambda p: natural_key(p.name)))


# ----------------------------------------------------------------------------- scanning

def _find_split_dir(root: Path, split: str) -> Path:
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist or is not a folder; "
                        "pass the folder that holds the Train/Val/Test split folders")
    splits = sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)),
                    key=lambda p: p.name)
    matches = [p for p in splits if p.name.lower() == split.lower()]
    if len(matches) != 1:
        found = ", ".join(p.name for p in splits) or "none"
        problem = "is missing" if not matches else "matches several folders"
        raise DataError(f"split folder '{split}' {problem} in {root} (split folders found: "
                        f"{found}); create {root / split} or pass one of the existing splits")
    return matches[0]


def _video_record(video_dir: Path, video_id: str, label: int) -> VideoRecord:
    frames = _frame_files(video_dir)
    if not frames:
        raise DataError(f"video folder {video_dir} holds no .png/.jpg/.jpeg frame; "
                        "add its frames or delete the folder")
    return VideoRecord(video_id, video_dir, label, frames)


def _check_every_class(records: Sequence[VideoRecord], classes: Sequence[str],
                       where: Path, split: str) -> None:
    present = {r.label for r in records}
    missing = [cls for i, cls in enumerate(classes) if i not in present]
    if missing:
        raise DataError(f"split '{split}' in {where} has no video for class(es) "
                        f"{', '.join(missing)}; add videos for them or pass a classes list "
                        "without them")


def scan_split(root: str | Path, split: str,
               classes: Sequence[str] = DEFAULT_CLASSES) -> list[VideoRecord]:
    """List the videos of ``ROOT/<split>/<Emotion>/<video>/`` (folder names case-insensitive).

    Raises :class:`DataError` for a missing root or split, an unknown emotion folder,
    an empty video folder, or a class without any video.
    """
    split_dir = _find_split_dir(Path(root).expanduser(), split)
    records = []
    for emotion_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and _visible(p)):
        label = class_index(emotion_dir.name, classes)
        if label is None:
            raise DataError(f"unknown emotion folder {emotion_dir}; rename it to one of: "
                            f"{_accepted_names(classes)}")
        for video_dir in sorted((p for p in emotion_dir.iterdir() if p.is_dir() and _visible(p)),
                                key=lambda p: natural_key(p.name)):
            records.append(_video_record(video_dir, f"{emotion_dir.name}/{video_dir.name}", label))
    _check_every_class(records, classes, split_dir, split)
    return records


def _manifest_rows(manifest: Path) -> list[dict[str, str]]:
    if not manifest.is_file():
        raise DataError(f"manifest {manifest} does not exist; pass the path of a CSV file "
                        "with the header video_dir,label,split")
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower() for c in reader.fieldnames or ()}
        if not {"video_dir", "label", "split"} <= columns:
            found = ", ".join(sorted(columns)) or "nothing"
            raise DataError(f"manifest {manifest} lacks the header video_dir,label,split "
                            f"(found: {found}); fix its first line")
        return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                for row in reader]


def read_manifest(manifest: str | Path, split: str,
                  classes: Sequence[str] = DEFAULT_CLASSES) -> list[VideoRecord]:
    """Videos of ``split`` listed in a CSV manifest with columns ``video_dir,label,split``.

    ``video_dir`` is absolute or relative to the manifest's folder; labels and split names
    match case-insensitively (labels also through :data:`EMOTION_ALIASES`).
    """
    manifest = Path(manifest).expanduser()
    rows = _manifest_rows(manifest)
    chosen = [(n, row) for n, row in enumerate(rows, start=2)
              if row["split"].lower() == split.lower()]
    if not chosen:
        found = ", ".join(sorted({row["split"] for row in rows})) or "none"
        raise DataError(f"manifest {manifest} has no row with split '{split}' (splits found: "
                        f"{found}); add rows for it or pass one of the existing splits")
    records, seen = [], set()
    for line, row in chosen:
        label = class_index(row["label"], classes)
        if label is None:
            raise DataError(f"manifest {manifest} line {line}: unknown label '{row['label']}'; "
                            f"use one of: {_accepted_names(classes)}")
        video_dir = Path(row["video_dir"]).expanduser()
        video_dir = video_dir if video_dir.is_absolute() else manifest.parent / video_dir
        if not video_dir.is_dir() or row["video_dir"] in seen:
            problem = "is listed twice" if row["video_dir"] in seen else "is not a folder"
            raise DataError(f"manifest {manifest} line {line}: video_dir {video_dir} {problem}; "
                            "fix the row or remove it")
        seen.add(row["video_dir"])
        records.append(_video_record(video_dir, row["video_dir"], label))
    _check_every_class(records, classes, manifest, split)
    return records


# ----------------------------------------------------------------------------- decoding

def decode_frame(path: Path, image_size: int) -> np.ndarray:
    """Decode one image file to ``(image_size, image_size, 3)`` uint8 RGB (bilinear resize)."""
    with Image.open(path) as image:
        # convert() forces a full decode, so truncated files fail here, not later.
        rgb = image.convert("RGB")
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def _decode_into(out: np.ndarray, index: int, path: Path, image_size: int) -> str | None:
    """Decode ``path`` into ``out[index]``; return an error text instead of raising."""
    try:
        out[index] = decode_frame(path, image_size)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for corrupt files
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _decode_all(paths: Sequence[Path], out: np.ndarray, image_size: int,
                num_workers: int | None, progress: bool, split: str) -> list[str | None]:
    """Decode every path in parallel (PIL releases the GIL while decoding and resizing)."""
    workers = max(1, num_workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(paths), desc=f"decode {split}", unit="frame",
                 disable=not progress) as bar:
        errors = []
        for error in pool.map(lambda item: _decode_into(out, item[0], item[1], image_size),
                              enumerate(paths), chunksize=64):
            errors.append(error)
            bar.update(1)
    return errors


# ----------------------------------------------------------------------------- cache

def _file_signature(path: Path, base: Path) -> list:
    stat = path.stat()
    try:
        name = path.relative_to(base).as_posix()
    except ValueError:
        name = path.as_posix()
    return [name, stat.st_size, stat.st_mtime_ns]


def cache_key_for(records: Sequence[VideoRecord], base: Path, classes: Sequence[str],
                  image_size: int) -> str:
    """sha256 over the file list (names, sizes, mtimes), labels and preprocessing settings."""
    content = [[r.video_id, r.label, [_file_signature(p, base) for p in r.frame_paths]]
               for r in sorted(records, key=lambda r: r.video_id)]
    payload = json.dumps([PREPROCESS_VERSION, image_size, list(classes), content],
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _cache_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{key}.npy", cache_dir / f"{key}.json"


def _build_cache(records: Sequence[VideoRecord], key: str, cache_dir: Path, image_size: int,
                 num_workers: int | None, progress: bool, split: str) -> None:
    """Decode all frames into ``<key>.npy`` and write ``<key>.json``; the index goes last,
    so it is the completion marker: a killed run leaves no index and is redone."""
    paths = [p for r in records for p in r.frame_paths]
    owner = np.repeat(np.arange(len(records)), [len(r.frame_paths) for r in records])
    frames_file, index_file = _cache_paths(cache_dir, key)
    with atomic_path(frames_file, ".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(len(paths), image_size, image_size, 3))
        errors = _decode_all(paths, out, image_size, num_workers, progress, split)
        ok = np.array([e is None for e in errors], dtype=bool)
        _fail_on_unreadable_videos(records, owner, ok, errors)
        if not ok.all():
            out = _compact(out, ok, tmp)
        out.flush()
        del out
    skipped = [f"{paths[i]} ({errors[i]})" for i in np.flatnonzero(~ok)]
    for message in skipped:
        warnings.warn(f"skipping unreadable frame {message}", stacklevel=3)
    index = {"version": PREPROCESS_VERSION, "video_ids": [r.video_id for r in records],
             "video_labels": [r.label for r in records],
             "frames_per_video": np.bincount(owner[ok], minlength=len(records)).tolist(),
             "skipped_frames": skipped}
    with atomic_path(index_file, ".json") as tmp:
        tmp.write_text(json.dumps(index))


def _fail_on_unreadable_videos(records: Sequence[VideoRecord], owner: np.ndarray,
                               ok: np.ndarray, errors: Sequence[str | None]) -> None:
    readable = np.bincount(owner[ok], minlength=len(records))
    bad = np.flatnonzero(readable == 0)
    if bad.size:
        record = records[bad[0]]
        first = errors[int(np.flatnonzero(owner == bad[0])[0])]
        others = f" ({bad.size - 1} more video(s) likewise)" if bad.size > 1 else ""
        raise DataError(f"video folder {record.directory} has no readable frame: all "
                        f"{len(record.frame_paths)} file(s) are empty or corrupt (first: {first})"
                        f"{others}; re-extract its frames or delete the folder")


def _compact(out: np.memmap, ok: np.ndarray, tmp: Path) -> np.memmap:
    """Rewrite ``tmp`` with only the readable frames (rare, so a second pass is fine)."""
    with atomic_path(tmp, ".npy") as compact:
        kept = np.lib.format.open_memmap(compact, mode="w+", dtype=np.uint8,
                                         shape=(int(ok.sum()),) + out.shape[1:])
        kept[:] = out[ok]
        kept.flush()
        del out
    return kept


def _read_cache(cache_dir: Path, key: str) -> tuple[np.ndarray, dict] | None:
    frames_file, index_file = _cache_paths(cache_dir, key)
    try:
        index = json.loads(index_file.read_text())
        frames = np.load(frames_file, mmap_mode="r")
    except (OSError, ValueError):
        return None  # absent or damaged: rebuild
    if index.get("version") != PREPROCESS_VERSION or \
            frames.shape[0] != sum(index["frames_per_video"]):
        return None
    return frames, index


# ----------------------------------------------------------------------------- public

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
    cache_dir = Path(cache_dir).expanduser() if cache_dir else cache_root() / "frames"
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key_for(records, base, classes, image_size)
    cached = _read_cache(cache_dir, key)
    if cached is None:
        _build_cache(records, key, cache_dir, image_size, num_workers, progress, split)
        cached = _read_cache(cache_dir, key)
        if cached is None:
            raise DataError(f"frame cache in {cache_dir} could not be read back after writing; "
                            "check free disk space and permissions, or pass another cache_dir")
    return _split_data(split, classes, key, *cached)


def _split_data(split: str, classes: tuple[str, ...], key: str, frames: np.ndarray,
                index: dict) -> SplitData:
    counts = np.asarray(index["frames_per_video"], dtype=np.int64)
    video_labels = np.asarray(index["video_labels"], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    frame_video = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    per_class = np.bincount(video_labels, minlength=len(classes)).tolist()
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
