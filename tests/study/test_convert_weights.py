"""``python -m study.convert_weights``: VGG-Face's MatConvNet and Torch7 files, with random
weights, converted and loaded into the backbone. conv1_1's output on a frame must equal a
numpy correlation of the source's own arrays with the frame's pixels minus VGG-Face's mean
colour, in the channel order the release takes: a wrong transpose, flip, channel order or
mean fails it. (The files are written in the releases' structure by tests/study/
vggface_files.py: scipy.io.savemat, and a Torch7 writer, as torchfile has none.)"""

from __future__ import annotations

import subprocess
import sys
from array import array
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from numpy.lib.stride_tricks import sliding_window_view

from study.convert_weights import main
from tests.study.vggface_files import CONVS, cell, random_convs, write_simplenn, write_torch7
from tests.study_helpers import REPO
from trainables.backbones import build_backbone
from trainables.data import to_model_input

MEAN_RGB = np.array([129.1863, 104.7624, 93.5940])  # VGG-Face's mean colour, R, G, B
SIZE = 32


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """One random RGB frame, uint8 (1, SIZE, SIZE, 3), as the frame cache holds them."""
    return np.random.default_rng(7).integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)


def correlate(image: np.ndarray, kernel: np.ndarray, bias: np.ndarray, spec: str) -> np.ndarray:
    """Zero-padded 3x3 correlation of an (H, W, C) image, by numpy: (H, W, out).
    ``spec`` names the kernel's axes: "hwco" (MatConvNet) or "ochw" (Torch7)."""
    windows = sliding_window_view(np.pad(image, ((1, 1), (1, 1), (0, 0))), (3, 3), axis=(0, 1))
    return np.einsum(f"yxchw,{spec}->yxo", windows, kernel.astype(np.float64)) + bias


def conv1_1_output(weights: Path, frame: np.ndarray) -> np.ndarray:
    """conv1_1's output (H, W, 64) inside the backbone's own forward pass, as a study runs
    it: --backbone vgg16 --backbone-weights WEIGHTS --input-norm vggface on [-1, 1] frames."""
    backbone = build_backbone("vgg16", weights, input_norm="vggface")
    seen = []
    hook = backbone.features[0].register_forward_hook(
        lambda module, inputs, output: seen.append(output.detach().clone()))
    with torch.no_grad():
        backbone(to_model_input(frame))
    hook.remove()
    return seen[0][0].permute(1, 2, 0).double().numpy()


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


def convert(src: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([str(src), str(out)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("wrapped", [False, True], ids=["layers-top-level", "net-struct"])
def test_matconvnet_file_converts(tmp_path: Path, frame: np.ndarray, wrapped: bool,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = random_convs(seed=3, layout="hwio")
    mat = write_simplenn(tmp_path / "vgg_face.mat", source, wrapped=wrapped)
    printed = convert(mat, tmp_path / "vggface.pt", capsys)
    assert "--input-norm vggface" in printed

    kernel, bias = source["conv1_1"]  # H x W x in x out, in = R, G, B
    expected = correlate(frame[0].astype(np.float64) - MEAN_RGB, kernel, bias, "hwco")
    assert_close(conv1_1_output(tmp_path / "vggface.pt", frame), expected)
    # The deepest conv landed where it belongs, transposed to (out, in, kH, kW).
    state = torch.load(tmp_path / "vggface.pt", weights_only=True)
    assert sorted(state) == sorted(f"{name}.{kind}" for name, _, _ in CONVS
                                   for kind in ("weight", "bias"))  # fc6-fc8 left out
    deep = source["conv5_3"][0]
    for out_channel, in_channel, row, column in [(0, 0, 0, 1), (511, 7, 2, 0), (40, 300, 1, 2)]:
        assert state["conv5_3.weight"][out_channel, in_channel, row, column].item() == \
            deep[row, column, in_channel, out_channel]


@pytest.mark.skipif(array("l").itemsize != 8, reason="torchfile reads native 8-byte longs")
def test_torch7_file_converts(tmp_path: Path, frame: np.ndarray,
                              capsys: pytest.CaptureFixture[str]) -> None:
    source = random_convs(seed=4, layout="oihw")
    t7 = write_torch7(tmp_path / "VGG_FACE.t7", source)
    printed = convert(t7, tmp_path / "vggface.pt", capsys)
    assert "BGR to RGB" in printed

    kernel, bias = source["conv1_1"]  # out x in x kH x kW, in = B, G, R
    bgr = frame[0, :, :, ::-1].astype(np.float64) - MEAN_RGB[::-1]
    expected = correlate(bgr, kernel, bias, "ochw")
    assert_close(conv1_1_output(tmp_path / "vggface.pt", frame), expected)
    state = torch.load(tmp_path / "vggface.pt", weights_only=True)
    # conv5_1 was stored flattened (SpatialConvolutionMM), conv2_1 as 4-D.
    for name in ("conv2_1", "conv5_1"):
        np.testing.assert_array_equal(state[f"{name}.weight"].numpy(), source[name][0])
        np.testing.assert_array_equal(state[f"{name}.bias"].numpy(), source[name][1])


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.convert_weights", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def assert_one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


@pytest.mark.slow  # the command in a subprocess
def test_a_file_of_neither_format_gets_one_line(tmp_path: Path) -> None:
    src = tmp_path / "vgg_face.caffemodel"
    src.write_bytes(b"\x0a\x07VGG_FACE" + bytes(200))
    result = run(str(src), str(tmp_path / "out.pt"))
    assert_one_line(result, "neither a MatConvNet .mat nor a Torch7 .t7")
    assert "Caffe release needs no converter" in result.stderr
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.slow  # the command in a subprocess
def test_a_mat_file_of_another_network_gets_one_line(tmp_path: Path) -> None:
    kernel, bias = random_convs(seed=5, layout="hwio")["conv1_1"]
    layer = {"name": "conv1_1", "type": "conv", "weights": cell(kernel, bias[:, None])}
    scipy.io.savemat(tmp_path / "other.mat", {"layers": cell(layer)})
    assert_one_line(run(str(tmp_path / "other.mat"), str(tmp_path / "out.pt")),
                    "no conv1_2, conv2_1, conv2_2 and 9 more")


@pytest.mark.slow  # the command in a subprocess
def test_a_truncated_torch7_file_gets_one_line(tmp_path: Path) -> None:
    t7 = write_torch7(tmp_path / "VGG_FACE.t7", random_convs(seed=6, layout="oihw"))
    data = t7.read_bytes()
    t7.write_bytes(data[:len(data) // 3])
    assert_one_line(run(str(t7), str(tmp_path / "out.pt")), "VGG_FACE.t7")


@pytest.mark.slow  # the command in a subprocess
def test_an_existing_output_is_kept_without_force(tmp_path: Path) -> None:
    (tmp_path / "out.pt").write_bytes(b"mine")
    result = run(str(tmp_path / "missing.mat"), str(tmp_path / "out.pt"))
    assert_one_line(result, "--force")
    assert (tmp_path / "out.pt").read_bytes() == b"mine"
