"""ExportableNetA gives every frame the score of the study's own evaluation: the reference is
trainables.engine.evaluate (windows of seq_len from window_index, packed sequences) on the same
CNN's features, for videos shorter than, as long as and longer than a window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.backbones import build_backbone
from trainables.engine import DeviceSplit, SplitArrays, evaluate
from trainables.exportable import ExportableNetA
from trainables.model import HeadSettings, SequenceHead

CLASSES = ("Anger", "Happy", "Sad")
SEQ_LEN = 4
IMAGE = 16  # the small CNN's features are 128 x 1 x 1 at this size
LENGTHS = (1, SEQ_LEN - 1, SEQ_LEN, SEQ_LEN + 1, 2 * SEQ_LEN, 2 * SEQ_LEN + 3)


def parts(cell: str, seed: int = 0) -> tuple[torch.nn.Module, SequenceHead, torch.Tensor]:
    torch.manual_seed(seed)
    backbone = build_backbone("small").eval()
    head = SequenceHead(128, len(CLASSES), HeadSettings(cell=cell, fc_units=24, rnn_hidden=8,
                                                        dropout=0.5)).eval()
    return backbone, head, torch.randn(len(CLASSES), 8)


def reference(backbone: torch.nn.Module, head: SequenceHead, centroids: torch.Tensor,
              frames: torch.Tensor, **options) -> tuple[np.ndarray, np.ndarray]:
    """The study's evaluation of one video of these frames, on float32 CNN features."""
    with torch.no_grad():
        features = backbone(frames).numpy()
    length = len(features)
    arrays = SplitArrays("video", "features", features, np.zeros(length, np.int64),
                         np.array([0, length]), np.zeros(1, np.int64), CLASSES)
    result = evaluate(head, DeviceSplit.create(arrays, torch.device("cpu")), centroids,
                      seq_len=SEQ_LEN, batch_size=3, **options)
    return result.scores, result.representations


@pytest.mark.parametrize("cell", ["gru", "blstm"])
@pytest.mark.parametrize("options", [dict(lam=0.3, normalisation="softmax", tau=5.0),
                                     dict(lam=0.8, normalisation="linear")])
def test_every_frame_gets_the_evaluation_score(cell: str, options: dict) -> None:
    backbone, head, centroids = parts(cell)
    model = ExportableNetA(backbone, head, centroids, seq_len=SEQ_LEN, **options)
    generator = torch.Generator().manual_seed(1)
    for length in LENGTHS:
        frames = torch.rand(length, 3, IMAGE, IMAGE, generator=generator) * 2 - 1
        with torch.no_grad():
            scores, representations = model(frames)
        want_scores, want_x = reference(backbone, head, centroids, frames, **options)
        assert scores.dtype == torch.float64 and representations.dtype == torch.float32
        np.testing.assert_allclose(scores.numpy(), want_scores, rtol=0, atol=1e-6,
                                   err_msg=f"T={length}")
        np.testing.assert_allclose(representations.numpy(), want_x, rtol=0, atol=1e-6,
                                   err_msg=f"T={length}")


def test_windows_are_independent() -> None:
    """A frame's score depends on its own window only (the RNN restarts every seq_len)."""
    backbone, head, centroids = parts("blstm", seed=2)
    model = ExportableNetA(backbone, head, centroids, lam=0.5, normalisation="softmax",
                           seq_len=SEQ_LEN)
    frames = torch.rand(2 * SEQ_LEN + 1, 3, IMAGE, IMAGE) * 2 - 1
    with torch.no_grad():
        whole, _ = model(frames)
        second, _ = model(frames[SEQ_LEN:2 * SEQ_LEN])
        changed, _ = model(torch.cat([frames[:SEQ_LEN], -frames[SEQ_LEN:]]))
    np.testing.assert_allclose(whole[SEQ_LEN:2 * SEQ_LEN].numpy(), second.numpy(), atol=1e-6)
    np.testing.assert_allclose(whole[:SEQ_LEN].numpy(), changed[:SEQ_LEN].numpy(), atol=1e-6)
    assert not np.allclose(whole[SEQ_LEN:].numpy(), changed[SEQ_LEN:].numpy())


def test_bad_settings_are_refused() -> None:
    backbone, head, centroids = parts("gru")
    with pytest.raises(ValueError, match="lam"):
        ExportableNetA(backbone, head, centroids, lam=1.5, normalisation="softmax", seq_len=4)
    with pytest.raises(ValueError, match="seq_len"):
        ExportableNetA(backbone, head, centroids, lam=0.5, normalisation="softmax", seq_len=0)
