"""Where a split's videos are: the AFEW folder layout or a CSV manifest, as video records.

Layout read by :func:`scan_split`::

    ROOT/<Split>/<Emotion>/<video_id>/<frame>.png|jpg|jpeg

or a CSV manifest (:func:`read_manifest`) with the header ``video_dir,label,split``.
Emotion folder names and labels match case-insensitively, also through
:data:`EMOTION_ALIASES`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trainables.config import DEFAULT_CLASSES
from trainables.errors import DataError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
UNLABELLED = -1  # the label of a video whose emotion is not known (new videos to score)

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
    """One video: a folder of frame images with one emotion label, and for dimensional
    emotion (trainables.va_annotations) its per-frame valence/arousal file."""

    video_id: str
    directory: Path
    label: int
    frame_paths: tuple[Path, ...]
    annotation: Path | None = None


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


def accepted_names(classes: Sequence[str]) -> str:
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


def frames_folder(directory: str | Path, label: int = UNLABELLED) -> VideoRecord:
    """One video given as its folder of frames, its name as its id (new videos to score)."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"{directory} is not a folder; pass one folder of frames per video")
    if not _frame_files(directory):
        inside = [p.name for p in directory.iterdir() if p.is_dir() and _visible(p)]
        more = ", ..." if len(inside) > 3 else ""
        hint = (f"it holds folders ({', '.join(sorted(inside)[:3])}{more}): pass each video's "
                f"folder, or a data root with --data-root" if inside else
                "add its frames, or leave it out")
        raise DataError(f"{directory} holds no .png/.jpg/.jpeg frame; {hint}")
    return _video_record(directory, directory.name, label)


def _check_every_class(records: Sequence[VideoRecord], classes: Sequence[str],
                       where: Path, split: str) -> None:
    present = {r.label for r in records}
    missing = [cls for i, cls in enumerate(classes) if i not in present]
    if missing:
        raise DataError(f"split '{split}' in {where} has no video for class(es) "
                        f"{', '.join(missing)}; add videos for them or pass a classes list "
                        "without them")


def scan_split(root: str | Path, split: str,
               classes: Sequence[str] = DEFAULT_CLASSES, *,
               every_class: bool = True) -> list[VideoRecord]:
    """List the videos of ``ROOT/<split>/<Emotion>/<video>/`` (folder names case-insensitive).

    Raises :class:`DataError` for a missing root or split, an unknown emotion folder,
    an empty video folder, or (``every_class``) a class without any video.
    """
    split_dir = _find_split_dir(Path(root).expanduser(), split)
    records = []
    for emotion_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and _visible(p)):
        label = class_index(emotion_dir.name, classes)
        if label is None:
            raise DataError(f"unknown emotion folder {emotion_dir}; rename it to one of: "
                            f"{accepted_names(classes)}")
        for video_dir in sorted((p for p in emotion_dir.iterdir() if p.is_dir() and _visible(p)),
                                key=lambda p: natural_key(p.name)):
            records.append(_video_record(video_dir, f"{emotion_dir.name}/{video_dir.name}", label))
    if every_class:
        _check_every_class(records, classes, split_dir, split)
    return records


def _manifest_rows(manifest: Path, required: Sequence[str] = ("video_dir", "label", "split"),
                   ) -> list[dict[str, str]]:
    """The rows of a CSV manifest whose header has the ``required`` columns (names stripped
    and lower-cased, values stripped)."""
    header = ",".join(required)
    if not manifest.is_file():
        raise DataError(f"manifest {manifest} does not exist; pass the path of a CSV file "
                        f"with the header {header}")
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower() for c in reader.fieldnames or ()}
        if not set(required) <= columns:
            found = ", ".join(sorted(columns)) or "nothing"
            raise DataError(f"manifest {manifest} lacks the header {header} "
                            f"(found: {found}); fix its first line")
        return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                for row in reader]


def split_rows(manifest: Path, rows: list[dict[str, str]],
               split: str) -> list[tuple[int, dict[str, str]]]:
    """(file line, row) of the manifest's rows of ``split`` (case-insensitive); a split without
    rows is a one-line error naming the splits the manifest has."""
    chosen = [(n, row) for n, row in enumerate(rows, start=2)
              if row["split"].lower() == split.lower()]
    if not chosen:
        found = ", ".join(sorted({row["split"] for row in rows})) or "none"
        raise DataError(f"manifest {manifest} has no row with split '{split}' (splits found: "
                        f"{found}); add rows for it or pass one of the existing splits")
    return chosen


def read_manifest(manifest: str | Path, split: str,
                  classes: Sequence[str] = DEFAULT_CLASSES, *,
                  every_class: bool = True) -> list[VideoRecord]:
    """Videos of ``split`` listed in a CSV manifest with columns ``video_dir,label,split``.

    ``video_dir`` is absolute or relative to the manifest's folder; labels and split names
    match case-insensitively (labels also through :data:`EMOTION_ALIASES`). ``every_class``:
    refuse a class without any video.
    """
    manifest = Path(manifest).expanduser()
    rows = _manifest_rows(manifest)
    chosen = split_rows(manifest, rows, split)
    records, seen = [], set()
    for line, row in chosen:
        label = class_index(row["label"], classes)
        if label is None:
            raise DataError(f"manifest {manifest} line {line}: unknown label '{row['label']}'; "
                            f"use one of: {accepted_names(classes)}")
        video_dir = Path(row["video_dir"]).expanduser()
        video_dir = video_dir if video_dir.is_absolute() else manifest.parent / video_dir
        if not video_dir.is_dir() or row["video_dir"] in seen:
            problem = "is listed twice" if row["video_dir"] in seen else "is not a folder"
            raise DataError(f"manifest {manifest} line {line}: video_dir {video_dir} {problem}; "
                            "fix the row or remove it")
        seen.add(row["video_dir"])
        records.append(_video_record(video_dir, row["video_dir"], label))
    if every_class:
        _check_every_class(records, classes, manifest, split)
    return records
