"""The command line of ``python -m study.run``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from study import defaults
from study.settings import RunOptions, StudySettings
from trainables.config import (
    BACKBONES,
    BATCH_SIZE,
    HELDOUT,
    INPUT_NORMS,
    LEARNING_RATE,
    SELECTION_METRICS,
    TASKS,
    TRACKED_ACCURACIES,
    TRACKED_VA,
    VA_GRID,
    VA_RULE,
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it is None (those flags state theirs in [brackets])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad input as a single line on stderr and exits with 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def _number(kind: type, minimum: float, inclusive: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum or (not inclusive and value == minimum):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


non_negative_int = _number(int, 0, True, "a whole number >= 0")
positive_int = _number(int, 0, False, "a whole number >= 1")
positive_float = _number(float, 0.0, False, "a number > 0")


def grid_size(text: str) -> int:
    """A valence-arousal grid: 2 to 100 cells a side."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 2 to 100") from None
    if not 2 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 2 to 100")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in [0, 1)") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in [0, 1)")
    return value


def selection_metric(text: str) -> str:
    """An accuracy (or, with --task va, a mean CCC) that may drive choices: held-out ones are
    only ever reported."""
    if text in SELECTION_METRICS:
        return text
    if text.startswith(HELDOUT) and (text in TRACKED_ACCURACIES or text in TRACKED_VA):
        raise argparse.ArgumentTypeError(
            f"{text!r} is held out: it is scored, never used to choose; pick one of "
            f"{', '.join(SELECTION_METRICS)}")
    raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(SELECTION_METRICS)}")


def objective_list(text: str) -> tuple[str, ...]:
    """Two or more distinct accuracies that may drive choices (never a held-out one)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        selection_metric(name)
    if len(names) < 2 or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not two or more distinct accuracies, e.g. "
            f"target_video_acc,source_video_acc; for one, use --metric")
    return names


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m study.run",
        description="Train NetB on the target split, share its centroids through the Ray "
                    "object store, then search NetA's lam / normalisation / cell / sequence "
                    "length with Optuna on Ray Tune (Kollias & Zafeiriou, IJCNN 2018).",
        formatter_class=HelpFormatter,
    )
    resources = parser.add_argument_group("resources (may change on --resume)")
    resources.add_argument("--gpus", type=non_negative_int, default=None,
                           help="GPUs the study may use; each trial holds --gpus-per-trial of "
                                "them. 0 runs CPU trials. Default: every GPU Ray sees.")
    resources.add_argument("--gpus-per-trial", type=positive_float,
                           default=defaults.GPUS_PER_TRIAL,
                           help="GPU share of one trial; a fraction such as 0.25 packs several "
                                "small trials onto one GPU.")
    resources.add_argument("--cpus-per-trial", type=positive_float,
                           default=defaults.CPUS_PER_TRIAL,
                           help="CPUs reserved by each trial (and its torch threads).")
    resources.add_argument("--address", default=None,
                           help="join an existing Ray cluster (e.g. 10.0.0.1:6379 or 'auto') "
                                "instead of starting a local one.")
    resources.add_argument("--dashboard-host", default=defaults.DASHBOARD_HOST,
                           help="interface the Ray dashboard of a local cluster binds to.")
    resources.add_argument("--max-failures", type=non_negative_int,
                           default=defaults.MAX_FAILURES,
                           help="times Ray retries a failed trial from its last checkpoint.")
    resources.add_argument("--no-progress", action="store_true",
                           help="hide progress bars (Ray's trial table still prints).")

    data = parser.add_argument_group("data (fixed for the life of a study)")
    data.add_argument("--data-root", default=None,
                      help="AFEW-layout root ROOT/<Split>/<Emotion>/<video>/<frame>. Default: "
                           "the embedded synthetic two-domain set, generated on first use.")
    data.add_argument("--manifest", default=None,
                      help="CSV with video_dir,label,split columns, instead of the folder "
                           "layout.")
    data.add_argument("--source-split", default=None,
                      help=f"NetA's training split [{defaults.SOURCE_SPLIT}].")
    data.add_argument("--target-split", default=None,
                      help=f"NetB's split, whose accuracy selects trials "
                           f"[{defaults.TARGET_SPLIT}].")
    data.add_argument("--test-split", default=None,
                      help="held-out split: scored every epoch, never used for any choice. "
                           "Default: the embedded set's Test split; with --data-root, "
                           "--target-holdout of the target videos.")
    data.add_argument("--target-holdout", type=fraction, default=None,
                      help=f"fraction of the target videos held out (stratified by class, "
                           f"seeded) when there is no --test-split; 0 is the paper's protocol "
                           f"(selection on the evaluation split, optimistic) "
                           f"[{defaults.TARGET_HOLDOUT}].")
    data.add_argument("--task", default=None, choices=TASKS,
                      help="what the study predicts: emotion categories (classes), or "
                           "per-frame valence and arousal (va: Aff-Wild-style annotations, "
                           "a --va-grid grid of classes, CCC as the objective) [classes].")
    data.add_argument("--va-grid", type=grid_size, default=None,
                      help=f"with --task va: G, the G x G grid of valence-arousal classes "
                           f"(a space may search it as va_grid) [{VA_GRID}, the paper's].")
    data.add_argument("--va-rule", default=None, choices=("expected", "argmax"),
                      help=f"with --task va: a prediction's (valence, arousal) is the "
                           f"score-weighted mean of the cell centres, or the best cell's "
                           f"centre [{VA_RULE}].")
    data.add_argument("--classes", default=None,
                      help="comma-separated class list in index order [the paper's seven].")

    search = parser.add_argument_group("search (fixed for the life of a study)")
    search.add_argument("--trials", type=positive_int, default=None,
                        help=f"NetA trials in the study [{defaults.TRIALS}, or the space's own].")
    search.add_argument("--epochs", type=positive_int, default=None,
                        help=f"epochs per NetA trial [{defaults.EPOCHS}].")
    search.add_argument("--netb-epochs", type=positive_int, default=None,
                        help=f"epochs of NetB [{defaults.NETB_EPOCHS}].")
    search.add_argument("--space", default=None,
                        help=f"search space module in search_spaces/ [{defaults.SPACE}].")
    search.add_argument("--metric", default=None, type=selection_metric,
                        help=f"accuracy (or mean CCC) whose best-so-far value Optuna "
                             f"maximises; one of {', '.join(SELECTION_METRICS)} (never a "
                             f"held-out one) [{defaults.METRIC}; {defaults.VA_METRIC} with "
                             f"--task va].")
    search.add_argument("--objectives", default=None, type=objective_list,
                        help="comma-separated accuracies (two or more, none held out) for a "
                             "multi-objective Optuna search; their Pareto front is reported. "
                             "Trials are still selected and ranked by --metric.")
    search.add_argument("--scheduler", default=None, choices=defaults.SCHEDULERS,
                        help=f"trial scheduler; asha stops poor trials early "
                             f"[{defaults.SCHEDULER}].")
    search.add_argument("--seed", type=non_negative_int, default=None,
                        help=f"seed of NetB, the sampler and the trials "
                             f"[{defaults.SEED}].")
    search.add_argument("--repeats", type=positive_int, default=None,
                        help=f"seeds per configuration, run as separate Ray trials; Optuna "
                             f"learns from their mean [{defaults.REPEATS}].")
    search.add_argument("--confirm-top", type=non_negative_int, default=None,
                        help=f"after the search, re-run the K best configurations with "
                             f"--repeats seeds each (Optuna's history is unchanged) "
                             f"[{defaults.CONFIRM_TOP}].")
    search.add_argument("--rounds", type=positive_int, default=None,
                        help=f"block-component rounds (the paper's future work): in round "
                             f"r > 1 NetB is trained again towards the centroids of the best "
                             f"NetA configuration's source representations, and that "
                             f"configuration's NetA again towards NetB's new Z, each from its "
                             f"round r - 1 weights [{defaults.ROUNDS}: the paper].")
    search.add_argument("--force", action="store_true",
                        help="go on to the trials even when NetB has not learned its split "
                             "(its centroids are then meaningless).")

    model = parser.add_argument_group("model (fixed for the life of a study)")
    model.add_argument("--backbone", default=None, choices=BACKBONES,
                       help="frozen CNN: vgg16 (Table I) or a small CPU-friendly CNN [small].")
    model.add_argument("--backbone-weights", default=None,
                       help="VGG-Face or torchvision VGG-16 state dict (.pt), loaded with "
                            "weights_only; python -m study.convert_weights makes one from "
                            "Oxford's vgg_face.mat or VGG_FACE.t7.")
    model.add_argument("--input-norm", default=None, choices=INPUT_NORMS,
                       help="how frames reach the CNN: paper ([-1, 1], Section IV-B) or "
                            "vggface (0-255 RGB minus VGG-Face's mean colour, as VGG-Face was "
                            "trained; needs --backbone vgg16 and VGG-Face --backbone-weights) "
                            "[paper].")
    model.add_argument("--train-backbone", action="store_true", default=None,
                       help="train the CNN too (the paper keeps it frozen); disables the "
                            "feature cache.")
    model.add_argument("--batch-size", type=positive_int, default=None,
                       help=f"sequences per step [{BATCH_SIZE}].")
    model.add_argument("--lr", type=positive_float, default=None,
                       help=f"Adam learning rate [{LEARNING_RATE}].")
    model.add_argument("--paper-init", action="store_true", default=None,
                       help="truncated-normal weights and unit biases, as in Section IV-A.")

    study = parser.add_argument_group("study folder")
    study.add_argument("--name", default=None,
                       help="study name, the folder under --storage-path [study-<time>].")
    study.add_argument("--storage-path", default=defaults.STORAGE_PATH,
                       help="folder, or URI that pyarrow opens (s3://, gs://, hdfs://, "
                            "file://), where studies live. On a multi-node cluster it must be "
                            "shared by every node: a URI, or an NFS or other network mount.")
    study.add_argument("--optuna-storage", default=None, metavar="URL",
                       help="database URL of an Optuna storage (postgresql://, mysql://, "
                            "sqlite:///) that keeps the study's Optuna trials, as an Optuna "
                            "study named --name; give it again on --resume (it may hold a "
                            "password, so it is never stored). Default: optuna.journal in the "
                            "study folder.")
    study.add_argument("--resume", action="store_true",
                       help="continue the study --name: keep finished trials, continue "
                            "interrupted ones from their last checkpoint, reuse NetB.")
    return parser


def typed_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The study settings the user typed (argparse leaves the others at None), as values of
    :class:`StudySettings` fields."""
    given = {f.name: getattr(args, f.name, None) for f in fields(StudySettings)}
    given = {key: value for key, value in given.items() if value is not None}
    if "classes" in given:
        given["classes"] = tuple(c.strip() for c in given["classes"].split(",") if c.strip())
    for key in ("data_root", "manifest", "backbone_weights"):
        if key in given:
            given[key] = str(Path(given[key]).expanduser().resolve())
    return given


def run_options(args: argparse.Namespace) -> RunOptions:
    """This run's folder, cluster, resources and console flags."""
    return RunOptions(name=args.name, storage_path=args.storage_path, resume=args.resume,
                      address=args.address, dashboard_host=args.dashboard_host,
                      gpus=args.gpus, gpus_per_trial=args.gpus_per_trial,
                      cpus_per_trial=args.cpus_per_trial, max_failures=args.max_failures,
                      progress=not args.no_progress, force=args.force,
                      optuna_storage=args.optuna_storage)
