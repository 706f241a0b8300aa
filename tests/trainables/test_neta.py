"""NetA's plain loop: Table VII's distances, the selected epoch, seeds of repeats, its
checkpoints (the finished trial's holds the selected epoch's weights; resume is exact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trainables.checkpoint import CHECKPOINT_FILE, RESUME_FILE, SELECTED_FILE, load_selected
from trainables.engine import SplitArrays, StudyArrays
from trainables.neta import centroid_metrics, train_neta, trial_seed

CLASSES = ("a", "b", "c", "d")


def test_table_vii_distances_match_a_direct_computation() -> None:
    """Well separated 128-d clusters: k-means finds the class means, so each distance is
    |mean of class i - Z_i|, computed here with numpy alone."""
    rng = np.random.default_rng(0)
    means = rng.normal(0, 5, (4, 128))
    labels = np.repeat(np.arange(4), 300)
    points = means[labels] + rng.normal(0, 0.3, (1200, 128))
    z = np.tanh(rng.normal(size=(4, 128))).astype(np.float32)
    metrics = centroid_metrics(points.astype(np.float32), labels, z, CLASSES, seed=0)
    expected = [np.linalg.norm(points[labels == i].mean(axis=0) - z[i]) for i in range(4)]
    for name, value in zip(CLASSES, expected, strict=True):
        assert metrics[f"centroid_distance/{name}"] == pytest.approx(value, rel=1e-4)
    assert metrics["centroid_distance_mean"] == pytest.approx(np.mean(expected), rel=1e-4)
    assert metrics["source_cluster_agreement"] == 1.0


def test_repeats_get_distinct_seeds_and_the_first_keeps_the_study_seed() -> None:
    assert trial_seed({"seed": 7}) == 7
    seeds = {trial_seed({"seed": 7, "__trial_index__": i}) for i in range(5)}
    assert len(seeds) == 5 and 7 in seeds


def _split(rng: np.random.Generator, name: str) -> SplitArrays:
    labels = np.repeat(np.arange(4), 6)
    lengths = rng.integers(5, 15, labels.size)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    frame_labels = np.repeat(labels, lengths)
    features = rng.normal(0, 1, (offsets[-1], 16)) + frame_labels[:, None]
    return SplitArrays(name, "features", features.astype(np.float16), frame_labels, offsets,
                       labels, CLASSES)


def _study() -> StudyArrays:
    rng = np.random.default_rng(1)
    return StudyArrays(_split(rng, "s"), _split(rng, "t"), _split(rng, "h"))


CONFIG = {"lam": 1.0, "normalisation": "softmax", "cell": "gru", "seq_len": 8, "epochs": 5,
          "seed": 0, "metric": "target_frame_acc", "fc_units": 32, "batch_size": 4}
#: With this seed epoch 3 is selected, and epoch 5 ties it (the first of tied epochs counts).
TIED = {**CONFIG, "seed": 1}
Z = np.zeros((4, 128), np.float32)


def test_selected_epoch_figures_are_read_at_that_epoch() -> None:
    data = _study()
    rows: list[dict] = []
    train_neta(CONFIG, data, Z, report=lambda metrics, _write: rows.append(metrics))
    targets = [row["target_frame_acc"] for row in rows]
    chosen = rows[int(np.argmax(targets))]  # the first epoch with the best value
    last = rows[-1]
    assert last["selected_epoch"] == chosen["epoch"]
    for name in ("heldout_video_acc", "heldout_frame_acc", "source_video_acc"):
        assert last[f"selected_{name}"] == chosen[name]
    assert last["steps"] == sum(-(-sum(-(-n // 4) for n in np.diff(data.source.video_offsets))
                                  // 4) for _ in rows)


class Recorder:
    """A report hook that writes every epoch's checkpoint to a folder of its own."""

    def __init__(self, root: Path) -> None:
        self.root, self.rows, self.folders = root, [], []

    def __call__(self, metrics: dict[str, Any], write_checkpoint) -> None:
        folder = self.root / f"epoch_{metrics['epoch']}"
        folder.mkdir(parents=True)
        write_checkpoint(folder)
        self.rows.append(metrics)
        self.folders.append(folder)


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_the_finished_trials_checkpoint_holds_the_selected_epochs_weights(
        tmp_path: Path) -> None:
    run = Recorder(tmp_path)
    train_neta(TIED, _study(), Z, report=run)
    selected = int(run.rows[-1]["selected_epoch"])
    assert selected == 3 and run.rows[-1]["target_frame_acc"] == run.rows[2]["target_frame_acc"]
    # Every epoch before the last can be resumed; the last keeps no optimiser or weights
    # beyond the selected epoch's.
    for folder in run.folders[:-1]:
        assert _files(folder) == [SELECTED_FILE, RESUME_FILE, CHECKPOINT_FILE]
    final = run.folders[-1]
    assert _files(final) == [SELECTED_FILE, CHECKPOINT_FILE]
    assert set(torch.load(final / CHECKPOINT_FILE, weights_only=True)) == {
        "epoch", "best", "extra"}
    weights, epoch = load_selected(final)
    assert epoch == selected
    # The network as it was at the selected epoch (written to that epoch's resume file).
    at_selected = torch.load(run.folders[selected - 1] / RESUME_FILE,
                             weights_only=True)["network"]
    last = torch.load(run.folders[-2] / RESUME_FILE, weights_only=True)["network"]
    assert weights.keys() == at_selected.keys()
    assert all(torch.equal(weights[key], at_selected[key]) for key in weights)
    assert not all(torch.equal(weights[key], last[key]) for key in weights)


@pytest.mark.parametrize("killed_after", [2, 4])  # before and after the selected epoch 3
def test_resuming_mid_run_reproduces_the_uninterrupted_run(tmp_path: Path,
                                                           killed_after: int) -> None:
    straight = Recorder(tmp_path / "straight")
    train_neta(TIED, _study(), Z, report=straight)
    resumed = Recorder(tmp_path / "resumed")
    state = train_neta(TIED, _study(), Z, report=resumed,
                       resume_from=straight.folders[killed_after - 1])
    assert [row["epoch"] for row in resumed.rows] == list(range(killed_after + 1, 6))
    assert resumed.rows == straight.rows[killed_after:]
    assert state.epoch == TIED["epochs"]
    ours, theirs = load_selected(resumed.folders[-1]), load_selected(straight.folders[-1])
    assert ours[1] == theirs[1]
    assert all(torch.equal(ours[0][key], theirs[0][key]) for key in theirs[0])
    # A finished trial resumed (Tune restoring it after its last report) ends at once.
    again = Recorder(tmp_path / "again")
    state = train_neta(TIED, _study(), Z, report=again, resume_from=straight.folders[-1])
    assert again.rows == [] and state.epoch == TIED["epochs"]


BASELINE = {key: value for key, value in CONFIG.items() if key not in ("lam", "normalisation")}


@pytest.mark.parametrize("method", ["coral", "mmd", "dann"])
def test_an_alignment_baseline_reads_target_frames_but_never_their_labels(method: str) -> None:
    """The alignment term sees the target part's inputs; its labels may be anything."""
    data = _study()
    rows: list[dict] = []
    train_neta({**BASELINE, "method": method, "epochs": 2}, data, Z,
               report=lambda metrics, _write: rows.append(metrics))
    scrambled = _study()
    scrambled.target.frame_labels[:] = scrambled.target.frame_labels[::-1].copy()
    again: list[dict] = []
    train_neta({**BASELINE, "method": method, "epochs": 2}, scrambled, Z,
               report=lambda metrics, _write: again.append(metrics))
    losses = ("E_tot", "E_a", "E_align", "source_frame_acc")
    assert [[row[k] for k in losses] for row in rows] == [[row[k] for k in losses]
                                                          for row in again]
    assert all(row["E_align"] > 0 for row in rows)
    # E_tot = E_a + weight x E_align (weight 1 by default), E_b unweighted at lam = 1.
    assert rows[-1]["E_tot"] == pytest.approx(rows[-1]["E_a"] + rows[-1]["E_align"], rel=1e-5)


def test_source_only_is_the_centroid_loss_at_lam_one() -> None:
    rows: list[dict] = []
    train_neta({**BASELINE, "method": "source_only"}, _study(), Z,
               report=lambda metrics, _write: rows.append(metrics))
    paper: list[dict] = []
    train_neta({**CONFIG, "lam": 1.0}, _study(), Z,
               report=lambda metrics, _write: paper.append(metrics))
    assert [row["source_video_acc"] for row in rows] == [row["source_video_acc"] for row in paper]
    assert [row["E_tot"] for row in rows] == [row["E_tot"] for row in paper]


def test_a_weight_of_zero_trains_as_source_only_and_the_weight_matters() -> None:
    """With weight 0 the target batches change nothing but the generator's draws, so the
    losses differ from source_only's only through the shuffling: compare weights instead."""
    def run(weight: float) -> list[float]:
        rows: list[dict] = []
        train_neta({**BASELINE, "method": "mmd", "mmd_weight": weight, "epochs": 2}, _study(),
                   Z, report=lambda metrics, _write: rows.append(metrics))
        return [row["E_a"] for row in rows]
    assert run(0.0) != run(10.0)


@pytest.mark.parametrize("method", ["dann", "coral"])
def test_an_interrupted_baseline_resumes_bit_for_bit(tmp_path: Path, method: str) -> None:
    """DANN's domain classifier (weights and its optimiser state) is part of the resume state."""
    config = {**BASELINE, "method": method, "seed": 1}
    straight = Recorder(tmp_path / "straight")
    train_neta(config, _study(), Z, report=straight)
    resumed = Recorder(tmp_path / "resumed")
    train_neta(config, _study(), Z, report=resumed, resume_from=straight.folders[1])
    assert resumed.rows == straight.rows[2:]
    saved = torch.load(straight.folders[1] / RESUME_FILE, weights_only=True)
    assert ("alignment" in saved) == (method == "dann")


def test_a_later_round_starts_from_the_given_weights(tmp_path: Path) -> None:
    first = Recorder(tmp_path / "first")
    train_neta(CONFIG, _study(), Z, report=first)
    weights, _ = load_selected(first.folders[-1])
    from trainables.neta import NetATraining

    run = NetATraining({**CONFIG, "round": 2}, _study(), Z, initial_weights=weights)
    state = run.setup.network.state_dict()
    assert all(torch.equal(state[key], weights[key]) for key in weights)
    fresh = NetATraining(CONFIG, _study(), Z).setup.network.state_dict()
    assert not all(torch.equal(fresh[key], weights[key]) for key in weights)
    assert run.epoch()["round"] == 2
