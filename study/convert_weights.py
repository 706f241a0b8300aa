"""``python -m study.convert_weights SRC OUT.pt``: VGG-Face as Oxford distributes it, for
``--backbone-weights``.

SRC is ``vgg_face.mat`` (MatConvNet, from ``vgg_face_matconvnet.tar.gz``) or ``VGG_FACE.t7``
(Torch7, from ``vgg_face_torch.tar.gz``); the Caffe release is the same network and needs no
converter of its own. OUT gets VGG-Face's 13 conv layers, ``conv1_1.weight`` ...
``conv5_3.bias``, in PyTorch's layout (out, in, kH, kW); the fully connected layers are left
out. Every file written here takes RGB: MatConvNet's does already, and conv1_1 of the Torch7
release, which takes BGR, has its input channels reversed. Use it with
``--backbone vgg16 --backbone-weights OUT.pt --input-norm vggface``.

    python -m study.convert_weights vgg_face_matconvnet/data/vgg_face.mat vggface.pt
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch

from study.cli import OneLineParser
from trainables.backbones import VGGFACE_CONVS, VGG16Conv, load_backbone_weights
from trainables.errors import UserInputError
from trainables.io import atomic_path

#: conv name -> (kernel, bias): the kernel in PyTorch's (out, in, kH, kW), conv1_1 on RGB.
Convs = dict[str, tuple[np.ndarray, np.ndarray]]

_KERNEL = 3
_T7_OBJECTS = (3, 4)  # a Torch7 file starts with a table or a torch object
_DOWNLOADS = ("give vgg_face.mat from vgg_face_matconvnet.tar.gz or VGG_FACE.t7 from "
              "vgg_face_torch.tar.gz (Oxford VGG's VGG-Face page)")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def _checked(name: str, kernel: np.ndarray, bias: np.ndarray, src: Path) -> tuple[
        np.ndarray, np.ndarray]:
    """``kernel`` (out, in, kH, kW) and ``bias`` (out,) of VGG-Face's conv ``name``, or a
    one-line refusal naming the layer and both shapes."""
    in_channels, out_channels = VGGFACE_CONVS[name]
    expected = (out_channels, in_channels, _KERNEL, _KERNEL)
    bias = np.asarray(bias, dtype=np.float32).reshape(-1)
    if kernel.shape != expected or bias.shape != (out_channels,):
        raise UserInputError(f"{src}: {name} has a {kernel.shape} kernel and {bias.shape} bias "
                             f"(as out, in, kH, kW); VGG-Face's is {expected}: not VGG-Face")
    return np.ascontiguousarray(kernel, dtype=np.float32), bias


def _found_all(found: Convs, src: Path, what: str) -> Convs:
    missing = [name for name in VGGFACE_CONVS if name not in found]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise UserInputError(f"{src}: no {', '.join(missing[:3])}{more} among its {what}: "
                             f"not VGG-Face's conv layers")
    return found


# --- MatConvNet -----------------------------------------------------------------------------

def _field(struct: Any, *names: str) -> Any:
    for name in names:
        value = getattr(struct, name, None)
        if value is not None:
            return value
    return None


def _mat_conv(layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(kernel H x W x in x out, bias) of a simplenn conv layer: its ``weights`` cell, or the
    ``filters`` / ``biases`` of MatConvNet before beta-8."""
    weights = _field(layer, "weights")
    if weights is not None and np.size(weights) >= 2:
        cell = np.asarray(weights, dtype=object).reshape(-1)
        return np.asarray(cell[0]), np.asarray(cell[1])
    filters, biases = _field(layer, "filters"), _field(layer, "biases")
    if filters is None or biases is None:
        return None
    return np.asarray(filters), np.asarray(biases)


def read_matconvnet(src: Path) -> Convs:
    """The conv layers of a MatConvNet simplenn ``.mat``: ``layers`` at the top level or
    inside a ``net`` struct, each conv layer a struct with ``name`` and ``weights``."""
    try:
        contents = scipy.io.loadmat(src, squeeze_me=True, struct_as_record=False)
    except NotImplementedError:
        raise UserInputError(f"{src} is a MATLAB v7.3 (HDF5) file, which scipy.io cannot read; "
                             f"Oxford's vgg_face.mat is not one: {_DOWNLOADS}") from None
    except Exception as error:  # scipy raises many kinds for a damaged file
        raise UserInputError(f"{src} is not a readable .mat file ({_one_line(error)})") from None
    layers = contents.get("layers")
    if layers is None and "net" in contents:
        layers = _field(contents["net"], "layers")
    if layers is None:
        dagnn = " (a DagNN file: its layers are in 'params')" if "params" in contents else ""
        raise UserInputError(f"{src} holds no simplenn 'layers' (at the top level or in "
                             f"'net'){dagnn}: {_DOWNLOADS}")
    found: Convs = {}
    for layer in np.atleast_1d(np.asarray(layers, dtype=object)).reshape(-1):
        name = str(_field(layer, "name") or "")
        if name not in VGGFACE_CONVS or name in found:
            continue  # fc6-fc8, relu, pool, softmax: layers after conv5_3 are not the CNN's
        arrays = _mat_conv(layer)
        if arrays is None:
            raise UserInputError(f"{src}: layer {name} has no 'weights' cell (kernel, bias)")
        kernel, bias = arrays
        if kernel.ndim != 4:
            raise UserInputError(f"{src}: {name}'s kernel has shape {kernel.shape}, not "
                                 f"H x W x in x out")
        # MatConvNet correlates with kernels H x W x in x out, as PyTorch does with
        # (out, in, kH, kW): a transpose, no flip.
        found[name] = _checked(name, kernel.transpose(3, 2, 0, 1), bias, src)
    return _found_all(found, src, "layers")


# --- Torch7 ---------------------------------------------------------------------------------

def _t7_field(module: Any, name: str) -> Any:
    """A field of a Torch7 object, or None (torchfile reads an empty table as a list)."""
    try:
        return getattr(module, name)
    except AttributeError:
        return None


def _t7_modules(module: Any, torchfile: Any) -> Iterator[Any]:
    """The modules of an nn container, depth first, in their order of application."""
    children = (_t7_field(module, "modules") if isinstance(module, torchfile.TorchObject)
                else None)
    if isinstance(children, list):
        for child in children:
            yield from _t7_modules(child, torchfile)
    else:
        yield module


def _t7_type(module: Any, torchfile: Any) -> str:
    if not isinstance(module, torchfile.TorchObject):
        return ""
    name = module.torch_typename()
    return name.decode("latin-1") if isinstance(name, bytes) else str(name)


def read_torch7(src: Path) -> Convs:
    """The first 13 spatial convolutions of a Torch7 ``nn.Sequential`` (VGG_FACE.t7): weight
    out x in x kH x kW (or flattened, as SpatialConvolutionMM keeps it) and bias; conv1_1's
    input channels reversed from BGR to RGB."""
    try:
        import torchfile
    except ImportError:
        raise UserInputError("reading a Torch7 .t7 file needs the torchfile package: "
                             "pip install 'emotion-crossdata-study[weights]'") from None
    try:
        model = torchfile.load(str(src))
    except Exception as error:  # a damaged or truncated file fails in many ways
        raise UserInputError(f"{src} is not a readable Torch7 file ({_one_line(error)})") from None
    convs = [module for module in _t7_modules(model, torchfile)
             if re.fullmatch(r"(cudnn|nn)\.SpatialConvolution(MM)?", _t7_type(module, torchfile))]
    found: Convs = {}
    for name, module in zip(VGGFACE_CONVS, convs, strict=False):
        in_channels, out_channels = VGGFACE_CONVS[name]
        weight = np.asarray(_t7_field(module, "weight"))
        bias = np.asarray(_t7_field(module, "bias"))
        if weight.size == out_channels * in_channels * _KERNEL * _KERNEL:
            weight = weight.reshape(out_channels, in_channels, _KERNEL, _KERNEL)
        found[name] = _checked(name, weight, bias, src)
    found = _found_all(found, src, f"{len(convs)} spatial convolutions")
    kernel, bias = found["conv1_1"]
    found["conv1_1"] = (np.ascontiguousarray(kernel[:, ::-1]), bias)  # BGR -> RGB
    return found


# --- the command ----------------------------------------------------------------------------

def source_format(src: Path) -> str:
    """"mat" or "t7", from the file's first bytes (not its name); a one-line refusal else."""
    if not src.is_file():
        raise UserInputError(f"{src} {'is not a file' if src.exists() else 'does not exist'}")
    with src.open("rb") as handle:
        head = handle.read(128)
    if head.startswith(b"MATLAB"):
        return "mat"
    if len(head) >= 8 and int.from_bytes(head[:4], "little") in _T7_OBJECTS:
        return "t7"
    if head.startswith(b"\x1f\x8b"):
        hint = f": a gzip archive; unpack it first (tar xzf {src.name})"
    elif head.startswith(b"PK"):
        hint = ": a zip, perhaps a PyTorch .pt already; give it to --backbone-weights as it is"
    elif src.suffix.lower() in (".caffemodel", ".prototxt"):
        hint = ": the Caffe release needs no converter, the .mat or .t7 hold the same network"
    else:
        hint = ""
    raise UserInputError(f"{src} is neither a MatConvNet .mat nor a Torch7 .t7 file{hint}; "
                         f"{_DOWNLOADS}")


def convert(src: str | Path, out: str | Path) -> str:
    """Write VGG-Face's conv layers from ``src`` to ``out`` and check that the backbone loads
    them; returns the source's format ("mat" or "t7")."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    kind = source_format(src)
    convs = read_matconvnet(src) if kind == "mat" else read_torch7(src)
    state = {}
    for name, (kernel, bias) in convs.items():
        state[f"{name}.weight"] = torch.from_numpy(kernel)
        state[f"{name}.bias"] = torch.from_numpy(bias)
    with atomic_path(out, ".pt") as temporary:
        torch.save(state, temporary)
        load_backbone_weights(VGG16Conv(), temporary)  # what --backbone-weights will do
    return kind


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m study.convert_weights",
                           description=__doc__.replace("``", ""),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", metavar="SRC", help="vgg_face.mat (MatConvNet) or VGG_FACE.t7 "
                                                   "(Torch7), as distributed")
    parser.add_argument("out", metavar="OUT.pt", help="the state dict to write")
    parser.add_argument("--force", action="store_true", help="replace OUT.pt if it exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out).expanduser()
    try:
        if out.exists() and not args.force:
            raise UserInputError(f"{out} already exists; pass --force to replace it")
        if not out.parent.is_dir():
            raise UserInputError(f"{out.parent} is not a folder; create it first")
        kind = convert(args.src, out)
    except UserInputError as error:
        sys.stderr.write(f"python -m study.convert_weights: error: {error}\n")
        return 2
    origin = ("MatConvNet" if kind == "mat" else
              "Torch7; conv1_1 turned from BGR to RGB")
    print(f"Wrote VGG-Face's 13 conv layers ({origin}) to {out}; use it with --backbone vgg16 "
          f"--backbone-weights {out} --input-norm vggface")
    return 0


if __name__ == "__main__":
    sys.exit(main())
