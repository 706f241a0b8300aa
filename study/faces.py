"""``python -m study.faces VIDEOS OUT_ROOT``: crop the faces of video files into the layout
the loader reads, ``OUT_ROOT/<Split>/<Emotion>/<video_id>/<frame>.png`` (96x96).

    python -m study.faces raw/ data/ --split Train            # raw/<Emotion>/clip.mp4
    python -m study.faces raw/ data/ --split Val --labels val.csv --track

Labels come from ``--labels`` (a CSV ``video,label``) or from the folder each video sits in.
Faces are found by OpenCV's Haar cascade (``pip install -e '.[faces]'``); frames without a
face are skipped, and ``OUT_ROOT/faces_report.csv`` counts them per video. A video folder
already in OUT_ROOT is never touched: the video is skipped with a note, so a rerun carries on
where a stopped one ended.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from study.cli import HelpFormatter, OneLineParser, non_negative_int, positive_int
from study.faces_crop import CropSettings, HaarDetector, VideoResult, crop_video
from study.faces_report import summary, write_reports
from study.faces_sources import VideoJob, csv_labels, find_videos, folder_labels, plan_jobs
from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE
from trainables.errors import UserInputError

PROG = "python -m study.faces"


def _bounded(low: float, high: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


def split_name(text: str) -> str:
    """A plain folder name (the split folder under OUT_ROOT)."""
    name = text.strip()
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder name such as Train")
    return name


def class_list(text: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no class")
    return names


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, formatter_class=HelpFormatter, description=(
        "Crop the faces of video files into the layout the loader reads: "
        "OUT_ROOT/<Split>/<Emotion>/<video_id>/<frame>.png."))
    parser.add_argument("videos", type=Path, metavar="VIDEOS",
                        help="a folder of video files (searched recursively), or one file")
    parser.add_argument("out_root", type=Path, metavar="OUT_ROOT",
                        help="the data root to write (created if need be)")
    parser.add_argument("--split", type=split_name, default="Train", metavar="NAME",
                        help="the split folder the videos go to")
    parser.add_argument("--labels", type=Path, default=None, metavar="CSV",
                        help="CSV with the header video,label (video: file name or path under "
                             "VIDEOS) [the folder each video sits in]")
    parser.add_argument("--classes", type=class_list, default=",".join(DEFAULT_CLASSES),
                        help="comma-separated class list, as given to python -m study.run")
    crop = parser.add_argument_group("crops")
    crop.add_argument("--margin", type=_bounded(0.0, 2.0, "a number in [0, 2]"), default=0.2,
                      help="added on each side of the face box, as a fraction of its side")
    crop.add_argument("--size", type=positive_int, default=IMAGE_SIZE,
                      help="side of the written frames, in pixels (the loader's size)")
    crop.add_argument("--min-face", type=positive_int, default=40,
                      help="smallest face searched, in video pixels")
    crop.add_argument("--track", action="store_true",
                      help="follow the face: smooth its box over frames and keep the last box "
                           "for up to --max-gap frames where none is found")
    crop.add_argument("--max-gap", type=non_negative_int, default=5,
                      help="with --track: frames that keep the last box")
    crop.add_argument("--smoothing", type=_bounded(0.01, 1.0, "a number in (0, 1]"),
                      default=0.5, help="with --track: weight of a new detection in the box "
                                        "(1: no smoothing)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def plan(args: argparse.Namespace) -> tuple[list[VideoJob], int]:
    """The videos to crop, and how many found videos the labels CSV leaves out."""
    out_root = args.out_root.expanduser()
    if out_root.exists() and not out_root.is_dir():
        raise UserInputError(f"{out_root} is a file; pass a folder for OUT_ROOT")
    base, files = find_videos(args.videos.expanduser())
    if args.labels is None:
        labels = folder_labels(base, files, args.classes)
    else:
        labels = csv_labels(args.labels.expanduser(), base, files, args.classes)
    return plan_jobs(base, labels, out_root, args.split, args.classes), len(files) - len(labels)


@contextmanager
def frame_bar(name: str, quiet: bool) -> Iterator[Callable[[int], Callable[[], object]]]:
    """``open(total)`` -> the per-frame step of a bar over one video's frames."""
    bars = []

    def open_bar(total: int) -> Callable[[], object]:
        bars.append(tqdm(total=total or None, desc=name[-40:], unit="frame", leave=False,
                         disable=quiet))
        return bars[-1].update

    try:
        yield open_bar
    finally:
        for bar in bars:
            bar.close()


def crop_all(jobs: list[VideoJob], settings: CropSettings, detector: HaarDetector,
             quiet: bool, done: list[tuple[VideoJob, VideoResult]]) -> None:
    """Crop every job, appending ``(job, result)`` to ``done`` as each one ends."""
    with tqdm(jobs, desc="faces", unit="video", disable=quiet) as bar:
        for job in bar:
            with frame_bar(job.name, quiet) as progress:
                done.append((job, crop_video(job, detector, settings, progress)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = CropSettings(margin=args.margin, size=args.size, min_face=args.min_face,
                            track=args.track, max_gap=args.max_gap, smoothing=args.smoothing)
    try:
        detector = HaarDetector(settings.min_face)
        jobs, unlisted = plan(args)
    except UserInputError as error:
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return 2
    if unlisted:
        print(f"{unlisted} video(s) under {args.videos} are not in {args.labels}; left alone")
    out_root = args.out_root.expanduser()
    done: list[tuple[VideoJob, VideoResult]] = []
    try:
        crop_all(jobs, settings, detector, args.no_progress, done)
    except UserInputError as error:
        write_reports(done, out_root)
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return 2
    except KeyboardInterrupt:
        report = write_reports(done, out_root)
        sys.stderr.write(f"{PROG}: interrupted after {len(done)} of {len(jobs)} videos, listed "
                         f"in {report}; a rerun skips their folders\n")
        return 130
    report = write_reports(done, out_root)
    print("\n".join(summary(done, jobs[0].target.parents[1], report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
