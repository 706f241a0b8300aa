"""The CNN-RNN of Table I: shapes, freezing, paper initialisation and parameter counts."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import truncnorm

from trainables.backbones import VGG16Conv, build_backbone, feature_dim
from trainables.config import FC_UNITS, PAPER_INIT_BIAS, PAPER_INIT_STD, RNN_HIDDEN
from trainables.errors import UserInputError
from trainables.model import CNNRNN, HeadSettings, SequenceHead
from trainables.network import NetworkSettings

CLASSES = 7
SMALL_FC = 32  # keeps the CPU tests fast; the Table I width is checked by counting only
SMALL = HeadSettings(fc_units=SMALL_FC)


def frames(batch: int = 2, length: int = 3, size: int = 96) -> torch.Tensor:
    return torch.rand(batch, length, 3, size, size) * 2 - 1


def count(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@pytest.mark.parametrize("cell", ["gru", "blstm"])
def test_output_shapes(cell: str) -> None:
    model = CNNRNN(build_backbone("small"), CLASSES, HeadSettings(cell=cell, fc_units=SMALL_FC))
    outputs, representations = model(frames())
    assert outputs.shape == (2, 3, CLASSES)
    assert representations.shape == (2, 3, RNN_HIDDEN) == (2, 3, 128)


def test_head_alone() -> None:
    head = SequenceHead(10, CLASSES, HeadSettings(cell="blstm", fc_units=SMALL_FC, rnn_hidden=16))
    outputs, representations = head(torch.randn(4, 5, 10))
    assert outputs.shape == (4, 5, CLASSES) and representations.shape == (4, 5, 16)


@pytest.mark.parametrize("cell", ["gru", "blstm"])
def test_masked_padding_never_reaches_real_frames(cell: str) -> None:
    """Each padded window gives exactly what its unpadded sequence gives on its own."""
    torch.manual_seed(0)
    head = SequenceHead(10, CLASSES,
                        HeadSettings(cell=cell, fc_units=SMALL_FC, rnn_hidden=16)).eval()
    lengths = [5, 2, 4]
    features = torch.randn(3, 5, 10)
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    outputs, representations = head(features, mask)
    for row, length in enumerate(lengths):
        alone_outputs, alone_representations = head(features[row:row + 1, :length])
        torch.testing.assert_close(outputs[row, :length], alone_outputs[0])
        torch.testing.assert_close(representations[row, :length], alone_representations[0])
        assert not representations[row, length:].any()


def test_masked_cnnrnn_runs_the_cnn_on_real_frames_only() -> None:
    seen: list[int] = []
    backbone = build_backbone("small")
    backbone.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    model = CNNRNN(backbone, CLASSES, SMALL).eval()
    seen.clear()  # building the model probes the backbone once for its output width
    mask = torch.tensor([[True, True, False], [True, False, False]])
    outputs, _ = model(frames(), mask)
    assert sum(seen) == 3 and outputs.shape == (2, 3, CLASSES)


def test_frozen_backbone_gets_no_gradient_and_stays_in_eval() -> None:
    model = CNNRNN(build_backbone("small"), CLASSES, SMALL)
    assert not model.backbone_trainable()
    model.train()
    assert model.training and model.head.training
    assert not model.backbone.training
    assert not any(m.training for m in model.backbone.modules())
    outputs, representations = model(frames())
    (outputs.sum() + representations.sum()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    running_mean = model.backbone.features[1].running_mean
    assert torch.equal(running_mean, torch.zeros_like(running_mean))  # BN stats untouched


def test_trainable_backbone_trains() -> None:
    model = CNNRNN(build_backbone("small", trainable=True), CLASSES, SMALL)
    assert model.backbone_trainable()
    model.train()
    assert model.backbone.training
    outputs, _ = model(frames())
    outputs.sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
    model.eval()
    assert not model.backbone.training


def test_unknown_cell_and_odd_blstm_width() -> None:
    with pytest.raises(UserInputError, match="gru"):
        SequenceHead(10, CLASSES, HeadSettings(cell="lstm"))
    with pytest.raises(UserInputError, match="even"):
        SequenceHead(10, CLASSES, HeadSettings(cell="blstm", rnn_hidden=127))


@pytest.mark.parametrize(("options", "message"), [
    ({"fc_units": 0}, "fc_units must be a positive integer, got 0"),
    ({"rnn_hidden": -1}, "rnn_hidden must be a positive integer, got -1"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
])
def test_head_settings_are_checked(options: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        HeadSettings(**options)
    with pytest.raises(UserInputError, match="in_features must be a positive integer, got 0"):
        SequenceHead(0, CLASSES)


def test_network_settings_carry_the_head_settings() -> None:
    settings = NetworkSettings.from_config({"cell": "blstm", "fc_units": 8, "rnn_hidden": 4,
                                            "dropout": 0.25, "paper_init": True, "lam": 0.5})
    assert settings.head == HeadSettings("blstm", 8, 4, 0.25, True)
    assert NetworkSettings().head == HeadSettings()
    with pytest.raises(UserInputError, match="unknown cell"):
        _ = NetworkSettings(cell="lstm").head


@pytest.mark.parametrize("cell", ["gru", "blstm"])
def test_paper_init(cell: str) -> None:
    torch.manual_seed(0)
    head = SequenceHead(512, CLASSES, HeadSettings(cell=cell, paper_init=True))
    bound = 2 * PAPER_INIT_STD
    for name, parameter in head.named_parameters():
        if "bias" in name:
            assert torch.all(parameter == PAPER_INIT_BIAS), name
        else:
            assert parameter.abs().max() <= bound, name
    # Sample std of the 512 x 4096 FC weight = std of N(0, s^2) truncated at +-2s.
    expected_std = PAPER_INIT_STD * truncnorm(-2, 2).std()
    assert float(head.fc[0].weight.detach().std()) == pytest.approx(expected_std, rel=0.01)
    default = SequenceHead(512, CLASSES, HeadSettings(cell=cell, fc_units=SMALL_FC))
    assert not torch.all(default.output.bias == PAPER_INIT_BIAS)


def conv_parameters(widths: list[int]) -> int:
    """3x3 convs with bias: sum over layers of 3*3*c_in*c_out + c_out."""
    channels = [3, *widths]
    pairs = zip(channels[:-1], channels[1:], strict=True)
    return sum(9 * c_in * c_out + c_out for c_in, c_out in pairs)


def gru_layer_parameters(inputs: int, hidden: int) -> int:
    """Three gates, each with input and recurrent weights and PyTorch's two bias vectors."""
    return 3 * (inputs * hidden + hidden * hidden + 2 * hidden)


def lstm_direction_parameters(inputs: int, hidden: int) -> int:
    """Four gates, each with input and recurrent weights and two bias vectors."""
    return 4 * (inputs * hidden + hidden * hidden + 2 * hidden)


VGG_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


@pytest.fixture(scope="module")
def vgg() -> VGG16Conv:
    return VGG16Conv()


def test_table_one_parameter_counts(vgg: VGG16Conv) -> None:
    conv = conv_parameters(VGG_WIDTHS)
    assert conv == 14_714_688
    assert count(vgg) == conv
    assert feature_dim(vgg, 96) == 4608
    fc = 4608 * FC_UNITS + FC_UNITS
    output = RNN_HIDDEN * CLASSES + CLASSES

    vgg.requires_grad_(False)
    model = CNNRNN(vgg, CLASSES)
    gru = gru_layer_parameters(FC_UNITS, RNN_HIDDEN) + gru_layer_parameters(RNN_HIDDEN, RNN_HIDDEN)
    assert count(model) == conv + fc + gru + output
    assert count(model, trainable_only=True) == fc + gru + output

    blstm_model = CNNRNN(vgg, CLASSES, HeadSettings(cell="blstm"))
    half = RNN_HIDDEN // 2
    blstm = 2 * (lstm_direction_parameters(FC_UNITS, half)
                 + lstm_direction_parameters(RNN_HIDDEN, half))
    assert count(blstm_model, trainable_only=True) == fc + blstm + output


def test_frames_must_be_five_dimensional() -> None:
    model = CNNRNN(build_backbone("small"), CLASSES, SMALL)
    with pytest.raises(ValueError, match="B, L, 3, H, W"):
        model(torch.zeros(2, 3, 96, 96))
