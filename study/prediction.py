"""Scores of a study's trained NetA on videos, as ``python -m study.predict`` writes them.

Videos come from a data root in the loader's layout (``ROOT/<Split>/<Emotion>/<video>/``), a
manifest (``video_dir,label,split``) or plain folders of frames (unlabelled). They take the
study's own path: decoded by the loader into the frame cache (:func:`trainables.data.
load_videos`), through the study's frozen CNN into the feature cache
(:class:`study.inputs.StudyInputs`, computed on this process), then scored by the report's
:meth:`study.report.evaluator.Evaluator.score`: :func:`trainables.engine.evaluate` with the
trial's lam, normalisation, tau and windows of ``seq_len`` frames. A video's scores are the mean
of its frames' (:func:`trainables.metrics.video_scores`) and its class their arg-max
(:func:`trainables.metrics.predicted`): what the study's video accuracy counts.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from study.inputs import StudyInputs, features_here
from study.trained import TrainedTrial
from trainables.data import SplitData, load_videos
from trainables.engine import SplitArrays
from trainables.errors import DataError, UserInputError
from trainables.metrics import accuracy, predicted, video_scores
from trainables.video_listing import (
    UNLABELLED,
    VideoRecord,
    frames_folder,
    read_manifest,
    scan_split,
)

FOLDERS_SPLIT = "frames"  # the name folders of frames are decoded under (progress bars)
VIDEO, FRAME = "video", "frame"


@dataclass
class Videos:
    """What to score: the videos, the folder their cache names are relative to, a name."""

    records: list[VideoRecord]
    base: Path
    split: str


def from_data_root(root: str, split: str, classes: Sequence[str]) -> Videos:
    """A split of a data root; its emotion folders must be among the study's classes (not
    every class needs a video)."""
    records = scan_split(root, split, classes, every_class=False)
    if not records:
        raise DataError(f"split folder {split!r} in {root} holds no video folder; pass the "
                        f"folder that holds <Split>/<Emotion>/<video>/ frames")
    return Videos(records, Path(root).expanduser(), split)


def from_manifest(manifest: str, split: str, classes: Sequence[str]) -> Videos:
    """The rows of ``split`` in a manifest; labels must be among the study's classes."""
    records = read_manifest(manifest, split, classes, every_class=False)
    return Videos(records, Path(manifest).expanduser().parent, split)


def from_folders(folders: Sequence[str]) -> Videos:
    """Folders of frames, one per video, without labels."""
    records = [frames_folder(folder) for folder in folders]
    seen: set[Path] = set()
    for record in records:
        if record.directory.resolve() in seen:
            raise UserInputError(f"{record.directory} is given twice; pass each video once")
        seen.add(record.directory.resolve())
    return Videos(records, Path.cwd(), FOLDERS_SPLIT)


@dataclass
class Prediction:
    """Per-frame scores (float64, frame order) of decoded videos, and what they came from."""

    videos: Videos
    data: SplitData
    scores: np.ndarray
    classes: tuple[str, ...]

    @property
    def per_video(self) -> np.ndarray:
        return video_scores(self.scores, self.data.video_offsets)

    def accuracies(self) -> dict[str, float] | None:
        """Video and frame accuracy over the labelled videos; None when none is labelled."""
        labelled = self.data.video_labels >= 0
        if not labelled.any():
            return None
        frames = self.data.frame_labels >= 0
        return {"videos": float(labelled.sum()),
                "video": accuracy(self.per_video[labelled], self.data.video_labels[labelled]),
                "frame": accuracy(self.scores[frames], self.data.frame_labels[frames])}


def score(trained: TrainedTrial, videos: Videos, progress: bool) -> Prediction:
    """Decode, run the study's CNN (cached features, made here if missing) and score."""
    classes = trained.classes
    data = load_videos(videos.records, videos.base, videos.split, classes, progress=progress)
    inputs = StudyInputs({videos.split: data}, trained.backbone)
    features = inputs.features(features_here(progress))[videos.split]
    arrays = SplitArrays.from_split(data, features)
    print(f"Scoring {data.num_videos} video(s), {data.num_frames} frame(s) ...", file=sys.stderr)
    evaluation = trained.evaluator.score(trained.trial, arrays)
    return Prediction(videos, data, evaluation.scores, classes)


def header(classes: Sequence[str]) -> list[str]:
    return ["level", "video", "path", "label", "frames", "frame",
            *(f"score_{name}" for name in classes), "predicted"]


def frame_names(record: VideoRecord, skipped: Sequence[str], count: int) -> list[str]:
    """The file names of a video's decoded frames (unreadable ones were left out of the
    cache); their positions (``#0``, ``#1``, ...) when the names cannot be told apart."""
    names = [path.name for path in record.frame_paths
             if not any(entry.startswith(f"{path} (") for entry in skipped)]
    return names if len(names) == count else [f"#{index}" for index in range(count)]


def rows(prediction: Prediction, frames: bool) -> Iterator[list[object]]:
    """The CSV's rows, header first: one per video, each followed by its frames' with
    ``frames``. Scores are float64, written in full (``repr``): they read back exactly."""
    classes, data = prediction.classes, prediction.data
    yield header(classes)
    per_video, offsets = prediction.per_video, data.video_offsets
    video_classes, frame_classes = predicted(per_video), predicted(prediction.scores)
    for index, record in enumerate(prediction.videos.records):
        label = classes[record.label] if record.label != UNLABELLED else ""
        start, end = int(offsets[index]), int(offsets[index + 1])
        common = [record.video_id, str(record.directory), label]
        yield [VIDEO, *common, end - start, "", *per_video[index].tolist(),
               classes[video_classes[index]]]
        if frames:
            names = frame_names(record, data.report.skipped_frames, end - start)
            for offset, name in enumerate(names):
                frame = start + offset
                yield [FRAME, *common, "", name, *prediction.scores[frame].tolist(),
                       classes[frame_classes[frame]]]


def write_csv(prediction: Prediction, handle: TextIO, frames: bool) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerows(rows(prediction, frames))
