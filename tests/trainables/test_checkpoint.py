"""trainables.checkpoint: an interrupted training continues exactly as an uninterrupted one;
a frozen backbone is never saved."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trainables import checkpoint
from trainables.checkpoint import (
    CHECKPOINT_FILE,
    RESUME_FILE,
    SELECTED_FILE,
    TrialState,
    load_state,
    save_state,
)
from trainables.engine import DeviceSplit, SplitArrays, seed_everything, train_epoch
from trainables.model import CNNRNN
from trainables.network import NetworkSettings, build_network, make_optimizer

SETTINGS = NetworkSettings(cell="gru", seq_len=20, fc_units=48, rnn_hidden=16, dropout=0.5,
                           batch_size=4, lr=1e-3)
CLASSES = ("a", "b", "c")
LAM = 0.5


def random_arrays(seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    lengths = [7, 33, 20, 61, 1, 45]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    video_labels = rng.integers(0, len(CLASSES), len(lengths))
    features = rng.normal(size=(offsets[-1], 24)).astype(np.float16)
    return SplitArrays("source", "features", features, np.repeat(video_labels, lengths), offsets,
                       video_labels, CLASSES)


class Run:
    """A network, its optimiser and shuffling generator, seeded as a trial seeds them."""

    def __init__(self, arrays: SplitArrays, seed: int) -> None:
        self.generator = seed_everything(seed)
        self.network = build_network(SETTINGS, arrays)
        self.optimizer = make_optimizer(self.network, SETTINGS)
        self.split = DeviceSplit.create(arrays, torch.device("cpu"))
        self.centroids = torch.randn(len(CLASSES), SETTINGS.rnn_hidden,
                                     generator=torch.Generator().manual_seed(7))

    def epoch(self) -> dict[str, float]:
        return train_epoch(self.network, self.split, self.optimizer, self.centroids, lam=LAM,
                           normalisation="softmax", seq_len=SETTINGS.seq_len,
                           batch_size=SETTINGS.batch_size, generator=self.generator)


def assert_same_training_state(a: Run, b: Run) -> None:
    weights_a, weights_b = a.network.state_dict(), b.network.state_dict()
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    opt_a, opt_b = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    assert opt_a["state"].keys() == opt_b["state"].keys() and opt_a["state"]
    for index, state in opt_a["state"].items():
        assert state.keys() == opt_b["state"][index].keys()
        for key, value in state.items():
            assert torch.equal(value, opt_b["state"][index][key]), (index, key)


def test_resumed_training_continues_bit_for_bit(tmp_path: Path) -> None:
    arrays = random_arrays()
    straight = Run(arrays, seed=3)
    straight_losses = [straight.epoch(), straight.epoch()]

    interrupted = Run(arrays, seed=3)
    first = interrupted.epoch()
    assert first == straight_losses[0]
    state = TrialState(epoch=1)
    state.update_best({"target_video_acc": 0.25, "source_frame_acc": 0.5, "E_tot": 9.0})
    state.extra["lr_scale"] = 0.5
    save_state(tmp_path, interrupted.network, interrupted.optimizer, interrupted.generator, state)
    # Advance every generator further, as the rest of a killed process would have.
    torch.rand(1000)
    interrupted.generator.manual_seed(99)

    resumed = Run(arrays, seed=12345)  # fresh weights, optimiser and generators
    with pytest.raises(AssertionError):
        assert_same_training_state(resumed, interrupted)
    restored = load_state(tmp_path, resumed.network, resumed.optimizer, resumed.generator)
    assert restored == TrialState(epoch=1,
                                  best={"target_video_acc": 0.25, "source_frame_acc": 0.5},
                                  extra={"lr_scale": 0.5})
    second = resumed.epoch()

    assert second == straight_losses[1]
    assert_same_training_state(resumed, straight)


def test_without_restoring_the_torch_rng_dropout_differs(tmp_path: Path) -> None:
    """The round trip above depends on the saved torch RNG: dropout draws from it."""
    arrays = random_arrays()
    straight = Run(arrays, seed=3)
    straight.epoch()
    straight.epoch()
    interrupted = Run(arrays, seed=3)
    interrupted.epoch()
    save_state(tmp_path, interrupted.network, interrupted.optimizer, interrupted.generator,
               TrialState(epoch=1))
    resumed = Run(arrays, seed=12345)
    load_state(tmp_path, resumed.network, resumed.optimizer, resumed.generator)
    torch.manual_seed(0)  # lose the restored CPU generator state
    resumed.epoch()
    weights = resumed.network.state_dict()
    assert not all(torch.equal(weights[k], v) for k, v in straight.network.state_dict().items())


def test_cuda_generators_are_saved_and_restored(tmp_path: Path, monkeypatch) -> None:
    """With CUDA present every device's generator state goes into the file and comes back."""
    devices = [torch.arange(16, dtype=torch.uint8), torch.arange(16, 32, dtype=torch.uint8)]
    restored: list[list[torch.Tensor]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [d.clone() for d in devices])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(states))
    run = Run(random_arrays(), seed=0)
    save_state(tmp_path, run.network, run.optimizer, run.generator, TrialState())
    saved = torch.load(tmp_path / RESUME_FILE, weights_only=True)
    assert [torch.equal(a, b) for a, b in zip(saved["cuda_rng"], devices, strict=True)] == [
        True, True]
    load_state(tmp_path, run.network, run.optimizer, run.generator)
    assert len(restored) == 1 and len(restored[0]) == 2
    assert all(torch.equal(a, b) for a, b in zip(restored[0], devices, strict=True))


def test_no_cuda_state_on_a_cpu_machine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = Run(random_arrays(), seed=0)
    save_state(tmp_path, run.network, run.optimizer, run.generator, TrialState())
    assert "cuda_rng" not in torch.load(tmp_path / RESUME_FILE, weights_only=True)


def test_checkpoint_without_extra_or_cuda_state_still_loads(tmp_path: Path) -> None:
    """A checkpoint in the earlier format (the first Tune trainable's) resumes too."""
    run = Run(random_arrays(), seed=0)
    torch.save({"network": run.network.state_dict(), "optimizer": run.optimizer.state_dict(),
                "epoch": 4, "best": {"target_video_acc": 0.75},
                "torch_rng": torch.get_rng_state(), "generator_rng": run.generator.get_state()},
               tmp_path / CHECKPOINT_FILE)
    state = load_state(tmp_path, run.network, run.optimizer, run.generator)
    assert state == TrialState(epoch=4, best={"target_video_acc": 0.75}, extra={})


class Payload:
    """An object a plain pickle would rebuild by running code."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_carrying_code_is_refused(tmp_path: Path) -> None:
    run = Run(random_arrays(), seed=0)
    torch.save({"network": Payload()}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(pickle.UnpicklingError):
        load_state(tmp_path, run.network, run.optimizer, run.generator)


def test_update_best_keeps_running_maxima() -> None:
    state = TrialState()
    assert state.update_best({"target_video_acc": 0.5, "E_tot": 1.0}) == {
        "best_target_video_acc": 0.5}
    assert state.update_best({"target_video_acc": 0.25, "source_video_acc": 0.75}) == {
        "best_target_video_acc": 0.5, "best_source_video_acc": 0.75}
    assert state.update_best({"target_video_acc": 0.875}) == {
        "best_target_video_acc": 0.875, "best_source_video_acc": 0.75}
    assert checkpoint.TrialState().extra == {} and checkpoint.TrialState().extra is not state.extra


def frame_arrays() -> SplitArrays:
    """Three short videos of 32x32 frames: the network built for them is the whole CNN-RNN."""
    rng = np.random.default_rng(0)
    offsets = np.array([0, 3, 5, 8])
    labels = np.array([0, 1, 2])
    return SplitArrays("source", "frames", rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8),
                       np.repeat(labels, np.diff(offsets)), offsets, labels, CLASSES)


def cnn_rnn(train_backbone: bool, seed: int) -> tuple[CNNRNN, torch.optim.Optimizer]:
    settings = NetworkSettings(fc_units=16, rnn_hidden=8, seq_len=4, batch_size=2,
                               backbone="small", image_size=32)
    torch.manual_seed(seed)
    network = build_network(settings, frame_arrays(), train_backbone=train_backbone)
    assert isinstance(network, CNNRNN) and network.backbone_trainable() == train_backbone
    return network, make_optimizer(network, settings)


def test_a_frozen_backbone_is_never_in_a_checkpoint(tmp_path: Path) -> None:
    network, optimizer = cnn_rnn(train_backbone=False, seed=0)
    assert any(key.startswith("backbone.") for key in network.state_dict())
    save_state(tmp_path, network, optimizer, torch.Generator(), TrialState(epoch=1))
    checkpoint.save_selected(tmp_path, checkpoint.copy_weights(network), epoch=1)
    resume = torch.load(tmp_path / RESUME_FILE, weights_only=True)
    for weights in (resume["network"], checkpoint.load_selected(tmp_path)[0]):
        assert weights and not any(key.startswith("backbone.") for key in weights)
        assert set(weights) == {k for k in network.state_dict() if k.startswith("head.")}
    # Resuming: the head comes from the checkpoint, the backbone stays the one it was built
    # with (the study's).
    other, other_optimizer = cnn_rnn(train_backbone=False, seed=1)
    other.backbone.load_state_dict(network.backbone.state_dict())
    load_state(tmp_path, other, other_optimizer, torch.Generator())
    for key, value in network.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key


def test_a_trained_backbone_is_saved_like_any_layer(tmp_path: Path) -> None:
    network, optimizer = cnn_rnn(train_backbone=True, seed=0)
    save_state(tmp_path, network, optimizer, torch.Generator(), TrialState())
    saved = torch.load(tmp_path / RESUME_FILE, weights_only=True)["network"]
    assert saved.keys() == network.state_dict().keys()


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    network, optimizer = cnn_rnn(train_backbone=False, seed=0)
    weights = checkpoint.copy_weights(network)
    del weights[next(iter(weights))]
    with pytest.raises(RuntimeError, match="missing"):
        checkpoint.load_weights(network, weights)


def test_a_finished_trials_state_resumes_nothing_but_its_numbers(tmp_path: Path) -> None:
    run = Run(random_arrays(), seed=0)
    before = {k: v.clone() for k, v in run.network.state_dict().items()}
    state = TrialState(epoch=3, best={"target_video_acc": 0.5}, extra={"selected_epoch": 2.0})
    checkpoint.save_final_state(tmp_path, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]
    assert set(torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)) == {
        "epoch", "best", "extra"}
    assert load_state(tmp_path, run.network, run.optimizer, run.generator) == state
    assert all(torch.equal(v, before[k]) for k, v in run.network.state_dict().items())
    assert checkpoint.load_selected(tmp_path) is None and SELECTED_FILE == "best.pt"
