"""Convolutional backbones: the VGG-16/VGG-Face conv blocks of Table I and a cheap CPU stand-in.

Both map a batch of frames ``(B, 3, H, W)`` with values in ``[-1, 1]`` to flattened features
``(B, D)``. At the paper's 96x96 input both give ``D = 4608`` (VGG: 512 x 3 x 3 after five
poolings; SmallCNN: 128 x 6 x 6 after four), so the head of Section IV-A is the same width.

Pre-trained weights are read with ``torch.load(..., weights_only=True)`` only: a checkpoint is
data, and a pickle that carries code must be refused, never executed.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from trainables.config import BACKBONES, IMAGE_SIZE
from trainables.errors import UserInputError

#: VGG-16 configuration "D" (Table I, blocks 1-5): conv widths, "M" = 2x2 max pooling.
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)
SMALL_CNN_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)

# A converted VGG-Face checkpoint names its convs conv<block>_<layer>; any prefix is allowed.
_VGGFACE_KEY = re.compile(r"(?:^|\.)conv(\d)_(\d)\.(weight|bias)$")
_HOW_MANY_NAMED = 3
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")

_feature_dims: weakref.WeakKeyDictionary[nn.Module, dict[int, int]] = weakref.WeakKeyDictionary()


class BackboneWeightsError(UserInputError):
    """A backbone weights file is missing, unreadable or does not fit the backbone."""


def _vgg_layers(config: tuple[int | str, ...]) -> list[nn.Module]:
    """Conv3x3(stride 1, pad 1)+ReLU per width and 2x2/2 max pooling per "M", as torchvision."""
    layers: list[nn.Module] = []
    in_channels = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1),
                       nn.ReLU(inplace=True)]
            in_channels = int(item)
    return layers


def _vggface_index() -> dict[tuple[int, int], int]:
    """Map VGG-Face's (block, layer) conv names to torchvision's ``features`` indices."""
    index: dict[tuple[int, int], int] = {}
    block, layer = 1, 0
    for position, item in enumerate(_vgg_layers(VGG16_CONFIG)):
        if isinstance(item, nn.MaxPool2d):
            block, layer = block + 1, 0
        elif isinstance(item, nn.Conv2d):
            layer += 1
            index[(block, layer)] = position
    return index


_VGGFACE_TO_FEATURES = _vggface_index()


class VGG16Conv(nn.Module):
    """VGG-16 conv blocks 1-5 of Table I (13 convs, 5 poolings), indexed like torchvision."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_vgg_layers(VGG16_CONFIG))

    def forward(self, frames: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, 512 * (H // 32) * (W // 32))``."""
        return torch.flatten(self.features(frames), start_dim=1)


class SmallCNN(nn.Module):
    """Cheap CPU backbone: 4 x (conv3x3 + BatchNorm + ReLU + 2x2 max pooling), 128 channels out."""

    def __init__(self, channels: tuple[int, ...] = SMALL_CNN_CHANNELS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=2, stride=2),
            ]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)

    def forward(self, frames: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, 128 * (H // 16) * (W // 16))``."""
        return torch.flatten(self.features(frames), start_dim=1)


_CONSTRUCTORS: dict[str, type[nn.Module]] = {"small": SmallCNN, "vgg16": VGG16Conv}


def set_trainable(module: nn.Module, trainable: bool) -> None:
    """(Un)freeze every parameter; a frozen backbone is also put in eval mode (fixed BN stats)."""
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)
    if not trainable:
        module.eval()


def build_backbone(
    name: str, weights: str | Path | None = None, *, trainable: bool | None = None
) -> nn.Module:
    """Build backbone ``name`` (one of ``BACKBONES``), optionally loading ``weights``.

    ``trainable=None`` (the default) or ``False`` freezes it, as the paper keeps the pre-trained
    conv layers fixed (Section IV-A); ``trainable=True`` lets them be fine-tuned.
    """
    if name not in BACKBONES or name not in _CONSTRUCTORS:
        raise UserInputError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    backbone = _CONSTRUCTORS[name]()
    if weights is not None:
        load_backbone_weights(backbone, weights)
    set_trainable(backbone, bool(trainable))
    return backbone


def _load_failure(error: Exception) -> str:
    """One short line from torch.load's multi-paragraph error (the unpickler's own complaint)."""
    text = _ANSI_CODE.sub("", str(error))
    _, found, detail = text.partition("WeightsUnpickler error:")
    paragraph = (detail if found else text).strip().split("\n\n")[0]
    sentence = " ".join(paragraph.split()).split(". ")[0]
    return f"{type(error).__name__}: {sentence[:160]}" if sentence else type(error).__name__


def _read_checkpoint(path: Path) -> Mapping[str, Tensor]:
    """Load ``path`` as plain data and return its tensors by key."""
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise BackboneWeightsError(f"backbone weights file {path} {problem}")
    try:
        # weights_only=True: a pickle that would run code is refused before it runs.
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure at all means "not a usable checkpoint"
        raise BackboneWeightsError(
            f"{path} is not a loadable weights-only torch checkpoint ({_load_failure(error)})"
        ) from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise BackboneWeightsError(f"{path} holds a {type(loaded).__name__}, not a state dict")
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, Tensor)}
    if not tensors:
        raise BackboneWeightsError(f"{path} holds no tensors, so it is not a state dict")
    return tensors


def _canonical_key(key: str) -> str:
    """Rename a VGG-Face ``[prefix.]convB_L.weight`` key to torchvision's ``features.N.weight``."""
    match = _VGGFACE_KEY.search(key)
    if match is None:
        return key
    position = _VGGFACE_TO_FEATURES.get((int(match.group(1)), int(match.group(2))))
    return key if position is None else f"features.{position}.{match.group(3)}"


def _match_keys(
    expected: list[str], tensors: Mapping[str, Tensor], path: Path
) -> dict[str, Tensor]:
    """Pick the checkpoint tensor for each expected key: exact name, else a unique ``*.key``.

    The suffix rule accepts wrappers such as ``module.`` or ``backbone.``; extra keys
    (torchvision's ``classifier.*``, VGG-Face's ``fc6``-``fc8``) are ignored.
    """
    renamed: dict[str, Tensor] = {}
    for key, tensor in tensors.items():
        renamed.setdefault(_canonical_key(key), tensor)
    chosen: dict[str, Tensor] = {}
    missing: list[str] = []
    for key in expected:
        candidates = [k for k in renamed if k == key] or [
            k for k in renamed if k.endswith("." + key)
        ]
        if len(candidates) > 1:
            raise BackboneWeightsError(
                f"{path}: key {key!r} is ambiguous ({', '.join(sorted(candidates)[:3])})"
            )
        if candidates:
            chosen[key] = renamed[candidates[0]]
        else:
            missing.append(key)
    if missing:
        named = ", ".join(missing[:_HOW_MANY_NAMED])
        extra = len(missing) - _HOW_MANY_NAMED
        more = f" and {extra} more" if extra > 0 else ""
        raise BackboneWeightsError(f"{path} is missing {len(missing)} key(s): {named}{more}")
    return chosen


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Copy the weights in ``path`` into ``backbone``; raise ``BackboneWeightsError`` if unfit.

    Accepts torchvision's VGG-16 layout (``features.N.*``), a converted VGG-Face layout
    (``conv1_1.weight`` ... ``conv5_3.bias``, any prefix) and either wrapped in ``state_dict``.
    """
    path = Path(path).expanduser()
    target = backbone.state_dict()
    chosen = _match_keys(list(target), _read_checkpoint(path), path)
    for key, tensor in chosen.items():
        if tensor.shape != target[key].shape:
            raise BackboneWeightsError(
                f"{path}: shape mismatch for {key}: file has {tuple(tensor.shape)}, "
                f"backbone expects {tuple(target[key].shape)}"
            )
    backbone.load_state_dict(chosen, strict=True)
    _feature_dims.pop(backbone, None)


def feature_dim(backbone: nn.Module, image_size: int = IMAGE_SIZE) -> int:
    """Flattened feature width for one ``3 x image_size x image_size`` frame (cached dry run)."""
    cached = _feature_dims.setdefault(backbone, {})
    if image_size not in cached:
        reference = next(backbone.parameters(), None)
        device = reference.device if reference is not None else torch.device("cpu")
        dtype = reference.dtype if reference is not None else torch.float32
        was_training = backbone.training
        backbone.eval()  # a dry run must not update BatchNorm running statistics
        try:
            with torch.no_grad():
                probe = torch.zeros(1, 3, image_size, image_size, device=device, dtype=dtype)
                cached[image_size] = int(backbone(probe).reshape(1, -1).shape[1])
        finally:
            backbone.train(was_training)
    return cached[image_size]
