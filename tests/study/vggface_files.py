"""Files shaped like Oxford's VGG-Face releases, with random weights, for the converter's tests.

``write_simplenn``: MatConvNet's ``vgg_face.mat`` through scipy.io.savemat (a cell array of
layer structs, at the top level or in a ``net`` struct). ``write_torch7``: ``VGG_FACE.t7``, an
``nn.Sequential`` in Torch7's binary serialisation. The ``torchfile`` package only reads that
format, so :class:`T7Writer` writes it, following torch7's File.lua (``writeObject``) and
Tensor.c / Storage.c (``write``), as torchfile's reader reads it back: little-endian int32
type tags and lengths, native 8-byte longs, float64 numbers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import scipy.io

# VGG-Face's 13 convs, written out by hand: (name, in, out).
CONVS = [("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128),
         ("conv2_2", 128, 128), ("conv3_1", 128, 256), ("conv3_2", 256, 256),
         ("conv3_3", 256, 256), ("conv4_1", 256, 512), ("conv4_2", 512, 512),
         ("conv4_3", 512, 512), ("conv5_1", 512, 512), ("conv5_2", 512, 512),
         ("conv5_3", 512, 512)]
POOL_AFTER = {"conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"}

NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN = 0, 1, 2, 3, 4, 5


def random_convs(seed: int, layout: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (kernel, bias) in the release's own layout: "hwio" (MatConvNet: H x W x in x
    out) or "oihw" (Torch7: out x in x kH x kW), He-scaled so activations stay finite."""
    rng = np.random.default_rng(seed)
    convs = {}
    for name, cin, cout in CONVS:
        shape = (3, 3, cin, cout) if layout == "hwio" else (cout, cin, 3, 3)
        kernel = rng.standard_normal(shape, dtype=np.float32) * np.float32((2 / (9 * cin)) ** .5)
        convs[name] = (kernel, rng.standard_normal(cout, dtype=np.float32))
    return convs


# --- MatConvNet -----------------------------------------------------------------------------

def cell(*items: Any) -> np.ndarray:
    cell = np.empty((1, len(items)), dtype=object)
    for index, item in enumerate(items):
        cell[0, index] = item
    return cell


def write_simplenn(path: Path, convs: dict[str, tuple[np.ndarray, np.ndarray]],
                   wrapped: bool) -> Path:
    """A simplenn network: conv / relu / pool layers, then fc6-fc8 as (small) convs and a
    softmax, as MatConvNet stores VGG-Face; ``wrapped`` puts it in a ``net`` struct."""
    layers: list[dict[str, Any]] = []
    for name, _, _ in CONVS:
        kernel, bias = convs[name]
        layers.append({"name": name, "type": "conv", "weights": cell(kernel, bias[:, None]),
                       "size": np.array(kernel.shape, dtype=float), "pad": np.ones(4),
                       "stride": np.ones(2)})
        layers.append({"name": name.replace("conv", "relu"), "type": "relu"})
        if name in POOL_AFTER:
            layers.append({"name": f"pool{name[4]}", "type": "pool", "method": "max",
                           "pool": np.full(2, 2.0), "stride": np.full(2, 2.0),
                           "pad": np.zeros(4)})
    rng = np.random.default_rng(1)
    for name, cin in (("fc6", 512), ("fc7", 16), ("fc8", 16)):  # shrunk; not the CNN's
        layers.append({"name": name, "type": "conv", "weights": cell(
            rng.standard_normal((1, 1, cin, 16), dtype=np.float32), np.zeros((16, 1)))})
    layers.append({"name": "prob", "type": "softmax"})
    meta = {"normalization": {"averageImage": np.array([129.1863, 104.7624, 93.5940]),
                              "imageSize": np.array([224.0, 224.0, 3.0])}}
    network = {"layers": cell(*layers), "meta": meta}
    scipy.io.savemat(path, {"net": network} if wrapped else network)
    return path


# --- Torch7 ---------------------------------------------------------------------------------

@dataclass
class Module:
    """A Torch7 class instance: its class name and its fields (a Lua table)."""

    typename: str
    fields: dict[str, Any] = field(default_factory=dict)


class T7Writer:
    """torch.save's binary format, for the values :func:`write_torch7` needs."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.next_index = 0

    def _int(self, value: int) -> None:
        self.handle.write(struct.pack("<i", value))

    def _long(self, value: int) -> None:
        self.handle.write(struct.pack("<q", value))

    def _string(self, text: str) -> None:
        data = text.encode()
        self._int(len(data))
        self.handle.write(data)

    def _reference(self, kind: int) -> None:
        self.next_index += 1
        self._int(kind)
        self._int(self.next_index)

    def _torch_header(self, typename: str) -> None:
        self._reference(TORCH)
        self._string("V 1")
        self._string(typename)

    def write(self, value: Any) -> None:
        if value is None:
            self._int(NIL)
        elif isinstance(value, bool):
            self._int(BOOLEAN)
            self._int(int(value))
        elif isinstance(value, int | float):
            self._int(NUMBER)
            self.handle.write(struct.pack("<d", float(value)))
        elif isinstance(value, str):
            self._int(STRING)
            self._string(value)
        elif isinstance(value, list):
            self.write(dict(enumerate(value, start=1)))
        elif isinstance(value, dict):
            self._reference(TABLE)
            self._int(len(value))
            for key, item in value.items():
                self.write(key)
                self.write(item)
        elif isinstance(value, np.ndarray):
            self._tensor(np.ascontiguousarray(value, dtype=np.float32))
        elif isinstance(value, Module):
            self._torch_header(value.typename)
            self.write(value.fields)
        else:
            raise TypeError(type(value).__name__)

    def _tensor(self, array: np.ndarray) -> None:
        self._torch_header("torch.FloatTensor")
        self._int(array.ndim)
        for size in array.shape:
            self._long(size)
        for stride in array.strides:
            self._long(stride // array.itemsize)
        self._long(1)  # storage offset, 1-based
        self._torch_header("torch.FloatStorage")
        self._long(array.size)
        self.handle.write(array.tobytes())


def write_torch7(path: Path, convs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """``nn.Sequential`` of VGG-Face: SpatialConvolution (4-D weights) in blocks 1-3 and
    SpatialConvolutionMM (flattened out x in*kH*kW) in blocks 4-5, ReLU, max pooling, then
    View, Linear, ReLU, Dropout (shrunk fc6-fc8) and SoftMax."""
    modules: list[Module] = []
    for name, cin, cout in CONVS:
        weight, bias = convs[name]
        flattened = name >= "conv4"
        modules.append(Module(
            "nn.SpatialConvolutionMM" if flattened else "nn.SpatialConvolution",
            {"weight": weight.reshape(cout, -1) if flattened else weight, "bias": bias,
             "nInputPlane": cin, "nOutputPlane": cout, "kW": 3, "kH": 3, "dW": 1, "dH": 1,
             "padW": 1, "padH": 1, "train": False}))
        modules.append(Module("nn.ReLU", {"inplace": True, "threshold": 0, "val": 0}))
        if name in POOL_AFTER:
            modules.append(Module("nn.SpatialMaxPooling",
                                  {"kW": 2, "kH": 2, "dW": 2, "dH": 2, "padW": 0, "padH": 0}))
    rng = np.random.default_rng(2)
    modules.append(Module("nn.View", {"size": np.array([512.0]), "numElements": 512}))
    for cin in (512, 16, 16):
        modules.append(Module("nn.Linear", {
            "weight": rng.standard_normal((16, cin), dtype=np.float32),
            "bias": np.zeros(16, dtype=np.float32)}))
        modules.append(Module("nn.ReLU", {"inplace": True}))
        modules.append(Module("nn.Dropout", {"p": 0.5, "train": False}))
    modules.append(Module("nn.SoftMax", {}))
    with path.open("wb") as handle:
        T7Writer(handle).write(Module("nn.Sequential", {"modules": modules, "train": False}))
    return path
