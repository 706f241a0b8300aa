"""The CNN-RNN of Table I and Section IV-A.

A (usually frozen) convolutional backbone turns every frame into features; the
:class:`SequenceHead` then applies block 6 (fully connected + ReLU + dropout), blocks 7-8 (two
recurrent layers with dropout between them) and a linear output layer. The second recurrent
layer's outputs are the representations ``X_m`` of eq. (4); the output layer gives ``O_m`` of
eq. (3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from trainables.backbones import feature_dim
from trainables.config import (
    CELLS,
    DROPOUT,
    FC_UNITS,
    IMAGE_SIZE,
    PAPER_INIT_BIAS,
    PAPER_INIT_STD,
    RNN_HIDDEN,
)
from trainables.errors import UserInputError

RNN_LAYERS = 2            # blocks 7 and 8 of Table I
FROZEN_FRAME_CHUNK = 256  # frames per backbone call when no graph is kept (bounds peak memory)


def _recurrent_layers(cell: str, in_features: int, rnn_hidden: int, dropout: float) -> nn.RNNBase:
    """Two GRU layers, or two B-LSTM layers of ``rnn_hidden // 2`` units per direction
    (``cell`` and ``rnn_hidden`` as :class:`HeadSettings` checked them)."""
    if cell == "gru":
        return nn.GRU(in_features, rnn_hidden, num_layers=RNN_LAYERS, batch_first=True,
                      dropout=dropout)
    return nn.LSTM(in_features, rnn_hidden // 2, num_layers=RNN_LAYERS, batch_first=True,
                   dropout=dropout, bidirectional=True)


def paper_initialise(module: nn.Module) -> None:
    """Section IV-A: weights ~ truncated normal (mean 0, std PAPER_INIT_STD, cut at +-2 std),
    biases = PAPER_INIT_BIAS, for every trainable Linear/GRU/LSTM parameter in ``module``."""
    bound = 2.0 * PAPER_INIT_STD
    for layer in module.modules():
        if not isinstance(layer, (nn.Linear, nn.GRU, nn.LSTM)):
            continue
        for name, parameter in layer.named_parameters(recurse=False):
            if not parameter.requires_grad:
                continue
            with torch.no_grad():
                if name.startswith("weight"):
                    nn.init.trunc_normal_(parameter, 0.0, PAPER_INIT_STD, -bound, bound)
                elif name.startswith("bias"):
                    parameter.fill_(PAPER_INIT_BIAS)


def _check_positive(label: str, value: int) -> None:
    if value < 1:
        raise UserInputError(f"{label} must be a positive integer, got {value}")


@dataclass(frozen=True)
class HeadSettings:
    """What shapes the trained part of Table I: the cell of blocks 7-8 (``"gru"`` or
    ``"blstm"``), block 6's ``fc_units``, the RNN's ``rnn_hidden`` units, the dropout rate and
    whether to use the paper's initialisation (:func:`paper_initialise`)."""

    cell: str = "gru"
    fc_units: int = FC_UNITS
    rnn_hidden: int = RNN_HIDDEN
    dropout: float = DROPOUT
    paper_init: bool = False

    def __post_init__(self) -> None:
        for label, value in (("fc_units", self.fc_units), ("rnn_hidden", self.rnn_hidden)):
            _check_positive(label, value)
        if not 0.0 <= self.dropout < 1.0:
            raise UserInputError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.cell not in CELLS:
            raise UserInputError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.cell == "blstm" and self.rnn_hidden % 2:
            raise UserInputError(
                f"blstm needs an even rnn_hidden (2 directions), got {self.rnn_hidden}")


class SequenceHead(nn.Module):
    """FC (fc_units) + ReLU + dropout, two RNN layers of rnn_hidden units with dropout between,
    linear output per class; see :class:`HeadSettings`."""

    def __init__(self, in_features: int, num_classes: int,
                 head: HeadSettings = HeadSettings()) -> None:
        super().__init__()
        _check_positive("in_features", in_features)
        _check_positive("num_classes", num_classes)
        self.cell = head.cell
        self.fc = nn.Sequential(nn.Linear(in_features, head.fc_units), nn.ReLU(),
                                nn.Dropout(head.dropout))
        self.rnn = _recurrent_layers(head.cell, head.fc_units, head.rnn_hidden, head.dropout)
        self.output = nn.Linear(head.rnn_hidden, num_classes)
        if head.paper_init:
            paper_initialise(self)

    def forward(self, features: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, L, D)`` -> outputs ``O`` ``(B, L, C)`` (eq. 3), representations ``X``
        ``(B, L, rnn_hidden)`` (eq. 4).

        ``mask`` ``(B, L)`` marks real frames, left-aligned (padding only at the tail, as
        :func:`trainables.sequences.window_index` builds windows). With it, the FC layer runs
        on real frames only and the RNN on packed sequences, so padding costs no compute and
        never reaches a real frame, not even through the backward direction of a B-LSTM.
        Padded positions of ``O`` and ``X`` are zero.
        """
        if mask is None:
            representations, _ = self.rnn(self.fc(features))
            return self.output(representations), representations
        return self.forward_packed(features[mask], mask)

    def forward_packed(self, frame_features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Like :meth:`forward`, from the real frames' features ``(sum(mask), D)`` alone."""
        hidden = self.fc(frame_features)
        padded = hidden.new_zeros(*mask.shape, hidden.shape[-1])
        padded[mask] = hidden
        lengths = mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        representations, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                                 total_length=mask.shape[1])
        return self.output(representations), representations


class CNNRNN(nn.Module):
    """End-to-end CNN-RNN of Table I: per-frame backbone, then :class:`SequenceHead`.

    A frozen backbone runs under ``torch.no_grad()`` and stays in eval mode even while the model
    trains, so its (pre-trained) BatchNorm statistics and weights are untouched.
    """

    def __init__(self, backbone: nn.Module, num_classes: int,
                 head: HeadSettings = HeadSettings(), *, image_size: int = IMAGE_SIZE) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = SequenceHead(feature_dim(backbone, image_size), num_classes, head)
        self.train(self.training)

    def backbone_trainable(self) -> bool:
        """Whether any backbone parameter receives gradients."""
        return any(p.requires_grad for p in self.backbone.parameters())

    def train(self, mode: bool = True) -> CNNRNN:
        """Set train/eval mode, keeping a frozen backbone in eval mode."""
        super().train(mode)
        if not self.backbone_trainable():
            self.backbone.eval()
        return self

    def _frame_features(self, frames: Tensor) -> Tensor:
        """``(N, 3, H, W)`` -> ``(N, D)``; no graph (and chunked) when the backbone is frozen."""
        if self.backbone_trainable():
            return self.backbone(frames)
        with torch.no_grad():
            return torch.cat([self.backbone(chunk)
                              for chunk in frames.split(FROZEN_FRAME_CHUNK)])

    def forward(self, frames: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, L, 3, H, W)`` -> (``O`` ``(B, L, C)``, ``X`` ``(B, L, rnn_hidden)``).

        With a ``mask`` (see :meth:`SequenceHead.forward`) the CNN sees real frames only.
        """
        if frames.dim() != 5:
            raise ValueError(f"expected frames of shape (B, L, 3, H, W), got {tuple(frames.shape)}")
        if mask is not None:
            return self.head.forward_packed(self._frame_features(frames[mask]), mask)
        batch, length = frames.shape[:2]
        features = self._frame_features(frames.flatten(0, 1))
        return self.head(features.reshape(batch, length, -1))
