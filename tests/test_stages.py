"""The driver's feature stage: cached frozen-CNN features, or frames when the CNN trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from study.driver import study_arrays
from study.stages import Backbone, Resources, split_features
from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE
from trainables.data import load_split

CPU = Resources(gpus=0, gpus_per_trial=1, cpus_per_trial=1, progress=False)


def splits(root: Path) -> dict:
    return {role: load_split(root, split, DEFAULT_CLASSES, progress=False)
            for role, split in (("source", "Train"), ("target", "Val"))}


def test_frozen_backbone_gives_cached_fp16_features(tiny_data: Path) -> None:
    backbone = Backbone.build("small", None, False, 0, IMAGE_SIZE)
    data = study_arrays(splits(tiny_data), backbone, CPU)
    assert data.kind == "features" and data.source.inputs.dtype == np.float16
    again = split_features(splits(tiny_data)["source"], backbone, CPU)
    assert isinstance(again, np.memmap)  # second time: read back from the cache, not computed
    np.testing.assert_array_equal(again, data.source.inputs)


def test_trainable_backbone_falls_back_to_frames(tiny_data: Path) -> None:
    backbone = Backbone.build("small", None, True, 0, IMAGE_SIZE)
    data = study_arrays(splits(tiny_data), backbone, CPU)
    assert data.kind == "frames" and data.source.inputs.dtype == np.uint8
    assert data.source.inputs.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 3)
