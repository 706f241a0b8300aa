"""trainables.engine.evaluate scores every frame exactly once, in frame order."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from trainables.engine import DeviceSplit, SplitArrays, evaluate
from trainables.loss import predict
from trainables.model import HeadSettings, SequenceHead
from trainables.sequences import window_index

LENGTHS = (1, 5, 17, 80, 81, 200, 2)
CLASSES = ("a", "b", "c", "d")
FEATURES = 12
N_REPR = 5
ID_COLUMN = FEATURES - 1  # the frame's own index, exact in float16 (N < 2048)


def make_split(lengths=LENGTHS, seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    frames = int(offsets[-1])
    inputs = rng.normal(size=(frames, FEATURES)).astype(np.float16)
    inputs[:, ID_COLUMN] = np.arange(frames)
    video_labels = rng.integers(0, len(CLASSES), len(lengths))
    frame_labels = np.repeat(video_labels, np.diff(offsets))
    return SplitArrays("toy", "features", inputs, frame_labels, offsets, video_labels, CLASSES)


class PerFrame(nn.Module):
    """O and X of a frame are slices of that frame's own input; records the frames it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []

    def forward(self, inputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        assert inputs.dim() == 3 and mask.shape == inputs.shape[:2]
        ids = inputs[..., ID_COLUMN].round().long()
        # Real frames are left-aligned and consecutive within a window.
        for row, keep in zip(ids, mask, strict=True):
            real = row[keep].numpy()
            assert keep[: len(real)].all() and not keep[len(real):].any()
            assert np.array_equal(real, np.arange(real[0], real[0] + len(real)))
            self.seen.append(real)
        outputs = inputs[..., : len(CLASSES)] * 2.0 + 1.0
        representations = inputs[..., len(CLASSES): len(CLASSES) + N_REPR] - 0.5
        return outputs, representations


@pytest.mark.parametrize("seq_len", [20, 80, 1, 300])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
@pytest.mark.parametrize("lam", [1.0, 0.3])
def test_evaluate_scores_each_frame_once_in_order(seq_len: int, batch_size: int,
                                                  lam: float) -> None:
    arrays = make_split()
    network = PerFrame()
    centroids = torch.randn(len(CLASSES), N_REPR, generator=torch.Generator().manual_seed(1))
    result = evaluate(network, DeviceSplit.create(arrays, torch.device("cpu")), centroids,
                      lam=lam, normalisation="softmax", seq_len=seq_len, batch_size=batch_size)

    # Every frame reached the network exactly once, as a real (unmasked) slot.
    seen = np.sort(np.concatenate(network.seen))
    np.testing.assert_array_equal(seen, np.arange(arrays.num_frames))

    inputs = torch.from_numpy(arrays.inputs.astype(np.float32))
    expected_o = inputs[:, : len(CLASSES)] * 2.0 + 1.0
    expected_x = inputs[:, len(CLASSES): len(CLASSES) + N_REPR] - 0.5
    assert result.representations.shape == (arrays.num_frames, N_REPR)
    assert result.scores.shape == (arrays.num_frames, len(CLASSES))
    np.testing.assert_array_equal(result.representations, expected_x.numpy())
    if lam == 1.0:
        np.testing.assert_array_equal(result.scores, expected_o.numpy())
    else:
        # One frame at a time: no batching, no windows.
        rows = [predict(o[None], x[None], centroids, lam, "softmax")[0]
                for o, x in zip(expected_o, expected_x, strict=True)]
        np.testing.assert_allclose(result.scores, torch.stack(rows).numpy(), rtol=1e-6,
                                   atol=1e-6)


@contextmanager
def plain_kernels() -> Iterator[None]:
    """torch's own RNN kernels: oneDNN's LSTM builds a kernel per new sequence length
    (seconds each on a CPU), and the reference runs many lengths."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's note about Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@pytest.mark.parametrize("cell", ["gru", "blstm"])
@pytest.mark.parametrize("seq_len", [20, 80])
def test_evaluate_matches_sequence_head_run_window_by_window(cell: str, seq_len: int) -> None:
    torch.manual_seed(0)
    arrays = make_split(seed=2)
    head = SequenceHead(FEATURES, len(CLASSES),
                        HeadSettings(cell=cell, fc_units=32, rnn_hidden=16, dropout=0.5)).eval()
    centroids = torch.randn(len(CLASSES), 16)
    result = evaluate(head, DeviceSplit.create(arrays, torch.device("cpu")), centroids,
                      lam=1.0, normalisation="linear", seq_len=seq_len, batch_size=3)
    inputs = torch.from_numpy(arrays.inputs.astype(np.float32))
    windows = window_index(arrays.video_offsets, seq_len)
    with torch.no_grad(), plain_kernels():
        for window in windows:
            frames = window[window >= 0]
            # The window's frames alone, no padding, no mask: a plain run of the head.
            outputs, representations = head(inputs[frames][None])
            np.testing.assert_allclose(result.representations[frames],
                                       representations[0].numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(result.scores[frames], outputs[0].numpy(), rtol=1e-5,
                                       atol=1e-5)
        if cell == "gru":
            # A GRU is causal: the first window of a long video is the start of a run over
            # the whole video.
            for start, stop in zip(arrays.video_offsets[:-1], arrays.video_offsets[1:],
                                   strict=True):
                _, whole = head(inputs[start:stop][None])
                first = min(seq_len, stop - start)
                np.testing.assert_allclose(result.representations[start:start + first],
                                           whole[0, :first].numpy(), rtol=1e-5, atol=1e-5)
