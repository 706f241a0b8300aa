"""``python -m study.make_data OUT``: write a synthetic two-domain set in the AFEW layout.

The embedded default set is generated on first use by ``python -m study.run``; this command
writes a variant of it to a folder of your choice, for example a harder one the project was
not tuned to (``--difficulty hard``), to check that the defaults still learn:

    python -m study.make_data /data/synthetic-hard --difficulty hard
    python -m study.run --data-root /data/synthetic-hard --test-split Test

Three knobs set the strength of the domain shift between Train (source) and Val/Test
(target); each overrides the chosen ``--difficulty``'s value:

* ``--shift X`` (0 to 2): appearance (lighting, colour cast, backdrop, framing); 0: the
  target is lit and framed like the source, 1: the default, 2: twice as far;
* ``--annotation-bias X`` (0 to 3): multiplies every label-flip fraction of
  ``trainables.synthetic.LABEL_FLIPS``; 0: clean labels, 1: the default;
* ``--class-imbalance X`` (0 to below 1): class ``i`` of ``c`` gets
  ``n * (1 - X) ** (i / (c - 1))`` videos in Train (rounded, at least 1) and the reverse
  order in Val/Test; 0: balanced, as by default.

``--difficulty strong-shift`` and ``--difficulty no-shift`` are presets of these knobs:

    python -m study.make_data /data/synthetic-strong --difficulty strong-shift
    python -m study.make_data /data/synthetic-clean --difficulty embedded --annotation-bias 0
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from study.cli import (
    HelpFormatter,
    OneLineParser,
    _number,
    fraction,
    non_negative_int,
    positive_int,
)
from trainables.config import DEFAULT_CLASSES
from trainables.errors import UserInputError
from trainables.synthetic import (
    DEFAULT_VIDEOS_PER_CLASS,
    DIFFICULTIES,
    class_counts,
    generate_dataset,
)

#: Upper limits of the domain-shift flags: beyond them the generated images or labels stop
#: being a plausible data set (washed-out colours, more flipped than kept labels).
MAX_SHIFT = 2.0
MAX_ANNOTATION_BIAS = 3.0


def _between(low: float, high: float):
    """A parser for a number in [low, high] that reports bad input in one line."""
    what = f"a number in [{low:g}, {high:g}]"
    at_least = _number(float, low, True, what)

    def parse(text: str) -> float:
        value = at_least(text)
        if not value <= high:  # also refuses nan, which passes the lower bound's test
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


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
                           formatter_class=HelpFormatter)
    parser.add_argument("out", help="folder to create (must not exist)")
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="embedded",
                        help="appearance, expression and domain-shift knobs "
                             "(trainables/synthetic.py)")
    parser.add_argument("--shift", type=_between(0.0, MAX_SHIFT), default=None,
                        help=f"appearance shift of Val/Test from Train, 0 to {MAX_SHIFT:g}: "
                             f"0 none, 1 the default [the difficulty's]")
    parser.add_argument("--annotation-bias", type=_between(0.0, MAX_ANNOTATION_BIAS),
                        default=None,
                        help=f"multiplies the label-flip fractions, 0 to "
                             f"{MAX_ANNOTATION_BIAS:g}: 0 clean labels, 1 the default "
                             f"[the difficulty's]")
    parser.add_argument("--class-imbalance", type=fraction, default=None,
                        help="opposite class priors in Train and Val/Test, in [0, 1): 0 "
                             "balanced [the difficulty's]")
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
    overrides = {name: getattr(args, name)
                 for name in ("shift", "annotation_bias", "class_imbalance")
                 if getattr(args, name) is not None}
    difficulty = dataclasses.replace(DIFFICULTIES[args.difficulty], **overrides)
    generate_dataset(out, seed=args.seed, videos_per_class=plan,
                     frames_per_video=(args.min_frames, args.max_frames),
                     difficulty=difficulty)
    videos = sum(sum(class_counts(split, len(DEFAULT_CLASSES), per_class,
                                  difficulty.class_imbalance))
                 for split, per_class in plan.items())
    print(f"Wrote {videos} videos to {out} ({args.difficulty}: shift {difficulty.shift:g}, "
          f"annotation bias {difficulty.annotation_bias:g}, class imbalance "
          f"{difficulty.class_imbalance:g}); use it with python -m study.run --data-root {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
