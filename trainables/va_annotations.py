"""Dimensional emotion: per-frame valence and arousal in ``[-1, 1]`` (issue #14).

Aff-Wild style layout read by :func:`scan_va_split`::

    ROOT/<Split>/<video_id>/<frame>.png|jpg|jpeg    the frames (natural sort order)
    ROOT/<Split>/<video_id>.txt                     their annotations

or a CSV manifest (:func:`read_va_manifest`) with the header
``video_dir,split,annotation_file``. An annotation file is Aff-Wild2's: an optional header
line ``valence,arousal``, then one ``valence,arousal`` row per frame in frame order.
A frame without a valid annotation is marked with :data:`INVALID_VALUE` (-5, either value);
it is masked (both values NaN), never guessed. Files are checked while listing, before any
frame is decoded; every problem is a one-line :class:`~trainables.errors.DataError` naming
the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePath

import numpy as np

from trainables.errors import DataError
from trainables.video_listing import (
    UNLABELLED,
    VideoRecord,
    _find_split_dir,
    _manifest_rows,
    _video_record,
    _visible,
    natural_key,
    split_rows,
)

INVALID_VALUE = -5.0  # Aff-Wild's marker of a frame without a valid annotation
HEADER = "valence,arousal"
MANIFEST_COLUMNS = ("video_dir", "split", "annotation_file")
ANNOTATION_SUFFIX = ".txt"

#: (record, its (frames, 2) float32 values) as listed and checked.
AnnotatedVideo = tuple[VideoRecord, np.ndarray]


# ----------------------------------------------------------------------------- one file

def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for a one-line message (newlines escaped, long text shortened)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _row_error(path: Path, row: int, header: bool, problem: str) -> DataError:
    """Error for annotation row ``row`` (0-based, the frame's index) of ``path``."""
    return DataError(f"annotation file {path} line {row + 1 + header} (frame {row + 1}): "
                     f"{problem}; write one valence,arousal row per frame, "
                     f"{INVALID_VALUE:g} for a frame without annotation")


def _parse_rows(path: Path, rows: Sequence[str], header: bool) -> np.ndarray:
    """``rows`` (one text line per frame) as ``(n, 2)`` float64."""
    values = np.empty((len(rows), 2), dtype=np.float64)
    for i, row in enumerate(rows):
        parts = row.split(",")
        if len(parts) != 2:
            problem = ("is blank" if not row.strip() else
                       f"has {len(parts)} values {_shown(row.strip())}, not 2 (valence,arousal)")
            raise _row_error(path, i, header, problem)
        try:
            values[i] = float(parts[0]), float(parts[1])
        except ValueError:
            raise _row_error(path, i, header,
                             f"{_shown(row.strip())} is not two numbers") from None
    return values


def read_annotation_file(path: str | Path, frames: int) -> np.ndarray:
    """Valence and arousal of each of ``frames`` frames: ``(frames, 2)`` float32, both NaN
    where the file marks the frame invalid (:data:`INVALID_VALUE` in either column).

    Raises :class:`DataError` (one line naming the file) for a missing or unreadable file,
    a row count other than ``frames``, a row that is not two numbers, or a value outside
    ``[-1, 1]`` other than :data:`INVALID_VALUE`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotation file {path} is missing; write one valence,arousal row "
                        "per frame of its video, or remove the video")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"annotation file {path} cannot be read ({type(exc).__name__}); "
                        "save it as plain text with one valence,arousal row per frame") from None
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines
    header = bool(lines) and lines[0].replace(" ", "").strip().lower() == HEADER
    rows = lines[1:] if header else lines
    if rows and not header:
        try:
            _parse_rows(path, rows[:1], header)
        except DataError:  # an unknown header would otherwise read as a wrong row count
            raise DataError(f"annotation file {path} line 1 {_shown(rows[0].strip())} is "
                            f"neither the header {HEADER} nor two numbers; fix or remove "
                            "it") from None
    if len(rows) != frames:
        raise DataError(f"{path} has {len(rows)} annotation rows for {frames} frames; write "
                        "one valence,arousal row per frame, in frame order "
                        f"({INVALID_VALUE:g} for a frame without annotation)")
    values = _parse_rows(path, rows, header)
    invalid = (values == INVALID_VALUE).any(axis=1)
    bad = ~invalid[:, None] & ~(np.abs(values) <= 1.0)  # NaN and inf are bad too
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        name = ("valence", "arousal")[column]
        raise _row_error(path, row, header,
                         f"{name} {rows[row].split(',')[column].strip()} is outside [-1, 1]")
    values[invalid] = np.nan
    return values.astype(np.float32)


# ----------------------------------------------------------------------------- listing

def _annotated(record: VideoRecord, annotation: Path) -> AnnotatedVideo:
    values = read_annotation_file(annotation, len(record.frame_paths))
    return replace(record, annotation=annotation), values


def list_va_split(root: str | Path, split: str) -> list[AnnotatedVideo]:
    """The videos of ``ROOT/<split>/`` with their checked annotations (see the module doc)."""
    split_dir = _find_split_dir(Path(root).expanduser(), split)
    entries = [p for p in split_dir.iterdir() if _visible(p)]
    folders = {p.name: p for p in entries if p.is_dir()}
    texts = {p.stem: p for p in entries
             if p.is_file() and p.suffix.lower() == ANNOTATION_SUFFIX}
    if not folders:
        raise DataError(f"split folder {split_dir} holds no video folder; put each video's "
                        f"frames in {split_dir}/<video_id>/ and its valence,arousal rows in "
                        f"{split_dir}/<video_id>{ANNOTATION_SUFFIX}")
    orphans = sorted(set(texts) - set(folders), key=natural_key)
    if orphans:
        raise DataError(f"annotation file {texts[orphans[0]]} has no frames folder "
                        f"{split_dir / orphans[0]}; add the video's frames there or remove "
                        "the file")
    missing = sorted(set(folders) - set(texts), key=natural_key)
    if missing:
        raise DataError(f"annotation file {split_dir / (missing[0] + ANNOTATION_SUFFIX)} is "
                        f"missing for video folder {folders[missing[0]]}; write one "
                        "valence,arousal row per frame, or remove the folder")
    return [_annotated(_video_record(folders[name], name, UNLABELLED), texts[name])
            for name in sorted(folders, key=natural_key)]


def _resolve(manifest: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else manifest.parent / path


def list_va_manifest(manifest: str | Path, split: str) -> list[AnnotatedVideo]:
    """The videos of ``split`` in a CSV manifest with columns ``video_dir,split,annotation_file``
    (paths absolute or relative to the manifest's folder), with their checked annotations."""
    manifest = Path(manifest).expanduser()
    rows = _manifest_rows(manifest, MANIFEST_COLUMNS)
    chosen = split_rows(manifest, rows, split)
    videos, seen = [], set()
    for line, row in chosen:
        video_dir = _resolve(manifest, row["video_dir"])
        if not row["video_dir"] or not video_dir.is_dir() or row["video_dir"] in seen:
            problem = "is listed twice" if row["video_dir"] in seen else "is not a folder"
            raise DataError(f"manifest {manifest} line {line}: video_dir {video_dir} {problem}; "
                            "fix the row or remove it")
        seen.add(row["video_dir"])
        if not row["annotation_file"]:
            raise DataError(f"manifest {manifest} line {line}: annotation_file is empty; give "
                            "the video's valence,arousal file")
        annotation = _resolve(manifest, row["annotation_file"])
        if not annotation.is_file():
            raise DataError(f"manifest {manifest} line {line}: annotation file {annotation} "
                            "is missing; fix the path or write the file")
        videos.append(_annotated(_video_record(video_dir, row["video_dir"], UNLABELLED),
                                 annotation))
    return videos


def scan_va_split(root: str | Path, split: str) -> list[VideoRecord]:
    """Videos of the Aff-Wild style layout ``ROOT/<split>/<video_id>/`` + ``<video_id>.txt``,
    unlabelled, each with its ``annotation`` file (checked against its frames)."""
    return [record for record, _ in list_va_split(root, split)]


def read_va_manifest(manifest: str | Path, split: str) -> list[VideoRecord]:
    """Videos of ``split`` in a ``video_dir,split,annotation_file`` manifest, unlabelled, each
    with its ``annotation`` file (checked against its frames)."""
    return [record for record, _ in list_va_manifest(manifest, split)]


# ----------------------------------------------------------------------------- skipped frames

def _relative_name(path: Path, base: Path) -> str:
    """The name the frame cache keys ``path`` by (as in frame_cache._file_signature)."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _skipped_frame(entry: str, exact: Mapping[str, int], relative: Mapping[str, int]) -> int | None:
    """Index of the frame a cache ``skipped_frames`` entry (``"<path> (<error>)"``) names: by its
    path, else (data moved since the cache was built) by its name relative to the data root."""
    prefixes = [entry[:k] for k in range(len(entry)) if entry.startswith(" (", k)]
    for prefix in prefixes:
        if prefix in exact:
            return exact[prefix]
    for prefix in prefixes:
        parts = PurePath(prefix).parts
        for start in range(1, len(parts)):
            tail = PurePath(*parts[start:]).as_posix()
            if tail in relative:
                return relative[tail]
    return None


def align_to_decoded(records: Sequence[VideoRecord], values: Sequence[np.ndarray],
                     skipped_frames: Sequence[str], frames_per_video: Sequence[int],
                     base: Path, cache_index: Path) -> np.ndarray:
    """Per-frame values of the decoded frames: ``(N, 2)`` float32, the rows of frames the frame
    cache skipped (unreadable, listed in its ``skipped_frames``) dropped.

    Raises :class:`DataError` naming ``cache_index`` when it does not match the frames.
    """
    paths = [p for r in records for p in r.frame_paths]
    exact = {str(p): i for i, p in enumerate(paths)}
    relative = {_relative_name(p, base): i for i, p in enumerate(paths)}
    keep = np.ones(len(paths), dtype=bool)
    for entry in skipped_frames:
        index = _skipped_frame(entry, exact, relative)
        if index is not None:
            keep[index] = False
    owner = np.repeat(np.arange(len(records)), [len(r.frame_paths) for r in records])
    kept = np.bincount(owner[keep], minlength=len(records))
    wrong = np.flatnonzero(kept != np.asarray(frames_per_video))
    if wrong.size:
        raise DataError(f"frame cache index {cache_index} does not match the frames of "
                        f"{records[wrong[0]].directory}; delete it (and its .npy) to decode "
                        "again, or pass another cache_dir")
    if not paths:
        return np.empty((0, 2), dtype=np.float32)
    return np.concatenate(values).astype(np.float32, copy=False)[keep]
