"""Block-component training, the paper's future work (Section V): the two networks take turns.

Round 1 is the paper: NetB on the target with E_a (eq. 5), its centroids Z (eq. 2), then NetA
on the source with E_tot (eq. 9) towards Z. In round ``r > 1`` NetB is trained again, from its
round ``r - 1`` weights, on the target with E_tot towards the centroids of NetA's source
representations X from round ``r - 1`` (:func:`neta_source_centroids`); its new Z then trains
NetA again, from its round ``r - 1`` weights. The driver's side is :mod:`study.rounds`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from trainables.centroids import CentroidResult, compute_centroids
from trainables.checkpoint import load_weights
from trainables.engine import DeviceSplit, StudyArrays, choose_device, evaluate
from trainables.neta import trial_lam, trial_normalisation, trial_seed, trial_tau
from trainables.netb import NetBResult, Toward, train_netb
from trainables.network import NetworkSettings, build_network


def neta_source_centroids(data: StudyArrays, config: dict[str, Any],
                          weights: dict[str, Tensor], centroids: np.ndarray, *,
                          backbone_state: dict[str, Tensor] | None = None) -> CentroidResult:
    """One k-means cluster per class (eq. 2) of NetA's source representations X (eq. 4),
    NetA being the trial with ``config`` and selected ``weights`` (trained towards
    ``centroids``, which its scores need but X does not)."""
    settings = NetworkSettings.from_config(config)
    device = choose_device()
    network = build_network(settings, data.source, backbone_state).to(device)
    load_weights(network, weights)
    split = DeviceSplit.create(data.source, device)
    result = evaluate(network, split, torch.as_tensor(centroids, device=device),
                      lam=trial_lam(config), normalisation=trial_normalisation(config),
                      tau=trial_tau(config), seq_len=settings.seq_len,
                      batch_size=settings.batch_size)
    return compute_centroids(result.representations, data.source.frame_labels,
                             len(data.source.classes), seed=trial_seed(config))


def train_netb_round(data: StudyArrays, settings: NetworkSettings, *, config: dict[str, Any],
                     neta_weights: dict[str, Tensor], netb_weights: dict[str, Tensor],
                     centroids: np.ndarray, epochs: int, seed: int, threads: int = 1,
                     backbone_state: dict[str, Tensor] | None = None,
                     train_backbone: bool = False, on_epoch: Any = None
                     ) -> tuple[NetBResult, CentroidResult]:
    """NetB of a round after the first, and the NetA source centroids it was trained towards.

    ``config`` and ``neta_weights`` are the previous round's NetA (its loss settings are
    NetB's too), ``centroids`` the Z that NetA was trained towards, ``netb_weights`` the
    previous round's NetB.
    """
    source = neta_source_centroids(data, config, neta_weights, centroids,
                                   backbone_state=backbone_state)
    toward = Toward(source.centroids, trial_lam(config), trial_normalisation(config),
                    trial_tau(config), netb_weights)
    result = train_netb(data, settings, epochs=epochs, seed=seed, threads=threads,
                        backbone_state=backbone_state, train_backbone=train_backbone,
                        on_epoch=on_epoch, toward=toward)
    result.summary["toward"] = {"lam": toward.lam, "normalisation": toward.normalisation,
                                "tau": toward.tau, "source_agreement": source.agreement}
    return result, source
