"""Backbones: construction, weight loading in both layouts, freezing and refusal of bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.backbones import (
    BackboneWeightsError,
    SmallCNN,
    VGG16Conv,
    build_backbone,
    feature_dim,
    load_backbone_weights,
)
from trainables.data import to_model_input
from trainables.errors import UserInputError

# torchvision's conv positions in vgg16().features, written out by hand as VGG-Face names them.
VGGFACE_NAMES = {
    0: "conv1_1", 2: "conv1_2", 5: "conv2_1", 7: "conv2_2", 10: "conv3_1", 12: "conv3_2",
    14: "conv3_3", 17: "conv4_1", 19: "conv4_2", 21: "conv4_3", 24: "conv5_1", 26: "conv5_2",
    28: "conv5_3",
}


@pytest.fixture(scope="module")
def vgg_weights() -> dict[str, torch.Tensor]:
    """Random VGG-16 conv weights in torchvision's layout (features.N.weight/bias)."""
    torch.manual_seed(0)
    return {key: value.clone() for key, value in VGG16Conv().state_dict().items()}


def assert_same_weights(backbone: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    state = backbone.state_dict()
    assert set(state) == set(weights)
    for key, value in weights.items():
        assert torch.equal(state[key], value), key


def test_vgg_layout_matches_table_one() -> None:
    convs = [m for m in VGG16Conv().features if isinstance(m, torch.nn.Conv2d)]
    assert sorted(VGGFACE_NAMES) == [i for i, m in enumerate(VGG16Conv().features)
                                     if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256,
                                               512, 512, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    pools = [m for m in VGG16Conv().features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 5


def test_torchvision_layout_loads(tmp_path: Path, vgg_weights: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "vgg16.pth"
    extras = {"classifier.0.weight": torch.zeros(3, 2), "classifier.6.bias": torch.zeros(2)}
    torch.save({**vgg_weights, **extras}, path)
    backbone = build_backbone("vgg16", path)
    assert_same_weights(backbone, vgg_weights)
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not backbone.training


def test_vggface_layout_loads(tmp_path: Path, vgg_weights: dict[str, torch.Tensor]) -> None:
    renamed = {}
    for key, value in vgg_weights.items():
        _, index, kind = key.split(".")
        renamed[f"module.features.{VGGFACE_NAMES[int(index)]}.{kind}"] = value
    renamed["module.fc6.weight"] = torch.zeros(4, 3)
    path = tmp_path / "vgg_face.pt"
    torch.save({"state_dict": renamed, "epoch": 3}, path)
    backbone = build_backbone("vgg16", path, trainable=True)
    assert_same_weights(backbone, vgg_weights)
    assert all(p.requires_grad for p in backbone.parameters())


# The four public PyTorch layouts of VGG-Face: key pattern, the classifier each carries
# (ignored), and whether it takes BGR (the ports of the Torch7 release do).
LAYOUTS = {
    "vgg_face_dag.pth": ("conv{block}_{layer}.{kind}", "fc8.weight", False),
    "vgg-face.pytorch": ("conv_{block}_{layer}.{kind}", "fc8.weight", True),
    "PyVGGFace": ("features.conv_{block}_{layer}.{kind}", "fc.fc8.weight", True),
    "torchvision": ("features.{index}.{kind}", "classifier.6.weight", False),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_vggface_layout_loads(tmp_path: Path, vgg_weights: dict[str, torch.Tensor],
                                    layout: str) -> None:
    pattern, classifier, bgr = LAYOUTS[layout]
    saved = {classifier: torch.zeros(5, 4)}
    for key, value in vgg_weights.items():
        _, index, kind = key.split(".")
        block, layer = VGGFACE_NAMES[int(index)][4:].split("_")
        saved[pattern.format(block=block, layer=layer, index=index, kind=kind)] = value
    torch.save(saved, tmp_path / "weights.pth")
    loaded = build_backbone("vgg16", tmp_path / "weights.pth").state_dict()
    assert set(loaded) == set(vgg_weights)
    for key, value in vgg_weights.items():
        if key == "features.0.weight" and bgr:  # conv1_1 of a BGR file takes RGB once loaded
            value = value[:, [2, 1, 0]]
        assert torch.equal(loaded[key], value), key


def test_a_file_of_other_names_gets_its_keys_named(tmp_path: Path) -> None:
    torch.save({"encoder.layer1.weight": torch.zeros(3), "encoder.layer1.bias": torch.zeros(3)},
               tmp_path / "other.pt")
    with pytest.raises(BackboneWeightsError) as caught:
        build_backbone("vgg16", tmp_path / "other.pt")
    message = str(caught.value)
    assert "\n" not in message
    assert "missing 26 key(s): features.0.weight" in message
    assert "encoder.layer1.weight" in message and "conv_1_1" in message


MEAN_RGB = (129.1863, 104.7624, 93.5940)  # VGG-Face's mean colour, R, G, B


def test_vggface_input_is_exact_at_every_pixel(vgg_weights: dict[str, torch.Tensor]) -> None:
    """The backbone on [-1, 1] frames with input_norm="vggface" equals the plain backbone on
    0-255 pixels minus the mean, computed here from the uint8 frames (conv1_1's output too,
    borders included: folding the map into conv1_1's weights would fail there)."""
    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    normed = build_backbone("vgg16", input_norm="vggface")
    plain = build_backbone("vgg16")
    for module in (normed, plain):
        module.load_state_dict(vgg_weights, strict=False)
    assert torch.equal(normed.features[0].weight, vgg_weights["features.0.weight"])
    pixels = torch.from_numpy(frames.astype(np.float64) - np.array(MEAN_RGB))
    reference_input = pixels.permute(0, 3, 1, 2).float()
    seen: list[torch.Tensor] = []
    normed.features[0].register_forward_hook(lambda m, i, out: seen.append(out.clone()))
    with torch.no_grad():
        actual, expected = normed(to_model_input(frames)), plain(reference_input)
        first_conv = plain.features[0](reference_input)
    for got, want in ((seen[0], first_conv), (actual, expected)):
        scale = want.abs().max().item()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4 * scale)
    with torch.no_grad():  # and the paper's input is not the same thing
        assert not torch.allclose(plain(to_model_input(frames)), expected, rtol=1e-2)


def test_the_input_layer_travels_with_the_state(tmp_path: Path,
                                                vgg_weights: dict[str, torch.Tensor]) -> None:
    torch.save(vgg_weights, tmp_path / "vgg.pt")
    normed = build_backbone("vgg16", tmp_path / "vgg.pt", input_norm="vggface")
    state = normed.state_dict()
    assert set(state) - set(vgg_weights) == {"input_norm.scale", "input_norm.shift"}
    assert set(build_backbone("vgg16", tmp_path / "vgg.pt").state_dict()) == set(vgg_weights)
    rebuilt = VGG16Conv()  # as a trial or the report rebuilds the study's CNN from its state
    rebuilt.load_state_dict(state)
    frames = to_model_input(np.full((1, 32, 32, 3), 200, dtype=np.uint8))
    with torch.no_grad():
        assert torch.equal(rebuilt(frames), normed(frames))


def test_vggface_input_needs_the_vgg_backbone() -> None:
    with pytest.raises(UserInputError, match="--backbone vgg16"):
        build_backbone("small", input_norm="vggface")
    with pytest.raises(UserInputError, match="imagenet"):
        build_backbone("vgg16", input_norm="imagenet")


def test_small_backbone_round_trip_and_feature_dim(tmp_path: Path) -> None:
    source = SmallCNN()
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.normal_()
    path = tmp_path / "small.pt"
    torch.save(source.state_dict(), path)
    loaded = build_backbone("small", path)
    assert_same_weights(loaded, source.state_dict())
    assert feature_dim(loaded, 96) == 128 * 6 * 6
    assert loaded(torch.zeros(2, 3, 96, 96)).shape == (2, 4608)


def test_vgg_feature_dim_matches_paper() -> None:
    assert feature_dim(VGG16Conv(), 96) == 512 * 3 * 3


def test_unknown_backbone_lists_choices() -> None:
    with pytest.raises(UserInputError, match="vgg16"):
        build_backbone("resnet50")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BackboneWeightsError, match="does not exist"):
        build_backbone("small", tmp_path / "nowhere.pt")


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00\x01 this is not a checkpoint \xff" * 10)
    with pytest.raises(BackboneWeightsError, match="not a loadable"):
        build_backbone("small", path)


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(BackboneWeightsError, match="not a state dict"):
        build_backbone("small", path)


def test_missing_keys_are_named(tmp_path: Path) -> None:
    weights = SmallCNN().state_dict()
    del weights["features.4.weight"]
    path = tmp_path / "partial.pt"
    torch.save(weights, path)
    with pytest.raises(BackboneWeightsError, match=r"missing 1 key\(s\): features\.4\.weight"):
        load_backbone_weights(SmallCNN(), path)


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    weights = SmallCNN().state_dict()
    weights["features.0.weight"] = torch.zeros(16, 3, 5, 5)
    path = tmp_path / "wrong.pt"
    torch.save(weights, path)
    with pytest.raises(BackboneWeightsError, match=r"features\.0\.weight.*\(16, 3, 5, 5\)"
                                                   r".*\(16, 3, 3, 3\)"):
        load_backbone_weights(SmallCNN(), path)


class Payload:
    """Unpickling this creates ``marker``: the kind of code a checkpoint must never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(Payload(control))).close()  # the payload acts when unpickled
    assert control.exists()

    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"features.0.weight": Payload(marker)}, path)
    with pytest.raises(BackboneWeightsError, match="not a loadable"):
        build_backbone("small", path)
    assert not marker.exists()
