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

``--task va`` writes the dimensional (valence-arousal) set of trainables.synthetic_va instead,
in the Aff-Wild layout (``<Split>/<video_id>/<n>.png`` frames, ``<Split>/<video_id>.txt``
annotations, ``manifest.csv`` and the drawn truth in ``truth.csv``). ``--videos`` sets its
videos per split (``--videos-per-class`` is for the classes task), ``--min-frames`` and
``--max-frames`` default to 20 and 50, and ``--shift`` scales the appearance shift as above;
``--difficulty``, ``--annotation-bias`` and ``--class-imbalance`` are refused, the VA set's
annotation bias being fixed (``trainables.synthetic_va.VA_ANNOTATION_BIAS``):

    python -m study.make_data /data/synthetic-va --task va --videos Train=120,Val=60,Test=30
    python -m study.run --task va --data-root /data/synthetic-va
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
from trainables.synthetic_va import DEFAULT_VA_FRAMES, DEFAULT_VA_VIDEOS, generate_va_dataset

#: Upper limits of the domain-shift flags: beyond them the generated images or labels stop
#: being a plausible data set (washed-out colours, more flipped than kept labels).
MAX_SHIFT = 2.0
MAX_ANNOTATION_BIAS = 3.0
TASKS = ("classes", "va")
#: Default (min, max) frames per video of each task.
DEFAULT_FRAMES = {"classes": (12, 40), "va": DEFAULT_VA_FRAMES}
#: Flags of the classes task that --task va refuses (argparse destinations).
CLASSES_ONLY = ("difficulty", "annotation_bias", "class_imbalance", "videos_per_class")


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


def _plan_text(plan: dict[str, int]) -> str:
    return ",".join(f"{split}={count}" for split, count in plan.items())


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.make_data", description=__doc__.split("\n")[0],
                           formatter_class=HelpFormatter)
    parser.add_argument("out", help="folder to create (must not exist)")
    parser.add_argument("--task", choices=TASKS, default="classes",
                        help="classes: the AFEW-like set of seven emotion classes "
                             "(trainables/synthetic.py); va: the Aff-Wild-like set of "
                             "per-frame valence and arousal (trainables/synthetic_va.py)")
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default=None,
                        help="appearance, expression and domain-shift knobs "
                             "(trainables/synthetic.py); classes only [embedded]")
    parser.add_argument("--shift", type=_between(0.0, MAX_SHIFT), default=None,
                        help=f"appearance shift of Val/Test from Train, 0 to {MAX_SHIFT:g}: "
                             f"0 none, 1 the default [the difficulty's; 1 for va]")
    parser.add_argument("--annotation-bias", type=_between(0.0, MAX_ANNOTATION_BIAS),
                        default=None,
                        help=f"multiplies the label-flip fractions, 0 to "
                             f"{MAX_ANNOTATION_BIAS:g}: 0 clean labels, 1 the default; "
                             f"classes only [the difficulty's]")
    parser.add_argument("--class-imbalance", type=fraction, default=None,
                        help="opposite class priors in Train and Val/Test, in [0, 1): 0 "
                             "balanced; classes only [the difficulty's]")
    parser.add_argument("--videos-per-class", type=videos_per_split, default=None,
                        help=f"videos per class in each split; classes only "
                             f"[{_plan_text(DEFAULT_VIDEOS_PER_CLASS)}]")
    parser.add_argument("--videos", type=videos_per_split, default=None,
                        help=f"videos in each split; va only [{_plan_text(DEFAULT_VA_VIDEOS)}]")
    parser.add_argument("--min-frames", type=positive_int, default=None,
                        help=f"[{DEFAULT_FRAMES['classes'][0]} for classes, "
                             f"{DEFAULT_FRAMES['va'][0]} for va]")
    parser.add_argument("--max-frames", type=positive_int, default=None,
                        help=f"[{DEFAULT_FRAMES['classes'][1]} for classes, "
                             f"{DEFAULT_FRAMES['va'][1]} for va]")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.task == "va":
        for dest in CLASSES_ONLY:
            if getattr(args, dest) is not None:
                parser.error(f"{_flag(dest)} does not apply to --task va")
    elif args.videos is not None:
        parser.error("--videos is for --task va; use --videos-per-class with --task classes")
    low, high = DEFAULT_FRAMES[args.task]
    args.min_frames = low if args.min_frames is None else args.min_frames
    args.max_frames = high if args.max_frames is None else args.max_frames
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
    if args.task == "va":
        return _make_va(args, out)
    plan = args.videos_per_class or DEFAULT_VIDEOS_PER_CLASS
    args.difficulty = args.difficulty or "embedded"
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


def _make_va(args: argparse.Namespace, out: Path) -> int:
    """``--task va``: the valence-arousal set of trainables.synthetic_va."""
    plan = args.videos or DEFAULT_VA_VIDEOS
    shift = 1.0 if args.shift is None else args.shift
    generate_va_dataset(out, seed=args.seed, videos_per_split=plan,
                        frames_per_video=(args.min_frames, args.max_frames), shift=shift)
    print(f"Wrote {sum(plan.values())} valence-arousal videos to {out} (shift {shift:g}); use "
          f"it with python -m study.run --task va --data-root {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
