"""``python -m study.make_data OUT``: write a synthetic two-domain set in the AFEW layout.

The embedded default set is generated on first use by ``python -m study.run``; this command
writes a variant of it to a folder of your choice, for example a harder one the project was
not tuned to (``--difficulty hard``), to check that the defaults still learn:

    python -m study.make_data /data/synthetic-hard --difficulty hard
    python -m study.run --data-root /data/synthetic-hard --test-split Test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from study.cli import OneLineParser, non_negative_int, positive_int
from trainables.config import DEFAULT_CLASSES
from trainables.errors import UserInputError
from trainables.synthetic import DEFAULT_VIDEOS_PER_CLASS, DIFFICULTIES, generate_dataset


def videos_per_split(text: str) -> dict[str, int]:
    """``Train=30,Val=20,Test=20`` -> {"Train": 30, ...}."""
    plan = {}
    for item in text.split(","):
        name, _, count = item.partition("=")
        if not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"{item!r} is not SPLIT=COUNT with COUNT >= 1")
        plan[name.strip()] = int(count)
    return plan


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.make_data", description=__doc__.split("\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", help="folder to create (must not exist)")
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="embedded",
                        help="appearance and expression knobs (trainables/synthetic.py)")
    default_plan = ",".join(f"{k}={v}" for k, v in DEFAULT_VIDEOS_PER_CLASS.items())
    parser.add_argument("--videos-per-class", type=videos_per_split, default=default_plan,
                        help="videos per class in each split")
    parser.add_argument("--min-frames", type=positive_int, default=12)
    parser.add_argument("--max-frames", type=positive_int, default=40)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out).expanduser()
    try:
        if out.exists():
            raise UserInputError(f"{out} already exists; nothing is overwritten: pick a new "
                                 f"folder")
        if args.min_frames > args.max_frames:
            raise UserInputError(f"--min-frames {args.min_frames} exceeds --max-frames "
                                 f"{args.max_frames}")
    except UserInputError as error:
        sys.stderr.write(f"python -m study.make_data: error: {error}\n")
        return 2
    plan = args.videos_per_class
    if isinstance(plan, str):
        plan = videos_per_split(plan)
    generate_dataset(out, seed=args.seed, videos_per_class=plan,
                     frames_per_video=(args.min_frames, args.max_frames),
                     difficulty=DIFFICULTIES[args.difficulty])
    videos = sum(plan.values()) * len(DEFAULT_CLASSES)
    print(f"Wrote {videos} videos to {out} ({args.difficulty}); use it with "
          f"python -m study.run --data-root {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
