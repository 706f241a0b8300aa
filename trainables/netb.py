"""Stage 1: NetB, trained on the target split with E_a alone (eq. 5), and its centroids Z.

NetB's last hidden representations U (eq. 1) of every target frame are clustered into
one k-means cluster per class (eq. 2); the clusters are matched to the classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trainables.centroids import CentroidResult, compute_centroids
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

ProgressFactory = Callable[..., Iterable[int]]


@dataclass
class NetBResult:
    """What the driver keeps of NetB: weights, per-epoch history, summary and Z."""

    state_dict: dict[str, Tensor]
    history: list[dict[str, float]]
    summary: dict[str, Any]
    centroids: CentroidResult


def _evaluate_roles(network: nn.Module, splits: dict[str, DeviceSplit], zeros: Tensor,
                    settings: NetworkSettings) -> tuple[dict[str, float], np.ndarray]:
    """NetB's accuracy on each split (its output layer, i.e. lam = 1) and target U."""
    metrics: dict[str, float] = {}
    target_u = np.empty(0)
    for role, split in splits.items():
        result = evaluate(network, split, zeros, lam=1.0, normalisation="softmax",
                          seq_len=settings.seq_len, batch_size=settings.batch_size)
        arrays = split.arrays
        metrics.update(split_metrics(role, result.scores, arrays.frame_labels,
                                     arrays.video_offsets, arrays.video_labels, arrays.classes))
        if role == "target":
            target_u = result.representations
    return metrics, target_u


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
    progress: ProgressFactory = range,
) -> NetBResult:
    """Train NetB on ``data.target`` with eq. (5) and derive the centroids Z from U."""
    torch.set_num_threads(max(1, threads))
    device = choose_device()
    generator = seed_everything(seed)
    splits = {role: DeviceSplit.create(arrays, device) for role, arrays in data.roles().items()}
    network = build_network(settings, data.target, backbone_state, train_backbone).to(device)
    optimizer = make_optimizer(network, settings)
    zeros = torch.zeros(len(data.target.classes), settings.rnn_hidden, device=device)
    history = []
    for epoch in progress(epochs):
        losses = train_epoch(network, splits["target"], optimizer, zeros, lam=1.0,
                             normalisation="softmax", seq_len=settings.seq_len,
                             batch_size=settings.batch_size, generator=generator)
        target_only = {"target": splits["target"]}
        metrics, _ = _evaluate_roles(network, target_only, zeros, settings)
        history.append({"epoch": epoch + 1, "E_a": losses["E_a"],
                         "target_frame_acc": metrics["target_frame_acc"],
                         "target_video_acc": metrics["target_video_acc"]})
    metrics, target_u = _evaluate_roles(network, splits, zeros, settings)
    centroids = compute_centroids(target_u, data.target.frame_labels,
                                  len(data.target.classes), method=centroid_method, seed=seed)
    summary = {"metrics": metrics, "cluster_agreement": centroids.agreement,
               "centroid_method": centroid_method, "epochs": epochs,
               "settings": settings.to_dict()}
    state = {key: value.detach().cpu() for key, value in network.state_dict().items()}
    return NetBResult(state, history, summary, centroids)
