"""``python -m study.bench --learning``: does a study's training learn? NetB, NetA at lam = 1
and the linear probe on the embedded and a hard generated set, with the epochs and steps each
network needs to fit its own split (see :mod:`study.bench`)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from study import defaults
from study.bench.device import device_name
from study.data_roles import EMBEDDED_DATA_SEED
from trainables.config import HELDOUT, IMAGE_SIZE, SOURCE, TARGET, TRACKED_ACCURACIES
from trainables.data import SplitData, load_split
from trainables.engine import SplitArrays, StudyArrays
from trainables.features import extract_features, feature_cache_path, load_features, save_features
from trainables.neta import train_neta
from trainables.netb import train_netb
from trainables.network import NetworkSettings
from trainables.probe import chance_accuracy, linear_probe
from trainables.synthetic import HARD, embedded_dataset, generate_dataset

if TYPE_CHECKING:
    from study.inputs import Backbone

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


def learning_benchmark(device: torch.device, *, netb_epochs: int = LEARNING_NETB_EPOCHS,
                       neta_epochs: int = LEARNING_NETA_EPOCHS) -> dict[str, Any]:
    """``--learning``: every set in :data:`LEARNING_SETS`, one table, flat figures."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as work:
        for name, make in LEARNING_SETS.items():
            started = time.perf_counter()
            root, cache = make(Path(work))
            data = learning_arrays(root, cache, device)
            figures[f"{name}_data_seconds"] = time.perf_counter() - started
            figures.update({f"{name}_{key}": value for key, value in learning_run(
                data, netb_epochs=netb_epochs, neta_epochs=neta_epochs).items()})
            figures[f"{name}_seconds"] = time.perf_counter() - started
    names = list(LEARNING_SETS)
    summary = {**figures, "device": device_name(device), "learning": True,
               "netb_epoch_cap": netb_epochs, "neta_epochs": neta_epochs,
               "fit_fraction": FIT_FRACTION, "backbone": LEARNING_BACKBONE,
               "torch": torch.__version__}
    print(f"Device: {summary['device']}\n")
    print(learning_table(figures, names).to_string(index=False))
    print(f"\nfit epoch / fit steps: the first epoch whose own-split video accuracy reaches "
          f"{FIT_FRACTION:g} x the best own-split video accuracy of the run ('best own "
          f"video'). NetB: own = target, accuracies at its kept epoch (cap "
          f"{netb_epochs}, stops on a plateau); NetA: own = source, at its last epoch "
          f"({neta_epochs}). Probe: logistic regression on the same standardised "
          f"features.")
    return summary
