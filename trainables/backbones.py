"""Convolutional backbones: the VGG-16/VGG-Face conv blocks of Table I and a cheap CPU stand-in.

Both map a batch of frames ``(B, 3, H, W)`` with values in ``[-1, 1]`` to flattened features
``(B, D)``. At the paper's 96x96 input both give ``D = 4608`` (VGG: 512 x 3 x 3 after five
poolings; SmallCNN: 128 x 6 x 6 after four), so the head of Section IV-A is the same width.

Pre-trained weights are read with ``torch.load(..., weights_only=True)`` only: a checkpoint is
data, and a pickle that carries code must be refused, never executed.

Frames always arrive in ``[-1, 1]``, RGB. With ``input_norm="vggface"`` the VGG backbone maps
them to what VGG-Face was trained on (0-255 pixels minus the mean colour) in its own first
layer, :class:`VGGFaceInput`: exact at every pixel, borders included (folding the map into
conv1_1's weights would not be, since zero padding in [-1, 1] is not zero padding in pixels).
Its two buffers are part of the backbone's state, so the state (and the feature cache key
hashed from it) says how frames are fed, and a backbone rebuilt from it feeds them the same way.

Every loaded VGG-Face file takes RGB: the two public conversions of the Torch7 release
(``conv_1_1.*``, ``features.conv_1_1.*``) take BGR, as that release does, so their conv1_1
input channels are reversed on loading (an exact re-indexing).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from trainables.config import BACKBONES, IMAGE_SIZE, INPUT_NORMS, VGGFACE_MEAN_RGB
from trainables.errors import UserInputError

#: VGG-16 configuration "D" (Table I, blocks 1-5): conv widths, "M" = 2x2 max pooling.
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)
SMALL_CNN_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)

# A converted VGG-Face checkpoint names its convs conv<block>_<layer> (from the MatConvNet
# release: RGB) or conv_<block>_<layer> (ports of the Torch7 release: BGR); any prefix.
_VGGFACE_KEY = re.compile(r"(?:^|\.)conv(_?)(\d)_(\d)\.(weight|bias)$")
_FIRST_CONV = "features.0.weight"
#: The VGG backbone's fixed input layer (a child module; its buffers are not weights).
INPUT_LAYER = "input_norm"
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
#: VGG-Face's conv names in order, ``conv1_1`` ... ``conv5_3``, with (in, out) channels.
VGGFACE_CONVS: dict[str, tuple[int, int]] = {
    f"conv{block}_{layer}": (conv.in_channels, conv.out_channels)
    for (block, layer), conv in zip(
        _VGGFACE_TO_FEATURES,
        [m for m in _vgg_layers(VGG16_CONFIG) if isinstance(m, nn.Conv2d)], strict=True)
}


class VGGFaceInput(nn.Module):
    """The paper's frames ``x`` in [-1, 1] -> VGG-Face's input ``(x + 1) * 127.5 - mean``.

    Per channel, RGB: ``x * scale + shift`` with ``scale = 127.5`` and
    ``shift = 127.5 - mean``; applied before conv1_1's zero padding, so exact everywhere.
    """

    def __init__(self, mean: tuple[float, float, float] = VGGFACE_MEAN_RGB) -> None:
        super().__init__()
        self.register_buffer("scale", torch.full((3,), 127.5))
        self.register_buffer("shift", 127.5 - torch.tensor(mean, dtype=torch.float32))

    def forward(self, frames: Tensor) -> Tensor:
        return frames * self.scale.view(3, 1, 1) + self.shift.view(3, 1, 1)


class VGG16Conv(nn.Module):
    """VGG-16 conv blocks 1-5 of Table I (13 convs, 5 poolings), indexed like torchvision.

    ``input_norm="vggface"`` adds :class:`VGGFaceInput` before the convs. A state that holds
    its buffers adds it on loading too, so ``VGG16Conv().load_state_dict(state)`` rebuilds the
    backbone the state came from.
    """

    def __init__(self, input_norm: str = "paper") -> None:
        super().__init__()
        self.register_module(INPUT_LAYER, VGGFaceInput() if input_norm == "vggface" else None)
        self.features = nn.Sequential(*_vgg_layers(VGG16_CONFIG))

    def forward(self, frames: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, 512 * (H // 32) * (W // 32))``."""
        if self.input_norm is not None:
            frames = self.input_norm(frames)
        return torch.flatten(self.features(frames), start_dim=1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        if self.input_norm is None and any(key.startswith(f"{prefix}{INPUT_LAYER}.")
                                           for key in state_dict):
            device = self.features[0].weight.device
            self.register_module(INPUT_LAYER, VGGFaceInput().to(device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


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
    name: str, weights: str | Path | None = None, *, trainable: bool | None = None,
    input_norm: str = "paper",
) -> nn.Module:
    """Build backbone ``name`` (one of ``BACKBONES``), optionally loading ``weights``.

    ``trainable=None`` (the default) or ``False`` freezes it, as the paper keeps the pre-trained
    conv layers fixed (Section IV-A); ``trainable=True`` lets them be fine-tuned.
    ``input_norm`` (one of ``INPUT_NORMS``): "vggface" feeds the VGG backbone VGG-Face's input.
    """
    if name not in BACKBONES or name not in _CONSTRUCTORS:
        raise UserInputError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if input_norm not in INPUT_NORMS:
        raise UserInputError(f"unknown input normalisation {input_norm!r}; choose one of "
                             f"{', '.join(INPUT_NORMS)}")
    if input_norm != "paper" and name != "vgg16":
        raise UserInputError(f"--input-norm {input_norm} is VGG-Face's input: it needs "
                             f"--backbone vgg16, not {name}")
    backbone = _CONSTRUCTORS[name](input_norm) if name == "vgg16" else _CONSTRUCTORS[name]()
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


def _canonical_key(key: str) -> tuple[str, bool]:
    """Rename a VGG-Face ``[prefix.]conv[_]B_L.weight`` key to torchvision's
    ``features.N.weight``; and whether it is named as the Torch7 ports name it (BGR)."""
    match = _VGGFACE_KEY.search(key)
    if match is None:
        return key, False
    position = _VGGFACE_TO_FEATURES.get((int(match.group(2)), int(match.group(3))))
    if position is None:
        return key, False
    return f"features.{position}.{match.group(4)}", match.group(1) == "_"


def _missing_keys(missing: list[str], keys: list[str], path: Path) -> BackboneWeightsError:
    """One line naming the first missing keys and, when nothing matched, what the file has."""
    named = ", ".join(missing[:_HOW_MANY_NAMED])
    extra = len(missing) - _HOW_MANY_NAMED
    more = f" and {extra} more" if extra > 0 else ""
    has = (f"; its keys look like {', '.join(keys[:_HOW_MANY_NAMED])} (VGG-16 files need "
           f"features.N.*, conv1_1.*, conv_1_1.* or features.conv_1_1.* names)") if keys else ""
    return BackboneWeightsError(f"{path} is missing {len(missing)} key(s): {named}{more}{has}")


def _match_keys(
    expected: list[str], tensors: Mapping[str, Tensor], path: Path
) -> dict[str, Tensor]:
    """Pick the checkpoint tensor for each expected key: exact name, else a unique ``*.key``.

    The suffix rule accepts wrappers such as ``module.`` or ``backbone.``; extra keys
    (torchvision's ``classifier.*``, VGG-Face's ``fc6``-``fc8``) are ignored. A first conv
    named as the Torch7 ports name it takes BGR: its input channels are reversed to RGB.
    """
    renamed: dict[str, Tensor] = {}
    bgr: set[str] = set()
    for key, tensor in tensors.items():
        name, torch7 = _canonical_key(key)
        if name not in renamed:
            renamed[name] = tensor
            if torch7:
                bgr.add(name)
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
            tensor = renamed[candidates[0]]
            bgr_input = key == _FIRST_CONV and candidates[0] in bgr and tensor.dim() == 4
            chosen[key] = tensor.flip(1) if bgr_input else tensor
        else:
            missing.append(key)
    if missing:
        raise _missing_keys(missing, [] if chosen else list(tensors), path)
    return chosen


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Copy the weights in ``path`` into ``backbone``; raise ``BackboneWeightsError`` if unfit.

    Accepts torchvision's VGG-16 layout (``features.N.*``) and the VGG-Face layouts
    ``conv1_1.*`` (vgg_face_dag.pth, ``python -m study.convert_weights``), ``conv_1_1.*``
    (vgg-face.pytorch) and ``features.conv_1_1.*`` (PyVGGFace), ``conv1_1`` ... ``conv5_3``
    with any prefix, each also wrapped in ``state_dict``. The backbone's input layer
    (:class:`VGGFaceInput`) is not read from the file: it is fixed, not learned.
    """
    path = Path(path).expanduser()
    target = backbone.state_dict()
    weights = [key for key in target if not key.startswith(f"{INPUT_LAYER}.")]
    chosen = _match_keys(weights, _read_checkpoint(path), path)
    for key, tensor in chosen.items():
        if tensor.shape != target[key].shape:
            raise BackboneWeightsError(
                f"{path}: shape mismatch for {key}: file has {tuple(tensor.shape)}, "
                f"backbone expects {tuple(target[key].shape)}"
            )
    backbone.load_state_dict({**target, **chosen}, strict=True)
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
