"""A study's inputs, opened the same way by the driver and the report.

The frozen CNN (its weights travel as a state dict, so worker nodes need no weights file),
the splits in their roles (:mod:`study.data_roles`), the fingerprint of both that a study
keeps in ``study.json``, and the CNN features of every split from the feature cache. How
missing features are computed is the caller's choice (a :data:`FeatureMaker`): the driver
shards them over Ray tasks on GPUs (:func:`study.stages.feature_maker`), the report computes
them on its own process (:func:`features_here`). Nothing here needs Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from study.data_roles import fingerprint, load_data, study_arrays
from study.settings import StudySettings
from trainables.backbones import build_backbone
from trainables.config import IMAGE_SIZE
from trainables.data import SplitData
from trainables.engine import StudyArrays
from trainables.features import (
    backbone_fingerprint,
    extract_features,
    feature_cache_path,
    load_features,
    save_features,
)


@dataclass
class Backbone:
    """The frozen CNN, its weights (shipped to tasks through the object store) and key."""

    name: str
    state: dict[str, torch.Tensor]
    key: str
    trainable: bool
    image_size: int

    @classmethod
    def build(cls, name: str, weights: str | None, trainable: bool, seed: int,
              image_size: int = IMAGE_SIZE, input_norm: str = "paper") -> Backbone:
        """The CNN with its weights; with ``input_norm="vggface"`` it takes the same [-1, 1]
        frames and maps them to VGG-Face's input in its first layer, whose buffers are part of
        ``state`` and so of ``key`` (the feature cache's and the study's fingerprint)."""
        torch.manual_seed(seed)  # an un-pretrained backbone is still the same in every run
        module = build_backbone(name, weights, trainable=trainable or None, input_norm=input_norm)
        state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
        return cls(name, state, backbone_fingerprint(module, image_size), trainable, image_size)

    @classmethod
    def for_study(cls, settings: StudySettings) -> Backbone:
        """The study's CNN; a wrong --backbone-weights file is refused here, before data."""
        return cls.build(settings.backbone, settings.backbone_weights, settings.train_backbone,
                         settings.seed, input_norm=settings.input_norm)

    def module(self) -> torch.nn.Module:
        """A fresh copy of the CNN, frozen (the input layer comes back with ``state``)."""
        module = build_backbone(self.name, trainable=None)
        module.load_state_dict(self.state)
        return module


#: Computes the CNN features of one split (called only when they are not cached).
FeatureMaker = Callable[[SplitData, Backbone], np.ndarray]


def features_here(progress: bool) -> FeatureMaker:
    """Features computed on this process (its GPU if it has one), with a progress bar."""
    def make(split: SplitData, backbone: Backbone) -> np.ndarray:
        bar = partial(tqdm, desc=f"CNN features ({split.split})", unit="batch",
                      disable=not progress)
        return extract_features(backbone.module(), split.frames, progress=bar)
    return make


def split_features(split: SplitData, backbone: Backbone, make: FeatureMaker) -> np.ndarray:
    """Features of one split: from the cache, else made, cached (fp16) and memory-mapped."""
    path = feature_cache_path(split.cache_key, backbone.key)
    cached = load_features(path)
    if cached is not None:
        return cached
    save_features(path, make(split, backbone))
    return load_features(path)


@dataclass
class StudyInputs:
    """The decoded splits by role and the CNN: what a study is computed from."""

    splits: dict[str, SplitData]
    backbone: Backbone

    @classmethod
    def read(cls, settings: StudySettings, backbone: Backbone, progress: bool) -> StudyInputs:
        """Decode the splits (or read the frame cache), after checking their roles."""
        return cls(load_data(settings, progress=progress), backbone)

    @property
    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.splits, self.backbone)

    @property
    def backbone_state(self) -> dict[str, torch.Tensor] | None:
        """The CNN's weights when trials train it (they then see frames), else None."""
        return self.backbone.state if self.backbone.trainable else None

    def features(self, make: FeatureMaker) -> dict[str, np.ndarray | None]:
        """Cached CNN features of every split, or None for each when the CNN trains."""
        return {role: None if self.backbone.trainable else
                split_features(split, self.backbone, make)
                for role, split in self.splits.items()}

    def arrays(self, settings: StudySettings, make: FeatureMaker) -> StudyArrays:
        """The splits as trials consume them, held-out videos taken out per the protocol."""
        return study_arrays(self.splits, self.features(make), settings)
