"""``python -m study.bench``: what the feature cache and Ray Tune cost and save, side by side.

One run measures, on the same device:

(a) frames/s of a NetA training epoch from decoded frames through the frozen VGG-16;
(b) frames/s of the same epoch from cached VGG-16 features (plus the one-off extraction);
(c) Ray Tune's overhead per trial: N trivial trials against the same work in a plain loop;
(d) the wall time of the embedded default study (``python -m study.run``), unless --quick;
(e) bf16 autocast against fp32: speed and accuracy of the same short training, unless --quick.

``--paper-scale`` adds the paper's sizes (45,000 source and 19,000 target frames, VGG-16,
FC 4096, two GRU layers of 128, L = 80): feature extraction for all 64,000 frames and one
NetA epoch. It is meant for a GPU.

``--learning`` runs instead a learning benchmark (none of (a)-(e)): on the embedded data set
and on a harder generated one (``trainables.synthetic.HARD``), both through the ``small``
frozen CNN's cached features, side by side: NetB (trained on the target split, stopping on a
plateau within ``--netb-epochs``), NetA at lam = 1 (trained on the source split for
``--neta-epochs``) and the linear probe (trainables/probe.py) fitted on the same splits'
features, with the majority-class chance. For each network: the epochs and optimisation
steps it needs to *fit* its own split, i.e. the first epoch whose own-split video accuracy
reaches 0.9 x the best own-split video accuracy it reaches in the run (that best is printed
too), its accuracy on its own split at the end (NetB: its kept best epoch; NetA: its last
epoch), and its held-out video accuracy. A network whose own-split accuracy is below the
probe's held-out accuracy has not learned (trainables.probe.learning_floor). It takes
about 16 minutes on 2 shared CPU cores (mostly NetB and NetA epochs; ``--netb-epochs``
and ``--neta-epochs`` shorten it).

Speed is measured here, never asserted in tests: the ratios come from one run on one device.
The last line printed is a single JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from study import defaults
from study.cli import OneLineParser, positive_int
from study.data_roles import EMBEDDED_DATA_SEED
from trainables.backbones import build_backbone
from trainables.config import (
    DEFAULT_CLASSES,
    HELDOUT,
    IMAGE_SIZE,
    SEQUENCE_LENGTH,
    SOURCE,
    TARGET,
    TRACKED_ACCURACIES,
)
from trainables.data import SplitData, load_split
from trainables.engine import (
    DeviceSplit,
    SplitArrays,
    StudyArrays,
    choose_device,
    evaluate,
    train_epoch,
)
from trainables.features import (
    extract_features,
    feature_cache_path,
    load_features,
    save_features,
)
from trainables.neta import train_neta
from trainables.netb import train_netb
from trainables.network import NetworkSettings, build_network, make_optimizer
from trainables.probe import chance_accuracy, linear_probe
from trainables.synthetic import HARD, embedded_dataset, generate_dataset

if TYPE_CHECKING:
    from study.inputs import Backbone

#: The embedded data set's seed (``study.driver`` uses the same).

QUICK_FRAMES = 160
FULL_FRAMES = 800
FRAMES_PER_VIDEO = 40
#: Repeat the cheap cached epoch until this much time has passed, for a stable rate.
MIN_TIMED_S = 2.0
PAPER_SOURCE_FRAMES = 45_000
PAPER_TARGET_FRAMES = 19_000
AUTOCAST_EPOCHS = 4


@dataclass
class Row:
    measurement: str
    value: float | None
    unit: str
    note: str = ""


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU: {model}, {os.cpu_count()} cores"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Seconds ``function`` takes (device work included) and what it returns."""
    _sync(device)
    start = time.perf_counter()
    value = function()
    _sync(device)
    return time.perf_counter() - start, value


def random_split(frames: int, seed: int, name: str = "bench") -> SplitArrays:
    """Noise frames cut into videos of FRAMES_PER_VIDEO (content does not change speed)."""
    rng = np.random.default_rng(seed)
    offsets = np.unique(np.r_[np.arange(0, frames, FRAMES_PER_VIDEO), frames]).astype(np.int64)
    video_labels = rng.integers(0, len(DEFAULT_CLASSES), len(offsets) - 1)
    frame_labels = np.repeat(video_labels, np.diff(offsets))
    images = rng.integers(0, 256, (frames, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    return SplitArrays(name, "frames", images, frame_labels, offsets, video_labels,
                       tuple(DEFAULT_CLASSES))


def with_features(split: SplitArrays, features: np.ndarray) -> SplitArrays:
    return SplitArrays(split.name, "features", features, split.frame_labels,
                       split.video_offsets, split.video_labels, split.classes)


class EpochRunner:
    """One NetA training epoch (eq. 9 at lam = 0.5) over a split, on one device.

    One seed gives one network, on frames or on cached features alike: the same head
    weights and the same centroids (the frame runner's VGG-16 is seeded too).
    """

    def __init__(self, arrays: SplitArrays, device: torch.device, *, autocast: bool = False,
                 seq_len: int = SEQUENCE_LENGTH, seed: int = 0):
        self.settings = NetworkSettings(backbone="vgg16", seq_len=seq_len)
        torch.manual_seed(seed)
        network = build_network(self.settings, arrays)
        if arrays.kind == "frames":
            # The VGG-16 drew from the seeded RNG first: give the head the draws that a
            # runner on cached features gets, so that one seed means one network.
            width = network.head.fc[0].in_features
            torch.manual_seed(seed)
            head = build_network(self.settings, with_features(arrays, np.empty((0, width))))
            network.head.load_state_dict(head.state_dict())
        self.network = network.to(device)
        self.optimizer = make_optimizer(self.network, self.settings)
        self.split = DeviceSplit.create(arrays, device)
        centroid_rng = torch.Generator().manual_seed(seed)
        self.centroids = torch.randn(len(arrays.classes), self.settings.rnn_hidden,
                                     generator=centroid_rng).to(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.autocast = autocast

    def epoch(self, lam: float = 0.5) -> dict[str, float]:
        return train_epoch(self.network, self.split, self.optimizer, self.centroids, lam=lam,
                           normalisation="softmax", seq_len=self.settings.seq_len,
                           batch_size=self.settings.batch_size, generator=self.generator,
                           autocast=self.autocast)

    def evaluate(self, split: DeviceSplit) -> np.ndarray:
        return evaluate(self.network, split, self.centroids, lam=1.0, normalisation="softmax",
                        seq_len=self.settings.seq_len, batch_size=self.settings.batch_size,
                        autocast=self.autocast).scores

    def rate(self, device: torch.device) -> float:
        """Training frames per second, over as many epochs as MIN_TIMED_S needs."""
        self.epoch()  # warm-up: allocator, cuDNN plans, first-touch of pages
        epochs, elapsed = 0, 0.0
        while elapsed < MIN_TIMED_S or epochs == 0:
            elapsed += timed(self.epoch, device)[0]
            epochs += 1
        return epochs * self.split.arrays.num_frames / elapsed


def cache_comparison(frames: int, device: torch.device) -> tuple[list[Row], dict[str, float]]:
    """(a) and (b): the frame path and the cached-feature path of the same epoch."""
    split = random_split(frames, seed=0)
    uncached = EpochRunner(split, device)
    uncached.epoch()  # warm-up on the slow path is one untimed epoch too
    seconds = timed(uncached.epoch, device)[0]
    frames_uncached = frames / seconds
    # (a)'s own frozen VGG-16 computes (b)'s features, so (b) trains (a)'s network.
    backbone = uncached.network.backbone
    extract_s, features = timed(lambda: extract_features(backbone, split.inputs, device=device),
                                device)
    frames_cached = EpochRunner(with_features(split, features), device).rate(device)
    figures = {"frames_per_s_uncached": frames_uncached, "frames_per_s_cached": frames_cached,
               "speedup_cached": frames_cached / frames_uncached,
               "extract_frames_per_s": frames / extract_s}
    rows = [Row("(a) NetA epoch from frames (VGG-16 each step)", frames_uncached, "frames/s",
                f"{frames} frames, L={SEQUENCE_LENGTH}"),
            Row("(b) NetA epoch from cached features", frames_cached, "frames/s"),
            Row("    speed-up (b)/(a)", figures["speedup_cached"], "x"),
            Row("    one-off VGG-16 feature extraction", figures["extract_frames_per_s"],
                "frames/s")]
    return rows, figures


def _trivial_work(config: dict[str, Any]) -> dict[str, float]:
    return {"score": float(config["index"]) ** 2}


def _trivial_trainable(config: dict[str, Any]) -> None:
    from ray import tune
    tune.report(_trivial_work(config))


def tune_overhead(trials: int) -> tuple[list[Row], dict[str, float]]:
    """(c) Wall time of ``trials`` trivial Tune trials minus a plain loop, per trial."""
    import ray
    from ray import tune

    loop_s = timed(lambda: [_trivial_work({"index": i}) for i in range(trials)],
                   torch.device("cpu"))[0]
    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as storage:
            tuner = tune.Tuner(
                tune.with_resources(_trivial_trainable, {"cpu": 1}),
                param_space={"index": tune.grid_search(list(range(trials)))},
                run_config=tune.RunConfig(storage_path=storage, name="overhead", verbose=0))
            tune_s = timed(tuner.fit, torch.device("cpu"))[0]
        cpus = ray.cluster_resources().get("CPU", 1)
    finally:
        ray.shutdown()
    overhead = (tune_s - loop_s) / trials
    note = f"{trials} trials, up to {cpus:g} at once; Ray start-up excluded"
    return [Row("(c) Ray Tune overhead per trial", overhead, "s", note)], {
        "trial_overhead_s": overhead, "trivial_trials": trials}


def default_study() -> tuple[list[Row], dict[str, float]]:
    """(d) ``python -m study.run`` with every default, into a throw-away folder."""
    with tempfile.TemporaryDirectory() as storage:
        command = [sys.executable, "-m", "study.run", "--storage-path", storage,
                   "--name", "bench", "--no-progress"]
        seconds = timed(lambda: subprocess.run(command, check=True, capture_output=True),
                        torch.device("cpu"))[0]
    return [Row("(d) embedded default study, wall time", seconds, "s",
                "data and feature caches warm if run before")], {"default_study_s": seconds}


def autocast_check(frames: int, device: torch.device) -> tuple[list[Row], dict[str, float]]:
    """(e) The same short training in fp32 and under bf16 autocast: speed and accuracy.

    Labels are learnable here (a class-dependent offset on noise features), so accuracy
    means something; both runs share the seed and data.
    """
    split = random_split(frames, seed=1)
    rng = np.random.default_rng(1)
    features = rng.normal(0, 1, (frames, 4608)).astype(np.float32)
    features[:, :len(DEFAULT_CLASSES)] += 3 * np.eye(len(DEFAULT_CLASSES))[split.frame_labels]
    arrays = with_features(split, features.astype(np.float16))
    rows, figures = [], {}
    for label, autocast in (("fp32", False), ("bf16", True)):
        runner = EpochRunner(arrays, device, autocast=autocast, seed=2)
        seconds = timed(lambda r=runner: [r.epoch(lam=1.0) for _ in range(AUTOCAST_EPOCHS)],
                        device)[0]
        accuracy = float((runner.evaluate(runner.split).argmax(1) == split.frame_labels).mean())
        figures[f"accuracy_{label}"], figures[f"frames_per_s_{label}"] = accuracy, (
            AUTOCAST_EPOCHS * frames / seconds)
        rows += [Row(f"(e) {label}: frame accuracy after {AUTOCAST_EPOCHS} epochs", accuracy, ""),
                 Row(f"    {label}: training", figures[f"frames_per_s_{label}"], "frames/s")]
    return rows, figures


def paper_scale(device: torch.device) -> tuple[list[Row], dict[str, float]]:
    """Feature extraction for 64,000 frames and one NetA epoch at the paper's sizes."""
    source = random_split(PAPER_SOURCE_FRAMES, seed=3, name="source")
    target = random_split(PAPER_TARGET_FRAMES, seed=4, name="target")
    backbone = build_backbone("vgg16")
    extract_features(backbone, source.inputs[:512], device=device)  # warm-up
    extract_s, features = timed(lambda: [extract_features(backbone, split.inputs, device=device)
                                         for split in (source, target)], device)
    autocast = device.type == "cuda"
    runner = EpochRunner(with_features(source, features[0]), device, autocast=autocast)
    target_split = DeviceSplit.create(with_features(target, features[1]), device)
    runner.epoch()  # warm-up
    train_s = timed(runner.epoch, device)[0]
    eval_s = timed(lambda: [runner.evaluate(s) for s in (runner.split, target_split)], device)[0]
    total = PAPER_SOURCE_FRAMES + PAPER_TARGET_FRAMES
    return [Row("paper scale: VGG-16 features, 64,000 frames", extract_s, "s",
                "target <= 60 s on an H100"),
            Row("paper scale: NetA epoch, train on 45,000 source", train_s, "s"),
            Row("paper scale: NetA epoch, evaluate source + target", eval_s, "s"),
            Row("paper scale: NetA epoch, train + evaluate", train_s + eval_s, "s",
                "target <= 2 s on an H100")], {
        "paper_extract_s": extract_s, "paper_extract_frames": total,
        "paper_epoch_train_s": train_s, "paper_epoch_eval_s": eval_s,
        "paper_epoch_s": train_s + eval_s}


# ----------------------------------------------------------------------------- --learning

LEARNING_SEED = 0
LEARNING_BACKBONE = "small"
LEARNING_NETB_EPOCHS = defaults.NETB_EPOCHS   # the study's cap: NetB stops on a plateau
LEARNING_NETA_EPOCHS = 8
#: A run has fitted its own split at the first epoch whose own-split video accuracy reaches
#: this fraction of the best own-split video accuracy of the run.
FIT_FRACTION = 0.9
#: Split names of the generated sets, by role (the embedded study's choice).
LEARNING_SPLITS = {SOURCE: "Train", TARGET: "Val", HELDOUT: "Test"}
HARD_DATA_SEED = 0
HARD_VIDEOS_PER_CLASS = {"Train": 20, "Val": 14, "Test": 14}
HARD_FRAMES_PER_VIDEO = (16, 40)
#: (model key, label, split it trains on) of the table's rows, per data set.
LEARNING_MODELS = (("netb", "NetB", TARGET), ("probe", "linear probe", TARGET),
                   ("neta", "NetA lam=1", SOURCE), ("source_probe", "linear probe", SOURCE),
                   ("chance", "majority class", None))


def embedded_learning_set(workdir: Path) -> tuple[Path, Path | None]:
    """The embedded data set, with the study's own frame and feature caches."""
    del workdir
    return embedded_dataset(seed=EMBEDDED_DATA_SEED), None


def hard_learning_set(workdir: Path) -> tuple[Path, Path | None]:
    """A harder set the defaults were not tuned on, generated (and cached) in ``workdir``."""
    root = generate_dataset(workdir / "hard", seed=HARD_DATA_SEED,
                            videos_per_class=HARD_VIDEOS_PER_CLASS,
                            frames_per_video=HARD_FRAMES_PER_VIDEO, difficulty=HARD,
                            progress=False)
    return root, workdir / "hard-cache"


#: name -> (work folder -> (data root, cache folder or None for the user's cache)).
LEARNING_SETS: dict[str, Callable[[Path], tuple[Path, Path | None]]] = {
    "embedded": embedded_learning_set, "hard": hard_learning_set}


def fit_point(history: list[dict[str, Any]], key: str,
              fraction: float = FIT_FRACTION) -> dict[str, float]:
    """When a run fitted its own split, from its per-epoch ``history`` (rows with ``epoch``,
    cumulative ``steps`` and ``key``): the first epoch whose ``key`` reaches ``fraction`` x
    the best ``key`` of the run (``fit_epoch``), the steps taken by then (``fit_steps``), that
    best (``best_own_video_acc``, whatever ``key`` is), the epochs run and the steps in all."""
    if not history:
        raise ValueError("an empty history has no fit epoch")
    best = max(float(row[key]) for row in history)
    first = next(row for row in history if float(row[key]) >= fraction * best)
    return {"fit_epoch": int(first["epoch"]), "fit_steps": int(first["steps"]),
            "best_own_video_acc": best, "epochs_run": len(history),
            "steps": int(history[-1]["steps"])}


def frozen_features(split: SplitData, backbone: Backbone, device: torch.device,
                    cache: Path | None) -> np.ndarray:
    """The split's features under the frozen backbone, from (or into) the feature cache the
    study uses (``cache`` None) or a private one."""
    path = feature_cache_path(split.cache_key, backbone.key,
                              None if cache is None else cache / "features")
    features = load_features(path)
    if features is None:
        save_features(path, extract_features(backbone.module(), split.frames, device=device))
        features = load_features(path)
    return features


def learning_arrays(root: Path, cache: Path | None, device: torch.device,
                    seed: int = LEARNING_SEED) -> StudyArrays:
    """Source, target and held-out splits of ``root`` as the study's trials see them: the
    ``small`` frozen CNN's cached features (built with the study's seed)."""
    from study.inputs import Backbone

    backbone = Backbone.build(LEARNING_BACKBONE, None, False, seed, IMAGE_SIZE)
    arrays = {}
    for role, name in LEARNING_SPLITS.items():
        split = load_split(root, name, progress=False,
                           cache_dir=None if cache is None else cache / "frames")
        arrays[role] = SplitArrays.from_split(split, frozen_features(split, backbone, device,
                                                                     cache))
    return StudyArrays(**arrays)


class StepCounter:
    """Counts every optimiser step taken in this process while it is entered."""

    def __init__(self) -> None:
        self.steps = 0

    def __enter__(self) -> StepCounter:
        def count(*_: Any) -> None:
            self.steps += 1
        self._handle = register_optimizer_step_post_hook(count)
        return self

    def __exit__(self, *_: Any) -> None:
        self._handle.remove()


def _accuracies(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}_{name}": float(metrics[name]) for name in TRACKED_ACCURACIES
            if name in metrics}


def learning_run(data: StudyArrays, *, netb_epochs: int, neta_epochs: int,
                 seed: int = LEARNING_SEED) -> dict[str, float]:
    """NetB, NetA at lam = 1 and the linear probes on one data set; flat figures."""
    threads = torch.get_num_threads()
    settings = NetworkSettings(backbone=LEARNING_BACKBONE)
    figures: dict[str, float] = {}
    started = time.perf_counter()
    netb = train_netb(data, settings, epochs=netb_epochs, seed=seed, threads=threads)
    figures["netb_seconds"] = time.perf_counter() - started
    figures.update({f"netb_{k}": v for k, v in
                    fit_point(netb.history, f"{TARGET}_video_acc").items()})
    figures.update(_accuracies("netb", netb.summary["metrics"]))

    history: list[dict[str, Any]] = []
    config = {"lam": 1.0, "normalisation": "softmax", "cell": settings.cell,
              "seq_len": settings.seq_len, "epochs": neta_epochs, "seed": seed,
              "metric": f"{TARGET}_video_acc", "batch_size": settings.batch_size,
              "lr": settings.lr, "backbone": LEARNING_BACKBONE}
    started = time.perf_counter()
    with StepCounter() as counter:
        # steps are counted here, at the optimiser, rather than read from the reports
        train_neta(config, data, netb.centroids.centroids, threads=threads,
                   report=lambda metrics, _: history.append({**metrics,
                                                             "steps": counter.steps}))
    figures["neta_seconds"] = time.perf_counter() - started
    figures.update({f"neta_{k}": v for k, v in
                    fit_point(history, f"{SOURCE}_video_acc").items()})
    figures.update(_accuracies("neta", history[-1]))

    roles = data.roles()
    started = time.perf_counter()
    for prefix, role in (("probe", TARGET), ("source_probe", SOURCE)):
        others = {other: arrays for other, arrays in roles.items() if other != role}
        figures.update(_accuracies(prefix, linear_probe(roles[role], others, train_role=role,
                                                        seed=seed)))
    figures["probe_seconds"] = time.perf_counter() - started
    for role, arrays in roles.items():
        figures[f"chance_{role}_video_acc"] = chance_accuracy(arrays.video_labels)
        figures[f"{role}_videos"] = len(arrays.video_labels)
        figures[f"{role}_frames"] = arrays.num_frames
    return figures


def _cell(value: Any, integer: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{int(value)}" if integer else f"{value:.3f}"


def _learning_row(figures: dict[str, Any], name: str, model: str, label: str,
                  own: str | None) -> dict[str, str]:
    def get(key: str) -> Any:
        return figures.get(f"{name}_{model}_{key}")

    own_acc = get(f"{own}_video_acc") if own else None
    verdict = heldout_margin = ""
    if own is not None and model in ("netb", "neta"):
        probe = "probe" if own == TARGET else "source_probe"
        floor = figures[f"{name}_{probe}_{HELDOUT}_video_acc"]  # trainables.probe.learning_floor
        verdict = "yes" if own_acc >= floor else "no: below the probe's held-out accuracy"
        margin = get(f"{HELDOUT}_video_acc") - figures[f"{name}_{probe}_{HELDOUT}_video_acc"]
        heldout_margin = f"{margin:+.3f}"
    return {"data": name, "model": label, "trained on": own or "-",
            "epochs run": _cell(get("epochs_run"), True),
            "fit epoch": _cell(get("fit_epoch"), True),
            "fit steps": _cell(get("fit_steps"), True),
            "best own video": _cell(get("best_own_video_acc")),
            "own video": _cell(own_acc),
            "own frame": _cell(get(f"{own}_frame_acc") if own else None),
            "target video": _cell(get(f"{TARGET}_video_acc")),
            "held-out video": _cell(get(f"{HELDOUT}_video_acc")),
            "learned (own >= probe held-out)": verdict,
            "held-out minus probe's": heldout_margin}


def learning_table(figures: dict[str, Any], names: list[str]) -> pd.DataFrame:
    """One row per model and data set: fit epoch and steps, accuracies, and the floor."""
    return pd.DataFrame([_learning_row(figures, name, model, label, own)
                         for name in names for model, label, own in LEARNING_MODELS])


def learning_benchmark(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """``--learning``: every set in :data:`LEARNING_SETS`, one table, flat figures."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as work:
        for name, make in LEARNING_SETS.items():
            started = time.perf_counter()
            root, cache = make(Path(work))
            data = learning_arrays(root, cache, device)
            figures[f"{name}_data_seconds"] = time.perf_counter() - started
            figures.update({f"{name}_{key}": value for key, value in learning_run(
                data, netb_epochs=args.netb_epochs, neta_epochs=args.neta_epochs).items()})
            figures[f"{name}_seconds"] = time.perf_counter() - started
    names = list(LEARNING_SETS)
    summary = {**figures, "device": device_name(device), "learning": True,
               "netb_epoch_cap": args.netb_epochs, "neta_epochs": args.neta_epochs,
               "fit_fraction": FIT_FRACTION, "backbone": LEARNING_BACKBONE,
               "torch": torch.__version__}
    print(f"Device: {summary['device']}\n")
    print(learning_table(figures, names).to_string(index=False))
    print(f"\nfit epoch / fit steps: the first epoch whose own-split video accuracy reaches "
          f"{FIT_FRACTION:g} x the best own-split video accuracy of the run ('best own "
          f"video'). NetB: own = target, accuracies at its kept epoch (cap "
          f"{args.netb_epochs}, stops on a plateau); NetA: own = source, at its last epoch "
          f"({args.neta_epochs}). Probe: logistic regression on the same standardised "
          f"features.")
    return summary


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.bench", description=__doc__.split("\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"about 2 minutes on 2 CPU cores: {QUICK_FRAMES} frames for (a) "
                             f"and (b), no (d) or (e)")
    parser.add_argument("--frames", type=positive_int, default=None,
                        help=f"frames for (a) and (b) [{FULL_FRAMES}; {QUICK_FRAMES} with --quick]")
    parser.add_argument("--trivial-trials", type=positive_int, default=None,
                        help="trials for (c) [20; 8 with --quick]")
    parser.add_argument("--skip-study", action="store_true", help="leave out (d)")
    parser.add_argument("--paper-scale", action="store_true",
                        help="add the paper-scale extraction and epoch (for a GPU)")
    parser.add_argument("--learning", action="store_true",
                        help="run only the learning benchmark: NetB, NetA at lam=1 and the "
                             "linear probe on the embedded and a hard generated set; epochs "
                             f"to fit = first epoch reaching {FIT_FRACTION:g} x the run's best "
                             "own-split video accuracy")
    parser.add_argument("--netb-epochs", type=positive_int, default=LEARNING_NETB_EPOCHS,
                        help="with --learning: NetB's epoch cap (it stops on a plateau)")
    parser.add_argument("--neta-epochs", type=positive_int, default=LEARNING_NETA_EPOCHS,
                        help="with --learning: NetA's epochs")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = choose_device()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.learning:
        return learning_benchmark(args, device)
    frames = args.frames or (QUICK_FRAMES if args.quick else FULL_FRAMES)
    rows, figures = cache_comparison(frames, device)
    for part in (lambda: tune_overhead(args.trivial_trials or (8 if args.quick else 20)),
                 None if args.quick or args.skip_study else default_study,
                 None if args.quick else (lambda: autocast_check(frames, device)),
                 (lambda: paper_scale(device)) if args.paper_scale else None):
        if part is not None:
            more_rows, more_figures = part()
            rows += more_rows
            figures.update(more_figures)
    summary = {**figures, "device": device_name(device), "frames": frames, "quick": args.quick,
               "torch": torch.__version__}
    table = pd.DataFrame([vars(row) for row in rows])
    print(f"Device: {summary['device']}\n")
    print(table.to_string(index=False, float_format=lambda value: f"{value:,.3f}"))
    return summary


def main(argv: list[str] | None = None) -> int:
    summary = run(build_parser().parse_args(argv))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
