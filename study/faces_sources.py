"""Which videos ``python -m study.faces`` reads, their labels, and where their frames go.

Labels come from a CSV (``video,label``; the video as a file name, a relative path under
VIDEOS, or a file name without its extension) or, without one, from the nearest folder
above the video that is named after an emotion (``VIDEOS/<Emotion>/clip.mp4``). Names are
the loader's (:mod:`trainables.video_listing`: case-insensitive, aliases allowed). Every
problem here is found before any frame is decoded and is one line naming the file.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trainables.errors import UserInputError
from trainables.video_listing import accepted_names, class_index, natural_key

#: File name endings listed as videos (anything OpenCV's FFmpeg back end may decode).
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg",
                              ".wmv", ".webm", ".flv"})


@dataclass(frozen=True)
class VideoJob:
    """One video to crop: where it is, its class, and the folder its frames go to."""

    path: Path
    name: str          # the path under VIDEOS, with forward slashes (the report's "video")
    label: str         # the class name, as spelled in the class list
    video_id: str      # the output folder's name: the file name without its extension
    target: Path       # OUT_ROOT/<Split>/<Emotion>/<video_id>


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def find_videos(videos: Path) -> tuple[Path, list[Path]]:
    """``(base, files)``: the video files under the folder ``videos`` (hidden ones left out),
    naturally sorted, or the one file ``videos`` names (its base is then its folder)."""
    if videos.is_file():
        if videos.suffix.lower() not in VIDEO_EXTENSIONS:
            raise UserInputError(f"{videos} is not a video file (expected one of "
                                 f"{', '.join(sorted(VIDEO_EXTENSIONS))})")
        return videos.parent, [videos]
    if not videos.is_dir():
        raise UserInputError(f"{videos} does not exist; pass the folder that holds the videos")
    files = [p for p in videos.rglob("*")
             if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() and not _hidden(p, videos)]
    if not files:
        raise UserInputError(f"{videos} holds no video file "
                             f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
    return videos, sorted(files, key=lambda p: natural_key(p.relative_to(videos).as_posix()))


def _class_name(text: str, classes: Sequence[str]) -> str | None:
    index = class_index(text, classes)
    return None if index is None else classes[index]


def folder_labels(base: Path, files: Sequence[Path],
                  classes: Sequence[str]) -> dict[Path, str]:
    """Each file's class: the nearest folder above it (up to ``base``) named after one."""
    labels = {}
    for path in files:
        folders = (base.name, *path.relative_to(base).parts[:-1])
        found = [name for name in (_class_name(f, classes) for f in reversed(folders))
                 if name is not None]
        if not found:
            raise UserInputError(
                f"{path}: its folder '{folders[-1]}' is not an emotion; put the video in a "
                f"folder named after its class ({accepted_names(classes)}) or pass --labels CSV")
        labels[path] = found[0]
    return labels


def _csv_rows(labels_csv: Path) -> list[tuple[int, str, str]]:
    """``(line, video, label)`` of every row of a ``video,label`` CSV."""
    if not labels_csv.is_file():
        raise UserInputError(f"labels file {labels_csv} does not exist; pass a CSV with the "
                             "header video,label")
    with labels_csv.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or ()}
        if not {"video", "label"} <= set(columns):
            found = ", ".join(sorted(c for c in columns if c)) or "nothing"
            raise UserInputError(f"labels file {labels_csv} lacks the header video,label "
                                 f"(found: {found}); fix its first line")
        return [(line, (row[columns["video"]] or "").strip(), (row[columns["label"]] or "").strip())
                for line, row in enumerate(reader, start=2)
                if any((value or "").strip() for value in row.values() if isinstance(value, str))]


def _match(text: str, base: Path, files: Sequence[Path]) -> list[Path]:
    """Files that a CSV's video names: relative path, else file name, else name w/o suffix."""
    wanted = text.replace("\\", "/").removeprefix("./")
    for key in (lambda p: p.relative_to(base).as_posix(), lambda p: p.name, lambda p: p.stem):
        hits = [p for p in files if key(p) == wanted]
        if hits:
            return hits
    return []


def csv_labels(labels_csv: Path, base: Path, files: Sequence[Path],
               classes: Sequence[str]) -> dict[Path, str]:
    """Each listed file's class from ``labels_csv``; files it does not list are left out."""
    labels: dict[Path, str] = {}
    for line, video, label in _csv_rows(labels_csv):
        where = f"labels file {labels_csv} line {line}"
        hits = _match(video, base, files) if video else []
        if len(hits) != 1:
            problem = ("names several videos: " + ", ".join(str(p) for p in hits[:3])
                       + "; give its path under " + str(base)) if hits else \
                f"names no video under {base} ('{video}'); fix the row or remove it"
            raise UserInputError(f"{where}: {problem}")
        name = _class_name(label, classes)
        if name is None:
            raise UserInputError(f"{where}: unknown label '{label}' for {hits[0]}; use one of: "
                                 f"{accepted_names(classes)}")
        if hits[0] in labels:
            raise UserInputError(f"{where}: {hits[0]} is listed twice; keep one row")
        labels[hits[0]] = name
    if not labels:
        raise UserInputError(f"labels file {labels_csv} lists no video; add video,label rows")
    return labels


def existing_folder(parent: Path, wanted: str, same) -> str:
    """The name of ``parent``'s folder that ``same(name)`` matches, else ``wanted``: reuse
    ``train`` for ``--split Train`` (the loader would find both and refuse the split)."""
    if parent.is_dir():
        for child in sorted(parent.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and same(child.name):
                return child.name
    return wanted


def plan_jobs(base: Path, labels: dict[Path, str], out_root: Path, split: str,
              classes: Sequence[str]) -> list[VideoJob]:
    """One job per labelled video, naturally sorted by path; two videos bound for one folder
    are refused (rename one)."""
    split_dir = out_root / existing_folder(out_root, split, lambda n: n.lower() == split.lower())
    jobs, taken = [], {}
    for path in sorted(labels, key=lambda p: natural_key(p.relative_to(base).as_posix())):
        label = labels[path]
        emotion = existing_folder(split_dir, label,
                                  lambda n, lab=label: _class_name(n, classes) == lab)
        target = split_dir / emotion / path.stem
        if target in taken:
            raise UserInputError(f"{taken[target]} and {path} would both be written to {target}; "
                                 "rename one of them")
        taken[target] = path
        jobs.append(VideoJob(path=path, name=path.relative_to(base).as_posix(), label=label,
                             video_id=path.stem, target=target))
    return jobs
