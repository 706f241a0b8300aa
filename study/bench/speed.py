"""(a)-(f) and ``--paper-scale`` of ``python -m study.bench``: what the feature cache, Ray
Tune and bf16 autocast cost and save, timed on one device, and what a trial's checkpoint
weighs (see :mod:`study.bench`)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from study.bench.device import device_name, timed
from trainables.backbones import build_backbone
from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE, SEQUENCE_LENGTH
from trainables.engine import DeviceSplit, SplitArrays, StudyArrays, evaluate, train_epoch
from trainables.features import extract_features
from trainables.neta import train_neta
from trainables.network import NetworkSettings, build_network, make_optimizer

QUICK_FRAMES = 160
TRIVIAL_TRIALS, QUICK_TRIVIAL_TRIALS = 20, 8  # trials for (c)
FULL_FRAMES = 800
FRAMES_PER_VIDEO = 40
#: Repeat the cheap cached epoch until this much time has passed, for a stable rate.
MIN_TIMED_S = 2.0
PAPER_SOURCE_FRAMES = 45_000
PAPER_TARGET_FRAMES = 19_000
AUTOCAST_EPOCHS = 4
CHECKPOINT_FRAMES, CHECKPOINT_EPOCHS = 80, 2
VGG16_FEATURES = 4608  # VGG-16 conv block 5 at 96 x 96: 512 x 3 x 3
CHECKPOINT_GOAL_MB = 100


@dataclass
class Row:
    measurement: str
    value: float | None
    unit: str
    note: str = ""


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


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


def checkpoint_sizes() -> tuple[list[Row], dict[str, float]]:
    """(f) NetA's loop with the default network on VGG-16-wide features for
    CHECKPOINT_EPOCHS epochs, checkpoints kept as Tune keeps them (the latest): the bytes of a
    running trial's checkpoint (before the last epoch) and of a finished trial's."""
    rng = np.random.default_rng(5)
    splits = [with_features(random_split(CHECKPOINT_FRAMES, seed=5 + index, name=name),
                            rng.normal(size=(CHECKPOINT_FRAMES, VGG16_FEATURES))
                            .astype(np.float16))
              for index, name in enumerate(("source", "target"))]
    config = {"lam": 0.5, "normalisation": "softmax", "cell": "gru", "epochs": CHECKPOINT_EPOCHS,
              "seed": 0, "metric": "target_video_acc"}
    sizes: list[int] = []
    with tempfile.TemporaryDirectory() as storage:
        def report(metrics: dict[str, Any], write_checkpoint: Any) -> None:
            folder = Path(storage) / f"checkpoint_{metrics['epoch']:06d}"
            folder.mkdir()
            write_checkpoint(folder)
            sizes.append(folder_bytes(folder))

        train_neta(config, StudyArrays(*splits), rng.normal(size=(len(DEFAULT_CLASSES), 128))
                   .astype(np.float32), report=report)
    running, finished = sizes[-2] / 1e6, sizes[-1] / 1e6
    return [Row("(f) checkpoint of a running trial (resume state)", running, "MB",
                "default network, VGG-16 features; Tune keeps 1 per trial"),
            Row("    checkpoint of a finished trial", finished, "MB",
                f"selected epoch's weights only; goal <= {CHECKPOINT_GOAL_MB} MB")], {
        "checkpoint_mb_running": running, "checkpoint_mb_finished": finished}


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


@dataclass(frozen=True)
class SpeedSettings:
    """What the speed benchmark measures: ``quick`` leaves out (d) and (e) and shrinks the
    defaults of ``frames`` and ``trivial_trials`` (None: the default)."""

    quick: bool = False
    frames: int | None = None
    trivial_trials: int | None = None
    skip_study: bool = False
    paper_scale: bool = False

    @property
    def frames_or_default(self) -> int:
        return self.frames or (QUICK_FRAMES if self.quick else FULL_FRAMES)

    @property
    def trials_or_default(self) -> int:
        return self.trivial_trials or (QUICK_TRIVIAL_TRIALS if self.quick else TRIVIAL_TRIALS)


def speed_benchmark(settings: SpeedSettings, device: torch.device) -> dict[str, Any]:
    """(a)-(c), then (d), (e) and the paper scale as ``settings`` ask; one table, flat
    figures."""
    frames = settings.frames_or_default
    rows, figures = cache_comparison(frames, device)
    for part in (lambda: tune_overhead(settings.trials_or_default),
                 None if settings.quick or settings.skip_study else default_study,
                 None if settings.quick else (lambda: autocast_check(frames, device)),
                 checkpoint_sizes,
                 (lambda: paper_scale(device)) if settings.paper_scale else None):
        if part is not None:
            more_rows, more_figures = part()
            rows += more_rows
            figures.update(more_figures)
    summary = {**figures, "device": device_name(device), "frames": frames,
               "quick": settings.quick,
               "torch": torch.__version__}
    table = pd.DataFrame([vars(row) for row in rows])
    print(f"Device: {summary['device']}\n")
    print(table.to_string(index=False, float_format=lambda value: f"{value:,.3f}"))
    return summary
