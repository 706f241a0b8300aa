"""The Ray Tune trainable: NetA trained on the source split with E_tot of eq. (9).

Following Ray Tune's examples, the function depends only on its ``config`` (plus the
large read-only objects bound with :func:`ray.tune.with_parameters`: the splits and
NetB's centroids Z, which therefore live once in the object store and never in a
trial's config), resumes from :func:`ray.tune.get_checkpoint` at its top and reports
metrics and checkpoint together every epoch.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import tune
from torch import Tensor, nn

from trainables.centroids import centroid_distances, compute_centroids
from trainables.config import TRACKED_ACCURACIES
from trainables.engine import (
    DeviceSplit,
    StudyArrays,
    choose_device,
    evaluate,
    seed_everything,
    train_epoch,
)
from trainables.metrics import split_metrics
from trainables.network import NetworkSettings, build_network, make_optimizer

CHECKPOINT_FILE = "state.pt"


@dataclass
class TrialState:
    """What a trial must carry across a restart besides the weights."""

    epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)

    def update_best(self, metrics: dict[str, float]) -> dict[str, float]:
        for name in TRACKED_ACCURACIES:
            if name in metrics:
                self.best[name] = max(self.best.get(name, -1.0), metrics[name])
        return {f"best_{name}": value for name, value in self.best.items()}


def save_state(directory: Path, network: nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, state: TrialState) -> None:
    """Everything needed to continue bit-for-bit: weights, optimiser, epoch, RNG states."""
    torch.save({
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": state.epoch,
        "best": state.best,
        "torch_rng": torch.get_rng_state(),
        "generator_rng": generator.get_state(),
    }, directory / CHECKPOINT_FILE)


def load_state(directory: Path, network: nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator) -> TrialState:
    """Inverse of :func:`save_state`; weights-only loading, as for any file on disk."""
    saved = torch.load(directory / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    network.load_state_dict(saved["network"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    generator.set_state(saved["generator_rng"])
    return TrialState(epoch=saved["epoch"], best=dict(saved["best"]))


def centroid_metrics(representations: np.ndarray, labels: np.ndarray, z: np.ndarray,
                     classes: tuple[str, ...], seed: int) -> dict[str, float]:
    """Table VII: distance of NetA's class centroids (k-means on X) from NetB's Z."""
    neta = compute_centroids(representations, labels, len(classes), seed=seed, n_init=3)
    distances = centroid_distances(neta.centroids, z)
    pairs = zip(classes, distances, strict=True)
    metrics = {f"centroid_distance/{name}": float(d) for name, d in pairs}
    metrics["centroid_distance_mean"] = float(distances.mean())
    metrics["source_cluster_agreement"] = neta.agreement
    return metrics


def evaluate_splits(network: nn.Module, splits: dict[str, DeviceSplit], z: Tensor,
                    config: dict[str, Any]) -> dict[str, float]:
    """Accuracy on every split, frame and video level, plus Table VII on the source."""
    settings = NetworkSettings.from_config(config)
    metrics: dict[str, float] = {}
    for role, split in splits.items():
        result = evaluate(network, split, z, lam=config["lam"],
                          normalisation=config["normalisation"], seq_len=settings.seq_len,
                          batch_size=settings.batch_size, autocast=config.get("autocast", False))
        arrays = split.arrays
        metrics.update(split_metrics(role, result.scores, arrays.frame_labels,
                                     arrays.video_offsets, arrays.video_labels, arrays.classes))
        if role == "source":
            metrics.update(centroid_metrics(result.representations, arrays.frame_labels,
                                            z.cpu().numpy(), arrays.classes, config["seed"]))
    return metrics


def train_neta(config: dict[str, Any], *, data: StudyArrays, centroids: np.ndarray,
               backbone_state: dict[str, Tensor] | None = None) -> None:
    """Ray Tune function trainable for one NetA trial.

    ``config`` holds the searched ``lam``, ``normalisation``, ``cell``, ``seq_len`` and the
    fixed ``epochs``, ``seed`` and network settings. Every epoch reports
    E_tot/E_a/E_b, accuracies (with ``best_*`` running maxima, the objective Optuna sees),
    per-class accuracy and Table VII's centroid distances, with a checkpoint.
    """
    torch.set_num_threads(trial_threads())
    settings = NetworkSettings.from_config(config)
    device = choose_device()
    generator = seed_everything(config["seed"])
    splits = {role: DeviceSplit.create(arrays, device) for role, arrays in data.roles().items()}
    network = build_network(settings, data.source, backbone_state,
                            config.get("train_backbone", False)).to(device)
    optimizer = make_optimizer(network, settings)
    z = torch.as_tensor(centroids, dtype=torch.float32, device=device)

    state = TrialState()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = load_state(Path(directory), network, optimizer, generator)

    while state.epoch < config["epochs"]:
        losses = train_epoch(network, splits["source"], optimizer, z, lam=config["lam"],
                             normalisation=config["normalisation"], seq_len=settings.seq_len,
                             batch_size=settings.batch_size, generator=generator,
                             autocast=config.get("autocast", False))
        metrics = {**losses, **evaluate_splits(network, splits, z, config)}
        state.epoch += 1
        metrics.update(state.update_best(metrics), epoch=state.epoch)
        with tempfile.TemporaryDirectory() as directory:
            save_state(Path(directory), network, optimizer, generator, state)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def trial_threads() -> int:
    """Torch threads matching the CPUs Tune reserved for this trial (at least one)."""
    try:
        cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    except (AttributeError, RuntimeError):
        cpus = 1
    return max(1, min(int(cpus), os.cpu_count() or 1))
