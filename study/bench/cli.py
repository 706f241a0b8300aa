"""The command line of ``python -m study.bench``: its flags, and ``main``, which runs the
speed benchmark or, with ``--learning``, the learning benchmark, or with ``--methods``, the
methods benchmark, and prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import torch

import study.bench
from study.bench.learning import (
    FIT_FRACTION,
    LEARNING_NETA_EPOCHS,
    LEARNING_NETB_EPOCHS,
    learning_benchmark,
)
from study.bench.methods import DEFAULT_SEEDS, methods_benchmark
from study.bench.speed import (
    FULL_FRAMES,
    QUICK_FRAMES,
    QUICK_TRIVIAL_TRIALS,
    TRIVIAL_TRIALS,
    SpeedSettings,
    speed_benchmark,
)
from study.cli import OneLineParser, positive_int
from trainables.config import METHODS
from trainables.engine import choose_device
from trainables.synthetic import DIFFICULTIES


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.bench",
                           description=study.bench.__doc__.split("\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"about 2 minutes on 2 CPU cores: {QUICK_FRAMES} frames for (a) "
                             f"and (b), no (d) or (e)")
    parser.add_argument("--frames", type=positive_int, default=None,
                        help=f"frames for (a) and (b) [{FULL_FRAMES}; {QUICK_FRAMES} with --quick]")
    trials = f"trials for (c) [{TRIVIAL_TRIALS}; {QUICK_TRIVIAL_TRIALS} with --quick]"
    parser.add_argument("--trivial-trials", type=positive_int, default=None, help=trials)
    parser.add_argument("--skip-study", action="store_true", help="leave out (d)")
    parser.add_argument("--paper-scale", action="store_true",
                        help="add the paper-scale extraction and epoch (for a GPU)")
    parser.add_argument("--learning", action="store_true",
                        help="run only the learning benchmark: NetB, NetA at lam=1 and the "
                             "linear probe on the embedded and a hard generated set; epochs "
                             f"to fit = first epoch reaching {FIT_FRACTION:g} x the run's best "
                             "own-split video accuracy")
    parser.add_argument("--netb-epochs", type=positive_int, default=LEARNING_NETB_EPOCHS,
                        help="with --learning or --methods: NetB's epoch cap (it stops on "
                             "a plateau)")
    parser.add_argument("--neta-epochs", type=positive_int, default=LEARNING_NETA_EPOCHS,
                        help="with --learning or --methods: NetA's epochs")
    parser.add_argument("--methods", action="store_true",
                        help="run only the methods benchmark: NetA with every method "
                             f"({', '.join(METHODS)}) at its default knobs, "
                             "same seeds, epochs and selection rule, beside NetB on the target "
                             "labels; held-out accuracy's mean and 95%% CI over seeds")
    parser.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS,
                        help="with --methods: seeds 0..N-1, each for every method")
    parser.add_argument("--methods-data", choices=sorted(DIFFICULTIES), default="embedded",
                        help="with --methods: the data set (embedded: the study's own; "
                             "others are generated, like --learning's hard set)")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = choose_device()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.methods:
        return methods_benchmark(device, data_name=args.methods_data, seeds=args.seeds,
                                 netb_epochs=args.netb_epochs, neta_epochs=args.neta_epochs)
    if args.learning:
        return learning_benchmark(device, netb_epochs=args.netb_epochs,
                                  neta_epochs=args.neta_epochs)
    return speed_benchmark(SpeedSettings(quick=args.quick, frames=args.frames,
                                         trivial_trials=args.trivial_trials,
                                         skip_study=args.skip_study,
                                         paper_scale=args.paper_scale), device)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.methods and args.learning:
        parser.error("--methods and --learning are separate benchmarks: give one of them")
    summary = run(args)
    print(json.dumps(summary))
    return 0
