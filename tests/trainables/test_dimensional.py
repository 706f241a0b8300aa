"""Valence-arousal studies in the library: cells as classes, unannotated frames never targets,
cell-mean centroids with empty cells dropped, a trial's own grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.dimensional import cell_centroids, dropped_cells, relabel, relabel_study
from trainables.engine import DeviceSplit, SplitArrays, StudyArrays, seed_everything, train_epoch
from trainables.neta import train_neta
from trainables.netb import train_netb
from trainables.network import NetworkSettings, build_network, make_optimizer
from trainables.va import VAGrid

FEATURES = 24


def va_split(rng: np.random.Generator, name: str, videos: int = 12) -> SplitArrays:
    """Features that encode (valence, arousal) linearly, plus noise; every third video has
    a run of unannotated (NaN) frames, and one video none at all."""
    lengths = rng.integers(8, 16, videos)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    va = np.clip(rng.normal(0, 0.5, (offsets[-1], 2)), -1, 1)
    mixing = np.random.default_rng(99).normal(0, 1, (2, FEATURES))
    features = va @ mixing + rng.normal(0, 0.1, (offsets[-1], FEATURES))
    annotated = va.astype(np.float32)
    for video in range(0, videos, 3):
        annotated[offsets[video]:offsets[video] + 3] = np.nan
    annotated[offsets[1]:offsets[2]] = np.nan
    return SplitArrays(name, "features", features.astype(np.float16),
                       np.full(offsets[-1], -1), offsets, np.full(videos, -1), (), annotated)


def va_study(seed: int = 0) -> StudyArrays:
    rng = np.random.default_rng(seed)
    return StudyArrays(va_split(rng, "s"), va_split(rng, "t"), va_split(rng, "h"))


def test_relabel_gives_the_grid_cells_and_video_means() -> None:
    split = va_split(np.random.default_rng(1), "x")
    grid = VAGrid(4)
    cells = relabel(split, grid)
    assert cells.classes == grid.names() and cells.inputs is split.inputs
    for frame, (v, a) in enumerate(split.frame_va):
        if np.isnan(v):
            assert cells.frame_labels[frame] == -1
        else:  # bins of width 0.5 from -1, written out by hand
            assert cells.frame_labels[frame] == min(int((v + 1) // 0.5), 3) * 4 + min(
                int((a + 1) // 0.5), 3)
    assert cells.video_labels[1] == -1  # the video without any annotation
    start, end = split.video_offsets[0], split.video_offsets[1]
    mean = np.nanmean(split.frame_va[start:end].astype(np.float64), axis=0)
    assert cells.video_labels[0] == grid.cell_of(mean[None])[0]


def test_cell_centroids_are_means_and_empty_cells_nan() -> None:
    representations = np.arange(12, dtype=np.float64).reshape(6, 2)
    labels = np.array([0, 0, 2, -1, 2, 2])
    result = cell_centroids(representations, labels, 4)
    np.testing.assert_allclose(result.centroids[0], [1.0, 2.0])
    np.testing.assert_allclose(result.centroids[2], [(4 + 8 + 10) / 3, (5 + 9 + 11) / 3],
                               rtol=1e-6)
    assert np.isnan(result.centroids[[1, 3]]).all() and dropped_cells(result.centroids) == 2
    assert result.to_dict()["centroids"][1] == [None, None]  # valid JSON, not NaN


def test_unannotated_frames_are_inputs_but_never_targets() -> None:
    """An epoch over a split whose frames are partly unannotated runs (a -1 target would be
    refused by the loss) and gives the same losses whatever labels those frames carry."""
    grid = VAGrid(4)
    split = relabel(va_split(np.random.default_rng(2), "x"), grid)
    settings = NetworkSettings(fc_units=16, rnn_hidden=16, seq_len=6, batch_size=4)

    def epoch(frame_va: np.ndarray) -> dict[str, float]:
        arrays = relabel(SplitArrays(**{**vars(split), "frame_va": frame_va}), grid)
        seed_everything(0)
        network = build_network(settings, arrays)
        generator = torch.Generator().manual_seed(0)
        z = torch.zeros(grid.num_cells, settings.rnn_hidden)
        return train_epoch(network, DeviceSplit.create(arrays, torch.device("cpu")),
                           make_optimizer(network, settings), z, lam=1.0,
                           normalisation="softmax", seq_len=6, batch_size=4,
                           generator=generator)

    first = epoch(split.frame_va)
    unannotated = np.isnan(split.frame_va).any(axis=1)
    assert unannotated.sum() > 0
    losses = first["E_a"]
    assert np.isfinite(losses) and losses > 0
    # Annotating those frames changes the loss: they were left out, not counted as class 0.
    filled = split.frame_va.copy()
    filled[unannotated] = 0.9
    assert epoch(filled)["E_a"] != losses


def test_neta_on_valence_arousal_reports_ccc_with_its_own_grid() -> None:
    data = va_study()
    netb = train_netb(data, NetworkSettings(fc_units=32, rnn_hidden=16, seq_len=8,
                                            batch_size=4), epochs=2, seed=0, va_grid=5)
    assert netb.representations is not None and netb.centroids.centroids.shape == (25, 16)
    assert netb.summary["dropped_cells"] == dropped_cells(netb.centroids.centroids)
    rows: list[dict] = []
    config = {"lam": 0.5, "normalisation": "linear", "cell": "gru", "seq_len": 8, "epochs": 2,
              "seed": 0, "metric": "target_frame_ccc", "fc_units": 32, "rnn_hidden": 16,
              "batch_size": 4, "va_grid": 3}
    train_neta(config, data, netb.centroids.centroids,
               report=lambda metrics, _write: rows.append(metrics),
               netb_representations=netb.representations)
    last = rows[-1]
    for key in ("source_frame_ccc", "target_video_ccc", "heldout_frame_rmse_arousal",
                "selected_heldout_frame_ccc", "centroid_distance_mean", "dropped_cells"):
        assert key in last, key
    assert last["best_target_frame_ccc"] == max(row["target_frame_ccc"] for row in rows)
    # The trial's grid (3 x 3) and its Z from NetB's representations, not NetB's 5 x 5 Z.
    grid3 = relabel_study(data, VAGrid(3))
    z3 = cell_centroids(netb.representations, grid3.target.frame_labels, 9).centroids
    assert last["dropped_cells"] == dropped_cells(z3)
    assert last["centroids_norm"] == pytest.approx(float(np.sqrt(np.nansum(
        z3.astype(np.float64) ** 2))), rel=1e-9)
    assert last["learned"] == float(max(row["source_frame_ccc"] for row in rows) >= 0.1)
