"""The frame cache: every frame of a split decoded once into ``<key>.npy`` + ``<key>.json``.

Preprocessing follows Section IV-B of the paper: every frame is converted to RGB and
resized to ``image_size x image_size`` (96x96x3 by default). The key is a sha256 over the
file list (names, sizes, mtimes), the labels and these settings (:func:`cache_key_for`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from trainables.errors import DataError
from trainables.io import atomic_path
from trainables.video_listing import VideoRecord

#: Bump when decoding/resizing changes, so that old caches are not trusted.
PREPROCESS_VERSION = "rgb-bilinear-uint8-v1"


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


def build_frame_cache(records: Sequence[VideoRecord], key: str, cache_dir: Path,
                      image_size: int, num_workers: int | None, progress: bool, split: str) -> None:
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


def read_frame_cache(cache_dir: Path, key: str) -> tuple[np.ndarray, dict] | None:
    """The frames (read-only memory map) and index cached under ``key``, or None when they are
    absent, damaged or of another :data:`PREPROCESS_VERSION`."""
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
