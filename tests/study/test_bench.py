"""``study.bench``'s measurements: its cached-feature epoch computes what its from-frames
epoch computes; ``--learning`` reports when NetB and NetA fit their splits, beside the
linear probe."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from study.bench import cli, learning, speed
from trainables.config import BATCH_SIZE, FRAMES_PER_CROP
from trainables.data import load_split
from trainables.features import extract_features
from trainables.network import NetworkSettings, build_network

CPU = torch.device("cpu")
FRAMES = 16  # one video: VGG-16 on 96x96 frames is the slow part on a CPU
SEQ_LEN = 8
EPOCHS = 2

#: VGG-16 on CPU frames: seconds each, so left out of the fast set (-m "not slow").
VGG16_ON_CPU = pytest.mark.slow


@pytest.fixture(scope="module")
def frames_run() -> dict:
    """bench's from-frames epoch (a), twice, with the state it started from."""
    split = speed.random_split(FRAMES, seed=0)
    runner = speed.EpochRunner(split, CPU, seq_len=SEQ_LEN, seed=0)
    start = {"head": copy.deepcopy(runner.network.head.state_dict()),
             "centroids": runner.centroids.clone()}
    features = extract_features(runner.network.backbone, split.inputs, device=CPU)
    losses = []
    for epoch in range(EPOCHS):
        torch.manual_seed(100 + epoch)  # dropout's draws, the same in both paths
        losses.append(runner.epoch())
    return {"split": split, "features": features, "start": start, "losses": losses}


def cached_losses(runner: speed.EpochRunner) -> list[dict[str, float]]:
    losses = []
    for epoch in range(EPOCHS):
        torch.manual_seed(100 + epoch)
        losses.append(runner.epoch())
    return losses


def assert_same_losses(cached: list[dict[str, float]], frames: list[dict[str, float]]) -> None:
    # fp16 features against fp32 ones: agreement to ~1e-7 relative is seen; a different
    # network differs by several per cent.
    for got, expected in zip(cached, frames, strict=True):
        assert got.keys() == expected.keys()
        for name in expected:
            assert got[name] == pytest.approx(expected[name], rel=1e-4), name


@VGG16_ON_CPU
def test_cached_feature_epoch_computes_the_frame_epoch_losses(frames_run: dict) -> None:
    """The feature cache is a pure speed-up: the same network on the backbone's cached
    features gives the losses of the epoch through the backbone, two epochs running."""
    features = frames_run["features"]
    assert features.dtype == np.float16 and features.shape[0] == FRAMES
    runner = speed.EpochRunner(speed.with_features(frames_run["split"], features), CPU,
                               seq_len=SEQ_LEN, seed=0)
    runner.network.load_state_dict(frames_run["start"]["head"])
    runner.centroids = frames_run["start"]["centroids"].clone()
    assert_same_losses(cached_losses(runner), frames_run["losses"])


@VGG16_ON_CPU
def test_bench_runners_with_one_seed_train_the_same_network(frames_run: dict) -> None:
    """(a) and (b) of the bench train one network: EpochRunner(seed=s) on features starts
    from the head and centroids that EpochRunner(seed=s) on frames starts from."""
    runner = speed.EpochRunner(speed.with_features(frames_run["split"], frames_run["features"]),
                               CPU, seq_len=SEQ_LEN, seed=0)
    assert_same_losses(cached_losses(runner), frames_run["losses"])


@VGG16_ON_CPU
def test_cache_comparison_extracts_b_features_with_a_backbone(monkeypatch) -> None:
    """(b)'s features come from (a)'s own frozen VGG-16, so both paths train one network."""
    used = []

    def recording_extract(backbone, frames, **options):
        used.append({key: value.clone() for key, value in backbone.state_dict().items()})
        return extract_features(backbone, frames, **options)

    monkeypatch.setattr(speed, "extract_features", recording_extract)
    monkeypatch.setattr(speed.EpochRunner, "rate", lambda self, device: 1.0)
    speed.cache_comparison(FRAMES, CPU)
    expected = speed.EpochRunner(speed.random_split(FRAMES, seed=0), CPU).network.backbone
    assert len(used) == 1
    for key, value in expected.state_dict().items():
        assert torch.equal(used[0][key], value), key


@pytest.mark.slow  # trains the default network for two epochs
def test_checkpoint_row_weighs_the_finished_trials_weights_alone() -> None:
    """(f): a finished trial's checkpoint is the default network's float32 weights (plus a
    few kB of numbers); a running one adds Adam's two moments and the latest weights."""
    _, figures = speed.checkpoint_sizes()
    network = build_network(NetworkSettings(), speed.with_features(
        speed.random_split(8, seed=0), np.empty((8, speed.VGG16_FEATURES), np.float16)))
    weights_mb = sum(p.numel() * 4 for p in network.parameters()) / 1e6
    assert weights_mb == pytest.approx(figures["checkpoint_mb_finished"], rel=0.01)
    assert figures["checkpoint_mb_running"] == pytest.approx(4 * weights_mb, rel=0.01)


# ----------------------------------------------------------------------------- --learning

def test_fit_point_is_the_first_epoch_near_the_best() -> None:
    history = [{"epoch": 1, "steps": 10, "acc": 0.2}, {"epoch": 2, "steps": 20, "acc": 0.8},
               {"epoch": 3, "steps": 30, "acc": 0.75}, {"epoch": 4, "steps": 40, "acc": 0.85},
               {"epoch": 5, "steps": 50, "acc": 0.6}]
    # 0.9 x 0.85 = 0.765: epoch 2 (0.8) is the first to reach it, not the best epoch 4
    assert learning.fit_point(history, "acc") == {
        "fit_epoch": 2, "fit_steps": 20, "best_own_video_acc": 0.85, "epochs_run": 5,
        "steps": 50}
    assert learning.fit_point(history, "acc", fraction=1.0)["fit_epoch"] == 4
    assert learning.fit_point(history[:1], "acc")["fit_epoch"] == 1
    with pytest.raises(ValueError):
        learning.fit_point([], "acc")


def test_learning_row_says_a_network_below_the_probe_has_not_learned() -> None:
    figures = {"d_netb_target_video_acc": 0.5, "d_probe_target_video_acc": 1.0,
               "d_neta_source_video_acc": 0.9, "d_source_probe_source_video_acc": 0.9,
               "d_netb_heldout_video_acc": 0.5, "d_probe_heldout_video_acc": 0.6,
               "d_neta_heldout_video_acc": 0.25, "d_source_probe_heldout_video_acc": 0.5}
    rows = learning.learning_table(figures, ["d"]).set_index("model")
    verdict = "learned (own >= probe held-out)"
    assert rows.loc["NetB", verdict] == "no: below the probe's held-out accuracy"
    assert rows.loc["NetA lam=1", verdict] == "yes"
    assert rows.loc["NetB", "held-out minus probe's"] == "-0.100"
    assert rows.loc["NetA lam=1", "held-out minus probe's"] == "-0.250"
    assert rows.loc["NetB", "own video"] == "0.500"
    assert rows.loc["majority class", "own video"] == "-"


def epoch_steps(offsets: np.ndarray) -> int:
    """Optimisation steps of one training epoch: one crop per FRAMES_PER_CROP frames of
    each video, BATCH_SIZE crops a step (trainables.sequences.crop_windows)."""
    crops = int(np.sum(-(-np.diff(offsets) // FRAMES_PER_CROP)))
    return -(-crops // BATCH_SIZE)


@pytest.mark.slow  # trains NetB and NetA for two epochs on two data sets
def test_learning_bench_reports_every_figure(monkeypatch, capsys, tiny_data: Path,
                                             tmp_path: Path) -> None:
    """``--learning`` on the tiny set, 2 epochs each: one table, a JSON line with every
    figure of every model, and step counts that are every optimisation step taken."""
    monkeypatch.setattr(learning, "LEARNING_SETS", {"tiny": lambda work: (tiny_data, tmp_path)})
    assert cli.main(["--learning", "--netb-epochs", "2", "--neta-epochs", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["learning"] is True and summary["netb_epoch_cap"] == 2
    for model, own in (("netb", "target"), ("neta", "source")):
        fit = {key: summary[f"tiny_{model}_{key}"] for key in (
            "fit_epoch", "fit_steps", "best_own_video_acc", "epochs_run", "steps")}
        assert 1 <= fit["fit_epoch"] <= fit["epochs_run"] <= 2
        assert 0 < fit["fit_steps"] <= fit["steps"]
        split = load_split(tiny_data, "Val" if own == "target" else "Train", progress=False,
                           cache_dir=tmp_path / "frames")
        assert fit["steps"] == fit["epochs_run"] * epoch_steps(split.video_offsets)
    for prefix in ("netb", "neta", "probe", "source_probe"):
        for role in ("source", "target", "heldout"):
            for level in ("video", "frame"):
                assert 0.0 <= summary[f"tiny_{prefix}_{role}_{level}_acc"] <= 1.0
    assert summary["tiny_probe_target_frame_acc"] == 1.0  # 7 tiny videos: the probe fits
    assert summary["tiny_chance_heldout_video_acc"] == pytest.approx(1 / 7)
    assert summary["device"] in "\n".join(lines[:-1])
    table = "\n".join(lines[:-1])
    for label in ("NetB", "NetA lam=1", "linear probe", "majority class", "fit epoch"):
        assert label in table
