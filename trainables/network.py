"""Assemble the CNN-RNN of Table I from plain settings, for NetB and NetA alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from trainables.backbones import build_backbone
from trainables.config import (
    BATCH_SIZE,
    DISTANCE_TEMPERATURE,
    DROPOUT,
    FC_UNITS,
    IMAGE_SIZE,
    LEARNING_RATE,
    RNN_HIDDEN,
    SEQUENCE_LENGTH,
)
from trainables.engine import (
    DeviceSplit,
    SplitArrays,
    StudyArrays,
    choose_device,
    seed_everything,
)
from trainables.model import CNNRNN, HeadSettings, SequenceHead


@dataclass(frozen=True)
class NetworkSettings:
    """Everything that shapes one network and its optimiser (Section IV-A)."""

    cell: str = "gru"
    seq_len: int = SEQUENCE_LENGTH
    fc_units: int = FC_UNITS
    rnn_hidden: int = RNN_HIDDEN
    dropout: float = DROPOUT
    paper_init: bool = False
    lr: float = LEARNING_RATE
    batch_size: int = BATCH_SIZE
    backbone: str = "small"
    image_size: int = IMAGE_SIZE

    @property
    def head(self) -> HeadSettings:
        """The settings of the trained part (validated on access)."""
        return HeadSettings(cell=self.cell, fc_units=self.fc_units, rnn_hidden=self.rnn_hidden,
                            dropout=self.dropout, paper_init=self.paper_init)

    def loop_options(self, *, lam: float, normalisation: str, tau: float = DISTANCE_TEMPERATURE,
                     autocast: bool = False) -> dict[str, Any]:
        """The keywords of :func:`~trainables.engine.train_epoch` and
        :func:`~trainables.engine.evaluate_roles`: the loss's ``lam``, ``normalisation`` and
        ``tau`` with this network's window length and batch size."""
        return dict(lam=lam, normalisation=normalisation, tau=tau, autocast=autocast,
                    seq_len=self.seq_len, batch_size=self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NetworkSettings:
        """Pick the settings out of a (possibly larger) trial config."""
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in config.items() if key in names})


def build_network(
    settings: NetworkSettings,
    arrays: SplitArrays,
    backbone_state: dict[str, torch.Tensor] | None = None,
    train_backbone: bool = False,
) -> nn.Module:
    """The network for the inputs at hand.

    On cached frozen-CNN features only the trained part (FC + RNN + output) is built;
    on frames the whole CNN-RNN is, its backbone restored from ``backbone_state``
    (weights travel through the object store, so worker nodes need no weights file).
    """
    num_classes = len(arrays.classes)
    if arrays.kind == "features":
        return SequenceHead(arrays.inputs.shape[1], num_classes, settings.head)
    backbone = build_backbone(settings.backbone, trainable=train_backbone)
    if backbone_state is not None:
        backbone.load_state_dict(backbone_state)
    return CNNRNN(backbone, num_classes, settings.head, image_size=settings.image_size)


def make_optimizer(network: nn.Module, settings: NetworkSettings) -> torch.optim.Optimizer:
    """Adam at the paper's constant learning rate, over the trainable parameters only."""
    trainable = [p for p in network.parameters() if p.requires_grad]
    return torch.optim.Adam(trainable, lr=settings.lr)


@dataclass
class TrainingSetup:
    """What NetA's and NetB's loops both start from: device, generator, splits on the
    device, the network and its optimiser."""

    device: torch.device
    generator: torch.Generator
    splits: dict[str, DeviceSplit]
    network: nn.Module
    optimizer: torch.optim.Optimizer


def prepare_training(data: StudyArrays, settings: NetworkSettings, *, seed: int, threads: int,
                     train_split: SplitArrays,
                     backbone_state: dict[str, torch.Tensor] | None = None,
                     train_backbone: bool = False) -> TrainingSetup:
    """Seed, pick the device, move every split there and build the network for
    ``train_split``'s inputs, with its optimiser."""
    torch.set_num_threads(max(1, threads))
    device = choose_device()
    generator = seed_everything(seed)
    splits = {role: DeviceSplit.create(arrays, device) for role, arrays in data.roles().items()}
    network = build_network(settings, train_split, backbone_state, train_backbone).to(device)
    return TrainingSetup(device, generator, splits, network, make_optimizer(network, settings))
