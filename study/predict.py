"""``python -m study.predict``: a study's trained NetA, with NetB's Z, applied to videos.

    python -m study.predict --name STUDY [--trial ID] --data-root ROOT [--split NAME]
    python -m study.predict --name STUDY --manifest videos.csv [--split NAME]
    python -m study.predict --name STUDY FRAMES_DIR [FRAMES_DIR ...] [--frames] [--out FILE]

One CSV row per video (``--frames``: and one per frame) to ``--out`` or standard output; see
:mod:`study.prediction` for how the scores are made and README.md for the columns. Messages
and progress bars go to standard error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from study import prediction
from study.cli import OneLineParser
from study.trained import TrainedTrial, add_study_flags, check_output, open_trained
from trainables.errors import UserInputError
from trainables.io import atomic_path


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.predict",
                           description="Score videos with a study's trained NetA (the same "
                                       "float64 predict as in training, with NetB's Z) and "
                                       "write one CSV row per video.")
    parser.add_argument("folders", nargs="*", metavar="FRAMES_DIR",
                        help="folders of frames, one per video (unlabelled)")
    add_study_flags(parser)
    parser.add_argument("--data-root", help="videos in the loader's layout "
                                            "ROOT/<Split>/<Emotion>/<video>/<frame>.png")
    parser.add_argument("--manifest", help="CSV of videos (video_dir,label,split)")
    parser.add_argument("--split", help="the split of --data-root or --manifest to score "
                                        "[the study's --target-split]")
    parser.add_argument("--frames", action="store_true",
                        help="add a row per frame after each video's row")
    parser.add_argument("--out", help="CSV file to write [standard output]")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def check_args(parser: OneLineParser, args: argparse.Namespace) -> None:
    given = [flag for flag, value in (("--data-root", args.data_root),
                                      ("--manifest", args.manifest),
                                      ("FRAMES_DIR", args.folders)) if value]
    if len(given) != 1:
        parser.error("give the videos one way: --data-root ROOT, --manifest CSV or FRAMES_DIR..."
                     if not given else f"{' and '.join(given)} both give videos; pick one")
    if args.split is not None and args.folders:
        parser.error("--split goes with --data-root or --manifest, not with FRAMES_DIR")
    if args.out is not None:
        check_output(parser, "--out", Path(args.out).expanduser())


def videos_of(args: argparse.Namespace, trained: TrainedTrial) -> prediction.Videos:
    split = args.split or trained.study.settings.target_split
    if args.data_root is not None:
        return prediction.from_data_root(args.data_root, split, trained.classes)
    if args.manifest is not None:
        return prediction.from_manifest(args.manifest, split, trained.classes)
    return prediction.from_folders(args.folders)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    say = sys.stderr.write
    try:  # standard output is the CSV's: anything printed on the way goes to standard error
        with contextlib.redirect_stdout(sys.stderr):
            trained = open_trained(args.storage_path, args.name, args.trial)
            videos = videos_of(args, trained)
            say(f"{trained.describe()}\n")
            found = prediction.score(trained, videos, progress=not args.no_progress)
    except UserInputError as error:
        say(f"study.predict: error: {error}\n")
        return 2
    if args.out is None:
        prediction.write_csv(found, sys.stdout, args.frames)
    else:
        with atomic_path(Path(args.out).expanduser(), ".csv") as temporary, \
                temporary.open("w", newline="", encoding="utf-8") as handle:
            prediction.write_csv(found, handle, args.frames)
    data = found.data
    where = f" to {args.out}" if args.out else ""
    say(f"Scored {data.num_videos} video(s), {data.num_frames} frame(s){where}.\n")
    accuracies = found.accuracies()
    if accuracies is not None:
        say(f"Accuracy on the {int(accuracies['videos'])} labelled video(s): video "
            f"{accuracies['video']:.4f}, frame {accuracies['frame']:.4f}.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
