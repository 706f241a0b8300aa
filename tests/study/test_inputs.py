"""A study's inputs: cached frozen-CNN features, or frames when the CNN trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from study import inputs
from study.data_roles import study_arrays
from study.inputs import Backbone, StudyInputs, features_here, split_features
from study.settings import StudySettings, new_settings, resumed_settings
from trainables.backbones import VGG16Conv, build_backbone
from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE
from trainables.data import load_split, to_model_input
from trainables.errors import UserInputError
from trainables.features import feature_cache_path

HERE = features_here(progress=False)


def arrays(root: Path, backbone: Backbone):
    """The study's arrays of the tiny set's Train and Val (nothing held out)."""
    loaded = splits(root)
    return study_arrays(loaded, StudyInputs(loaded, backbone).features(HERE),
                        StudySettings(target_holdout=0.0))


def splits(root: Path) -> dict:
    return {role: load_split(root, split, DEFAULT_CLASSES, progress=False)
            for role, split in (("source", "Train"), ("target", "Val"))}


def test_frozen_backbone_gives_cached_fp16_features(tiny_data: Path, monkeypatch) -> None:
    backbone = Backbone.build("small", None, False, 0, IMAGE_SIZE)
    source = splits(tiny_data)["source"]
    data = arrays(tiny_data, backbone)
    assert data.kind == "features" and data.source.inputs.dtype == np.float16
    # The features are the backbone's output on the decoded frames, computed here directly.
    with torch.no_grad():
        direct = backbone.module().eval()(to_model_input(np.asarray(source.frames)))
    np.testing.assert_allclose(data.source.inputs.astype(np.float32), direct.numpy(),
                               rtol=2e-3, atol=2e-3)
    cache_file = feature_cache_path(source.cache_key, backbone.key)
    written = cache_file.stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(inputs, "extract_features", lambda *a, **k: calls.append(a) or 1 / 0)
    again = split_features(splits(tiny_data)["source"], backbone, HERE)
    assert calls == []  # second time: read back from the cache, not computed
    assert cache_file.stat().st_mtime_ns == written
    np.testing.assert_array_equal(again, data.source.inputs)


def test_trainable_backbone_falls_back_to_frames(tiny_data: Path) -> None:
    backbone = Backbone.build("small", None, True, 0, IMAGE_SIZE)
    data = arrays(tiny_data, backbone)
    assert data.kind == "frames" and data.source.inputs.dtype == np.uint8
    assert data.source.inputs.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 3)


def test_vggface_input_changes_the_feature_key_and_fingerprint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(VGG16Conv().state_dict(), tmp_path / "vgg.pt")
    weights = str(tmp_path / "vgg.pt")
    paper = Backbone.for_study(StudySettings(backbone="vgg16", backbone_weights=weights))
    vggface = Backbone.for_study(StudySettings(backbone="vgg16", backbone_weights=weights,
                                               input_norm="vggface"))
    assert paper.key != vggface.key  # the feature cache's key and the study's fingerprint
    assert feature_cache_path("f" * 64, paper.key) != feature_cache_path("f" * 64, vggface.key)
    # A paper study's CNN state (and so its key) is what it was before input_norm existed.
    assert set(paper.state) == set(VGG16Conv().state_dict())
    frames = to_model_input(np.full((1, 32, 32, 3), 129, dtype=np.uint8))
    with torch.no_grad():  # the state rebuilds the CNN with VGG-Face's input layer
        assert torch.equal(vggface.module()(frames), build_backbone(
            "vgg16", weights, input_norm="vggface")(frames))


def test_input_norm_is_a_setting_of_the_study() -> None:
    stored = StudySettings().to_dict()
    del stored["input_norm"]  # a study from before the flag
    assert StudySettings.from_dict(stored).input_norm == "paper"
    with pytest.raises(UserInputError, match="--input-norm vggface differs"):
        resumed_settings({"input_norm": "vggface"}, stored)
    with pytest.raises(UserInputError, match="--backbone-weights"):
        new_settings({"backbone": "vgg16", "input_norm": "vggface"})
    with pytest.raises(UserInputError, match="--backbone vgg16"):
        new_settings({"backbone_weights": "/w.pt", "input_norm": "vggface"})
