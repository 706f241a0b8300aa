"""NetA: the CNN-RNN trained on the source split with E_tot of eq. (9), as a plain loop.

Like Ray Tune's ``mnist_pytorch.py`` example, the loop knows nothing of Tune: it takes a
``report`` hook, called once per epoch with the metrics and a function that writes the
checkpoint, and an optional checkpoint folder to resume from. The Tune adapter
(:mod:`study.trainable`) is a few lines around it.

Each epoch's checkpoint (:mod:`trainables.checkpoint`) holds what resumes the run (latest
weights, optimiser, generators, :class:`~trainables.checkpoint.TrialState`) and the selected
epoch's weights, which the loop keeps in memory between checkpoints. The last epoch's holds
only the selected weights and the TrialState: a finished trial needs nothing else (Tune keeps
one checkpoint, the latest), and resuming it ends at once.

Every epoch reports, on every split present (source; target, which selects; held-out, which
is only scored): frame- and video-level accuracy, per class, and the losses. The *selected
epoch* is the one with the best selection metric (``config["metric"]``, first on ties);
every accuracy is also reported at that epoch as ``selected_<name>``, so held-out figures
are never a maximum over held-out epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trainables.alignment import make_alignment
from trainables.centroids import centroid_distances, compute_centroids
from trainables.checkpoint import (
    TrialState,
    copy_weights,
    load_selected,
    load_state,
    load_weights,
    save_final_state,
    save_selected,
    save_state,
)
from trainables.config import (
    CENTROID_EVERY,
    DEFAULT_METHOD,
    DISTANCE_TEMPERATURE,
    METHODS,
    NORMALISATIONS,
    REPEAT_KEY,
    REPEAT_SEED_STRIDE,
    SOURCE,
    TARGET,
    TRACKED_ACCURACIES,
    TRACKED_VA,
    VA_LEARNED_CCC,
)
from trainables.dimensional import (
    cell_centroids,
    dropped_cells,
    is_dimensional,
    relabel_study,
    trial_grid,
    trial_rule,
)
from trainables.engine import StudyArrays, evaluate_roles, train_epoch
from trainables.network import NetworkSettings, TrainingSetup, prepare_training
from trainables.probe import beats_chance, chance_accuracies

#: ``report(metrics, write_checkpoint)``; ``write_checkpoint(folder)`` saves the state there.
ReportHook = Callable[[dict[str, Any], Callable[[Path], None]], None]


def trial_tau(config: dict[str, Any]) -> float:
    """The distance temperature of eq. (8) a trial ran with (searched by some spaces)."""
    return float(config.get("tau", DISTANCE_TEMPERATURE))


def trial_method(config: dict[str, Any]) -> str:
    """How the trial trains NetA (:data:`~trainables.config.METHODS`; absent: the paper's)."""
    method = str(config.get("method") or DEFAULT_METHOD)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def trial_lam(config: dict[str, Any]) -> float:
    """lam of eq. (9) in the trial's loss and predictions: searched for the centroid method;
    1 for every other (E_a alone, eq. 5, and predictions from the outputs O)."""
    return float(config["lam"]) if trial_method(config) == DEFAULT_METHOD else 1.0


def trial_normalisation(config: dict[str, Any]) -> str:
    """f of eq. (8) (unused at lam = 1, so baselines need not set it: absent or None)."""
    return str(config.get("normalisation") or NORMALISATIONS[0])


def trial_round(config: dict[str, Any]) -> int:
    """The block-component round the trial belongs to (1: the paper's single round)."""
    return int(config.get("round", 1))


def trial_seed(config: dict[str, Any]) -> int:
    """The study's seed, offset per repeat of a configuration."""
    return int(config["seed"]) + REPEAT_SEED_STRIDE * int(config.get(REPEAT_KEY, 0))


def centroid_metrics(representations: np.ndarray, labels: np.ndarray, z: np.ndarray,
                     classes: tuple[str, ...], seed: int) -> dict[str, float]:
    """Table VII: distance of NetA's class centroids (k-means on X) from NetB's Z."""
    neta = compute_centroids(representations, labels, len(classes), seed=seed, n_init=3)
    distances = centroid_distances(neta.centroids, z)
    metrics = {f"centroid_distance/{name}": float(d)
               for name, d in zip(classes, distances, strict=True)}
    metrics["centroid_distance_mean"] = float(distances.mean())
    metrics["source_cluster_agreement"] = neta.agreement
    return metrics


def cell_distance_metrics(representations: np.ndarray, labels: np.ndarray,
                          z: np.ndarray) -> dict[str, float]:
    """Table VII for valence-arousal cells, summarised: the distance of NetA's cell means from
    NetB's, over the cells both have (their mean, median and maximum, and how many)."""
    neta = cell_centroids(representations, labels, len(z)).centroids
    both = ~(np.isnan(neta).any(axis=1) | np.isnan(z).any(axis=1))
    if not both.any():
        return {"centroid_cells": 0.0}
    distances = centroid_distances(neta[both], z[both])
    return {"centroid_distance_mean": float(distances.mean()),
            "centroid_distance_median": float(np.median(distances)),
            "centroid_distance_max": float(distances.max()),
            "centroid_cells": float(both.sum())}


def _selected(metrics: dict[str, float]) -> dict[str, float]:
    """The accuracies and Table VII figures of an epoch, renamed ``selected_<name>``."""
    keep = [name for name in metrics
            if name in TRACKED_ACCURACIES or name in TRACKED_VA
            or name.startswith(("class_acc/", "centroid_distance", "centroid_cells"))]
    return {f"selected_{name}": metrics[name] for name in keep}


def _chance(data: StudyArrays) -> dict[str, float]:
    if is_dimensional(data):  # a constant or unrelated prediction has CCC 0
        return {f"chance_{role}_frame_ccc": 0.0 for role in (SOURCE, TARGET)}
    return {f"chance_{role}_video_acc": chance
            for role, chance in chance_accuracies(data).items() if role in (SOURCE, TARGET)}


class NetATraining:
    """One NetA run: its setup, the centroids Z, and the epoch it is at."""

    def __init__(self, config: dict[str, Any], data: StudyArrays, centroids: np.ndarray, *,
                 backbone_state: dict[str, Tensor] | None = None, threads: int = 1,
                 initial_weights: dict[str, Tensor] | None = None,
                 netb_representations: np.ndarray | None = None) -> None:
        self.config = config
        if is_dimensional(data):  # the trial's grid gives the classes, and Z from NetB's U
            data = relabel_study(data, trial_grid(config))
            if netb_representations is not None:
                centroids = cell_centroids(netb_representations, data.target.frame_labels,
                                           len(data.target.classes)).centroids
        self.data = data
        self.settings = NetworkSettings.from_config(config)
        self.seed = trial_seed(config)
        self.setup: TrainingSetup = prepare_training(
            data, self.settings, seed=self.seed, threads=threads, train_split=data.source,
            backbone_state=backbone_state, train_backbone=config.get("train_backbone", False))
        if initial_weights is not None:  # a later block-component round (trainables.rounds)
            load_weights(self.setup.network, initial_weights)
        method = trial_method(config)
        self.alignment = make_alignment(method, config.get(f"{method}_weight"),
                                        self.settings.rnn_hidden)
        if self.alignment is not None:
            self.alignment.to(self.setup.device)
            extra = [p for p in self.alignment.parameters() if p.requires_grad]
            if extra:  # DANN's domain classifier learns with the network, at the same rate
                self.setup.optimizer.add_param_group({"params": extra})
        self.z = torch.as_tensor(centroids, dtype=torch.float32, device=self.setup.device)
        #: Which Z the trial trains towards (block-component rounds give it a new one).
        self.z_norm = float(np.sqrt(np.nansum(np.asarray(centroids, dtype=np.float64) ** 2)))
        #: Classes without a centroid (valence-arousal cells no target frame falls in).
        self.dropped_cells = float(dropped_cells(centroids))
        self.state = TrialState()
        #: The selected epoch's weights (CPU copies, no frozen backbone); None before epoch 1.
        self.selected: dict[str, Tensor] | None = None
        self.chance = _chance(data)

    @property
    def lam(self) -> float:
        return trial_lam(self.config)

    @property
    def tau(self) -> float:
        return trial_tau(self.config)

    @property
    def finished(self) -> bool:
        return self.state.epoch >= self.config["epochs"]

    def resume(self, folder: Path) -> None:
        s = self.setup
        self.state = load_state(folder, s.network, s.optimizer, s.generator, self.alignment)
        kept = load_selected(folder)
        self.selected = None if kept is None else kept[0]

    def write_checkpoint(self, folder: Path) -> None:
        """The resume state, or after the last epoch the TrialState alone; with either, the
        selected epoch's weights."""
        s = self.setup
        if self.finished:
            save_final_state(folder, self.state)
        else:
            save_state(folder, s.network, s.optimizer, s.generator, self.state, self.alignment)
        if self.selected is not None:
            save_selected(folder, self.selected, int(self.state.extra["selected_epoch"]))

    def epoch(self) -> dict[str, Any]:
        """Train one epoch, evaluate every split, update the selection; the epoch's metrics."""
        s, config = self.setup, self.config
        options = self.settings.loop_options(lam=self.lam,
                                             normalisation=trial_normalisation(config),
                                             tau=self.tau, autocast=config.get("autocast", False))
        epochs = int(config["epochs"])
        progress = (self.state.epoch / epochs, (self.state.epoch + 1) / epochs)
        losses = train_epoch(s.network, s.splits[SOURCE], s.optimizer, self.z,
                             generator=s.generator, alignment=self.alignment,
                             unlabelled=s.splits[TARGET], progress=progress, **options)
        metrics, evaluations = evaluate_roles(s.network, s.splits, self.z, **options,
                                              va_rule=trial_rule(config))
        self.state.epoch += 1
        epoch = self.state.epoch
        metric = config.get("metric", "target_video_acc")
        improved = metrics[metric] > self.state.best.get(metric, -1.0)
        last = epoch >= config["epochs"]
        if improved or last or epoch % CENTROID_EVERY == 0:
            source, z = self.data.source, self.z.cpu().numpy()
            representations = evaluations[SOURCE].representations
            metrics.update(
                cell_distance_metrics(representations, source.frame_labels, z)
                if is_dimensional(self.data) else
                centroid_metrics(representations, source.frame_labels, z, source.classes,
                                 self.seed))
        metrics.update(self.state.update_best(metrics))
        if improved:  # (Table VII is computed on every improved epoch, so no key goes stale)
            self.state.extra.update({"selected_epoch": float(epoch), **_selected(metrics)})
            self.selected = copy_weights(s.network)
        self.state.extra["steps"] = self.state.extra.get("steps", 0.0) + losses.pop("steps")
        if is_dimensional(self.data):
            learned = self.state.best.get("source_frame_ccc", 0.0) >= VA_LEARNED_CCC
            metrics["dropped_cells"] = self.dropped_cells
        else:
            learned = beats_chance(self.state.best.get("source_video_acc", 0.0),
                                   self.chance["chance_source_video_acc"])
        return {**losses, **metrics, **self.state.extra, **self.chance, "epoch": epoch,
                "learned": float(learned), "round": trial_round(config),
                "centroids_norm": self.z_norm}


def train_neta(config: dict[str, Any], data: StudyArrays, centroids: np.ndarray, *,
               backbone_state: dict[str, Tensor] | None = None, threads: int = 1,
               report: ReportHook | None = None, resume_from: Path | None = None,
               initial_weights: dict[str, Tensor] | None = None,
               netb_representations: np.ndarray | None = None) -> TrialState:
    """Train NetA for ``config["epochs"]`` epochs (continuing from ``resume_from``; a new run
    starts from ``initial_weights`` when given: a block-component round after the first).

    ``config`` holds the searched ``lam``, ``normalisation``, ``cell``, ``seq_len`` (and
    optional ``tau``, ``method`` and ``<method>_weight``) and the fixed ``epochs``, ``seed``,
    ``metric`` and network settings.
    """
    run = NetATraining(config, data, centroids, backbone_state=backbone_state, threads=threads,
                       initial_weights=initial_weights,
                       netb_representations=netb_representations)
    if resume_from is not None:
        run.resume(resume_from)
    while not run.finished:
        metrics = run.epoch()
        if report is not None:
            report(metrics, run.write_checkpoint)
    return run.state
