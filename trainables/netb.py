"""Stage 1: NetB, trained on the target split with E_a alone (eq. 5), and its centroids Z.

NetB trains until it fits its own split: it stops when its frame accuracy there has not
improved for a few epochs (or is near perfect), within an epoch cap, and keeps its best
epoch. Its last hidden representations U (eq. 1) of every target frame are then clustered
into one k-means cluster per class (eq. 2); the clusters are matched to the classes.
Held-out videos are scored at the end, never used for any choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trainables.centroids import CentroidResult, compute_centroids
from trainables.checkpoint import copy_weights, load_weights
from trainables.config import (
    NETB_FITTED,
    NETB_MIN_DELTA,
    NETB_PATIENCE,
    TARGET,
    VA_GRID,
    VA_LEARNED_CCC,
)
from trainables.dimensional import cell_centroids, dropped_cells, is_dimensional, relabel_study
from trainables.engine import StudyArrays, evaluate_roles, train_epoch
from trainables.network import NetworkSettings, prepare_training
from trainables.probe import beats_chance, chance_accuracies
from trainables.va import VAGrid


@dataclass
class NetBResult:
    """What the driver keeps of NetB: weights, per-epoch history, summary and Z."""

    state_dict: dict[str, Tensor]
    history: list[dict[str, float]]
    summary: dict[str, Any]
    centroids: CentroidResult
    #: Valence-arousal studies: U of every target frame, from which a trial makes Z for the
    #: grid it runs with (trainables.dimensional); None otherwise.
    representations: np.ndarray | None = None


class Plateau:
    """Stop when the tracked accuracy has not improved by ``min_delta`` for ``patience``
    epochs, or has reached ``fitted``; remembers the best epoch."""

    def __init__(self, patience: int = NETB_PATIENCE, min_delta: float = NETB_MIN_DELTA,
                 fitted: float = NETB_FITTED) -> None:
        self.patience, self.min_delta, self.fitted = patience, min_delta, fitted
        self.best, self.best_epoch, self.waited = -1.0, 0, 0

    def update(self, value: float, epoch: int) -> tuple[bool, bool]:
        """(is this the best epoch so far, should training stop)."""
        improved = value > self.best
        if value > self.best + self.min_delta:
            self.waited = 0
        else:
            self.waited += 1
        if improved:
            self.best, self.best_epoch = value, epoch
        return improved, self.waited >= self.patience or value >= self.fitted


@dataclass(frozen=True)
class Toward:
    """Block-component training (trainables.rounds): NetB trained with E_tot of eq. (9)
    towards ``centroids``, those of NetA's source representations, with NetA's ``lam``,
    ``normalisation`` and ``tau``, starting from ``initial_weights`` (its previous round's)."""

    centroids: np.ndarray
    lam: float
    normalisation: str
    tau: float
    initial_weights: dict[str, Tensor]


def train_netb(
    data: StudyArrays,
    settings: NetworkSettings,
    *,
    epochs: int,
    seed: int,
    centroid_method: str = "kmeans",
    threads: int = 1,
    backbone_state: dict[str, Tensor] | None = None,
    train_backbone: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    toward: Toward | None = None,
    va_grid: int = VA_GRID,
) -> NetBResult:
    """Train NetB on ``data.target`` with eq. (5) until it fits (at most ``epochs`` epochs)
    and derive the centroids Z from U of its best epoch; with ``toward``, a later
    block-component round: eq. (9) towards NetA's source centroids, from NetB's last weights.

    ``on_epoch`` is called after every epoch with that epoch's row of the history
    (``epoch``, ``steps``, ``E_a``, ``target_frame_acc``, ``target_video_acc``; and
    ``target_frame_ccc`` on valence and arousal, whose cells are a ``va_grid`` grid's and whose
    Z are cell means: trainables.dimensional).
    """
    dimensional = is_dimensional(data)
    if dimensional:
        data = relabel_study(data, VAGrid(va_grid))
    fit_metric = f"{TARGET}_frame_ccc" if dimensional else f"{TARGET}_frame_acc"
    setup = prepare_training(data, settings, seed=seed, threads=threads,
                             train_split=data.target, backbone_state=backbone_state,
                             train_backbone=train_backbone)
    network = setup.network
    if toward is None:  # E_a alone: at lam = 1 the loss never reads these centroids
        loss_centroids = torch.zeros(len(data.target.classes), settings.rnn_hidden,
                                     device=setup.device)
        options = settings.loop_options(lam=1.0, normalisation="softmax")
    else:
        load_weights(network, toward.initial_weights)
        loss_centroids = torch.as_tensor(toward.centroids, dtype=torch.float32,
                                         device=setup.device)
        options = settings.loop_options(lam=toward.lam, normalisation=toward.normalisation,
                                        tau=toward.tau)
    own = {TARGET: setup.splits[TARGET]}
    plateau, best_state, history, steps = Plateau(), None, [], 0
    for epoch in range(epochs):
        losses = train_epoch(network, own[TARGET], setup.optimizer, loss_centroids,
                             generator=setup.generator, **options)
        steps += losses["steps"]
        metrics, _ = evaluate_roles(network, own, loss_centroids, **options)
        row = {"epoch": epoch + 1, "steps": steps, "E_a": losses["E_a"],
               "target_frame_acc": metrics["target_frame_acc"],
               "target_video_acc": metrics["target_video_acc"]}
        if dimensional:
            row[fit_metric] = metrics[fit_metric]
        history.append(row)
        if on_epoch is not None:
            on_epoch(dict(row))
        improved, stop = plateau.update(metrics[fit_metric], epoch + 1)
        if improved:
            best_state = copy_weights(network)  # on the CPU; the frozen backbone stays
        if stop:
            break
    load_weights(network, best_state)
    metrics, evaluations = evaluate_roles(network, setup.splits, loss_centroids, **options)
    target, representations = data.target, evaluations[TARGET].representations
    if dimensional:
        centroids = cell_centroids(representations, target.frame_labels, len(target.classes))
        chance = {f"{TARGET}_frame_ccc": 0.0}
        learned = metrics[fit_metric] >= VA_LEARNED_CCC
    else:
        centroids = compute_centroids(representations, target.frame_labels,
                                      len(target.classes), method=centroid_method, seed=seed)
        chance = {f"{role}_video_acc": acc for role, acc in chance_accuracies(data).items()}
        learned = beats_chance(metrics["target_video_acc"], chance["target_video_acc"])
    summary = {"metrics": metrics, "cluster_agreement": centroids.agreement,
               "centroid_method": centroids.method, "epochs": epochs,
               "epochs_run": len(history), "best_epoch": plateau.best_epoch, "steps": steps,
               "chance": chance, "learned": bool(learned), "settings": settings.to_dict()}
    if dimensional:
        summary.update(va_grid=va_grid, dropped_cells=dropped_cells(centroids.centroids))
    state = {key: value.detach().cpu() for key, value in network.state_dict().items()}
    return NetBResult(state, history, summary, centroids,
                      representations if dimensional else None)
