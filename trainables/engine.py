"""Training and evaluation loops shared by NetB (eq. 5 alone) and NetA (eq. 9).

A network here is anything mapping a (B, L, ...) batch of sequences to the pair
(O, X) of eqs. (3)-(4): the full :class:`~trainables.model.CNNRNN` on decoded frames,
or its :class:`~trainables.model.SequenceHead` on frozen-CNN features.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from math import isqrt
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import Tensor, nn

from trainables.config import (
    DISTANCE_TEMPERATURE,
    FRAMES_PER_CROP,
    HELDOUT,
    SOURCE,
    TARGET,
    VA_RULE,
)
from trainables.data import SplitData, to_model_input
from trainables.loss import predict, total_loss
from trainables.metrics import split_metrics
from trainables.sequences import crop_windows, gather_windows, window_index
from trainables.va import VAGrid, va_metrics

if TYPE_CHECKING:
    from trainables.alignment import Alignment

InputKind = Literal["features", "frames"]


@dataclass
class SplitArrays:
    """One split in the form the networks consume; picklable, shared via the object store.

    ``inputs`` is (N, D) float16 frozen-CNN features or (N, H, W, 3) uint8 frames. In a
    valence-arousal study ``frame_va`` is (N, 2) float32 (NaN: no valid annotation) and the
    labels are grid cells (:mod:`trainables.dimensional`), -1 for a frame without annotation.
    """

    name: str
    kind: InputKind
    inputs: np.ndarray
    frame_labels: np.ndarray
    video_offsets: np.ndarray
    video_labels: np.ndarray
    classes: tuple[str, ...]
    frame_va: np.ndarray | None = None

    @classmethod
    def from_split(cls, split: SplitData, features: np.ndarray | None = None) -> SplitArrays:
        """Wrap a decoded split, with its cached features when the CNN is frozen."""
        kind: InputKind = "frames" if features is None else "features"
        inputs = np.asarray(split.frames) if features is None else features
        return cls(split.split, kind, inputs, np.asarray(split.frame_labels),
                   np.asarray(split.video_offsets), np.asarray(split.video_labels),
                   tuple(split.classes), getattr(split, "frame_va", None))

    @property
    def num_frames(self) -> int:
        return len(self.frame_labels)

    def subset(self, videos: np.ndarray, name: str) -> SplitArrays:
        """The given videos (indices, kept in the given order) as a split of their own."""
        videos = np.asarray(videos, dtype=np.int64)
        starts, ends = self.video_offsets[videos], self.video_offsets[videos + 1]
        frames = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
        offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        return SplitArrays(name, self.kind, np.asarray(self.inputs[frames]),
                           self.frame_labels[frames], offsets, self.video_labels[videos],
                           self.classes,
                           None if self.frame_va is None else self.frame_va[frames])


def shared_tensor(array: np.ndarray, device: torch.device) -> Tensor:
    """``array`` on ``device``; on the CPU without a copy (zero-copy from Ray's object store
    or a memory map), so concurrent CPU trials share one copy of the features.

    The buffer is read-only and only ever indexed, never written; torch's warning about
    non-writable arrays is therefore silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(array)).to(device)


@dataclass
class DeviceSplit:
    """A :class:`SplitArrays` whose arrays live on the training device."""

    arrays: SplitArrays
    inputs: Tensor
    frame_labels: Tensor

    @classmethod
    def create(cls, arrays: SplitArrays, device: torch.device) -> DeviceSplit:
        return cls(arrays, shared_tensor(arrays.inputs, device),
                   shared_tensor(arrays.frame_labels.astype(np.int64, copy=False), device))

    def windows(self, seq_len: int, shift: int = 0) -> Tensor:
        """Every frame once, in consecutive windows (evaluation)."""
        index = window_index(self.arrays.video_offsets, seq_len, shift=shift)
        return torch.from_numpy(index).to(self.inputs.device)

    def training_windows(self, seq_len: int, frames_per_crop: int,
                         generator: torch.Generator) -> Tensor:
        """Random temporal crops of every video, in random order (one training epoch)."""
        index = crop_windows(self.arrays.video_offsets, seq_len, frames_per_crop, generator)
        order = torch.randperm(len(index), generator=generator)
        return torch.from_numpy(index)[order].to(self.inputs.device)


@dataclass
class Evaluation:
    """Per-frame results of one pass over a split, in frame order."""

    scores: np.ndarray           # (N, C) class scores from :func:`trainables.loss.predict`
    representations: np.ndarray  # (N, n) the X of eq. (4)


def _prepare(batch: Tensor) -> Tensor:
    if batch.dtype == torch.uint8:
        return to_model_input(batch)
    return batch.float()


def _autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` when asked (the study asks for it on GPUs only)."""
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def forward_windows(
    network: nn.Module, split: DeviceSplit, windows: Tensor, *, autocast: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the network on a batch of windows -> (O, X, targets, mask), all (B, L, ...)."""
    batch, mask = gather_windows(split.inputs, windows)
    targets = split.frame_labels[windows.clamp(min=0)]
    with _autocast(split.inputs.device, autocast):
        outputs, features = network(_prepare(batch), mask)
    return outputs.float(), features.float(), targets, mask


def train_epoch(
    network: nn.Module,
    split: DeviceSplit,
    optimizer: torch.optim.Optimizer,
    centroids: Tensor,
    *,
    lam: float,
    normalisation: str,
    seq_len: int,
    batch_size: int,
    generator: torch.Generator,
    autocast: bool = False,
    frames_per_crop: int = FRAMES_PER_CROP,
    tau: float = DISTANCE_TEMPERATURE,
    alignment: Alignment | None = None,
    unlabelled: DeviceSplit | None = None,
    progress: tuple[float, float] = (0.0, 1.0),
) -> dict[str, float]:
    """One epoch of eq. (9) over random temporal crops of every video (see
    :func:`trainables.sequences.crop_windows`); returns frame-weighted E_tot/E_a/E_b and the
    number of optimisation steps.

    With an ``alignment`` (a baseline, :mod:`trainables.alignment`) every step also runs the
    network on a batch of windows of ``unlabelled`` (the target part, whose labels are never
    read) and adds ``alignment.weight`` times the alignment loss between the step's source and
    target representations X; ``progress`` is the fraction of the whole training done at
    this epoch's start and end (DANN ramps its coefficient with it). ``E_align`` is then
    returned too, unweighted and per source frame.
    """
    network.train()
    windows = split.training_windows(seq_len, frames_per_crop, generator)
    batches = windows.split(batch_size)
    target = None if alignment is None else UnlabelledWindows(
        _required(unlabelled), seq_len, frames_per_crop, generator)
    totals = torch.zeros(4, device=windows.device)
    frames = steps = 0
    for batch_windows in batches:
        outputs, features, targets, mask = forward_windows(
            network, split, batch_windows, autocast=autocast)
        # A frame without a valid annotation (label -1) is an input of the RNN, never a target.
        labelled = mask & (targets >= 0)
        losses = total_loss(outputs, features, targets, centroids, lam, normalisation,
                            mask=labelled, tau=tau)
        objective, aligned = losses[0], torch.zeros((), device=windows.device)
        if alignment is not None and target is not None:
            _, target_features, _, target_mask = forward_windows(
                network, target.split, target.take(len(batch_windows)), autocast=autocast)
            done = progress[0] + (progress[1] - progress[0]) * steps / len(batches)
            aligned = alignment(features[mask], target_features[target_mask], done)
            objective = objective + alignment.weight * aligned
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        steps += 1
        real = int(labelled.sum())
        totals += torch.stack([objective.detach(), losses[1].detach(), losses[2].detach(),
                               aligned.detach()]) * real
        frames += real
    e_tot, e_a, e_b, e_align = (totals / max(frames, 1)).tolist()
    result = {"E_tot": e_tot, "E_a": e_a, "E_b": e_b, "steps": steps}
    return result if alignment is None else {**result, "E_align": e_align}


def _required(split: DeviceSplit | None) -> DeviceSplit:
    if split is None:
        raise ValueError("an alignment loss needs the unlabelled target split")
    return split


class UnlabelledWindows:
    """Random temporal crops of the target videos for an alignment loss, drawn like the
    source's and again whenever a pass is used up (the two parts differ in size)."""

    def __init__(self, split: DeviceSplit, seq_len: int, frames_per_crop: int,
                 generator: torch.Generator) -> None:
        self.split, self.seq_len, self.frames_per_crop = split, seq_len, frames_per_crop
        self.generator = generator
        self.pending = split.training_windows(seq_len, frames_per_crop, generator)

    def take(self, count: int) -> Tensor:
        """The next ``count`` windows."""
        while len(self.pending) < count:
            more = self.split.training_windows(self.seq_len, self.frames_per_crop, self.generator)
            self.pending = torch.cat([self.pending, more])
        taken, self.pending = self.pending[:count], self.pending[count:]
        return taken


@torch.no_grad()
def evaluate(
    network: nn.Module,
    split: DeviceSplit,
    centroids: Tensor,
    *,
    lam: float,
    normalisation: str,
    seq_len: int,
    batch_size: int,
    tau: float = DISTANCE_TEMPERATURE,
    autocast: bool = False,
) -> Evaluation:
    """Score every frame of every video once (windows tile each video, padding masked)."""
    network.eval()
    windows = split.windows(seq_len)
    num_frames = split.arrays.num_frames
    # float64: predict's centroid term needs it to keep far classes apart (trainables/loss.py).
    scores = torch.empty(num_frames, len(split.arrays.classes), dtype=torch.float64,
                         device=windows.device)
    representations: Tensor | None = None
    for batch_windows in windows.split(batch_size):
        outputs, features, _, mask = forward_windows(
            network, split, batch_windows, autocast=autocast)
        if representations is None:
            representations = torch.empty(num_frames, features.shape[-1], device=windows.device)
        frame_index = batch_windows[mask]
        scores[frame_index] = predict(outputs[mask], features[mask], centroids, lam, normalisation,
                                     tau=tau)
        representations[frame_index] = features[mask]
    assert representations is not None, "a split always holds at least one window"
    return Evaluation(scores.cpu().numpy(), representations.cpu().numpy())


def choose_device() -> torch.device:
    """The GPU Ray (or CUDA_VISIBLE_DEVICES) gave this process, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch and numpy for this process; return a generator for window shuffling."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


@dataclass
class StudyArrays:
    """The splits of one study: NetA trains on ``source``; NetB trains on ``target``, whose
    accuracy also selects epochs and trials; ``heldout`` target videos are scored, never used
    for any choice."""

    source: SplitArrays
    target: SplitArrays
    heldout: SplitArrays | None = None

    def roles(self) -> dict[str, SplitArrays]:
        """The splits present, keyed by their role in the study (also the metric prefix)."""
        splits = {SOURCE: self.source, TARGET: self.target, HELDOUT: self.heldout}
        return {role: arrays for role, arrays in splits.items() if arrays is not None}

    @property
    def kind(self) -> InputKind:
        return self.source.kind


def evaluate_roles(network: nn.Module, splits: dict[str, DeviceSplit], centroids: Tensor, *,
                   lam: float, normalisation: str, seq_len: int, batch_size: int,
                   tau: float = DISTANCE_TEMPERATURE, autocast: bool = False,
                   va_rule: str = VA_RULE) -> tuple[dict[str, float], dict[str, Evaluation]]:
    """Frame- and video-level accuracy (overall and per class) of every split, keyed
    ``{role}_{level}_acc``, and each split's per-frame :class:`Evaluation` (:func:`evaluate`
    with the same options for every split). A valence-arousal split gets the field's figures
    instead (:func:`trainables.va.va_metrics`, predictions by ``va_rule``)."""
    options = dict(lam=lam, normalisation=normalisation, seq_len=seq_len,
                   batch_size=batch_size, tau=tau, autocast=autocast)
    metrics: dict[str, float] = {}
    evaluations = {}
    for role, split in splits.items():
        result = evaluate(network, split, centroids, **options)
        arrays = split.arrays
        if arrays.frame_va is not None:  # valence-arousal: CCC, PCC, RMSE, cell accuracy
            metrics.update(va_metrics(role, result.scores, arrays.frame_va,
                                      arrays.video_offsets, VAGrid(isqrt(len(arrays.classes))),
                                      lam=lam, rule=va_rule))
        else:
            metrics.update(split_metrics(role, result.scores, arrays.frame_labels,
                                         arrays.video_offsets, arrays.video_labels,
                                         arrays.classes))
        evaluations[role] = result
    return metrics, evaluations
