"""NetA as one self-contained network, frames in, scores out: what ``python -m study.export``
writes to ONNX.

:class:`ExportableNetA` holds the frozen CNN, NetA (FC, two RNN layers, output layer) and NetB's
centroids Z, with the trial's ``lam``, normalisation and ``tau``. It maps the frames of one
video ``(T, 3, H, W)``, in the study's ``[-1, 1]`` (:func:`trainables.data.to_model_input`), to

* ``scores`` ``(T, C)`` float64: :func:`trainables.loss.predict` of every frame, and
* ``X`` ``(T, n)`` float32: the representations of eq. (4).

**Windows.** The study's evaluation (:func:`trainables.engine.evaluate`) tiles a video into
consecutive windows of ``seq_len`` frames (:func:`trainables.sequences.window_index`; the last
one shorter) and runs the RNN on each from a zero state. This network does the same for any
``T``: the frames are laid out as ``ceil(T / seq_len)`` windows and every RNN layer runs over
them as a batch. The short last window is padded at its end, which no real frame of a forward
direction sees; a B-LSTM's backward direction runs forwards over the reversed video, whose
short window is then the first one, padded at its end too. Each direction of each layer is
therefore a one-directional RNN of its own (:func:`unidirectional`), with the same weights.
Every frame gets the score the study's evaluation gives it on the same CNN features, for any
``T >= 1``. (Those are float32 here, where the study scores its fp16 feature cache.)

The layout is built from index arithmetic on ``T``, so :func:`torch.export.export` (and the
ONNX exporter on top of it) keeps ``T`` dynamic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trainables.config import DISTANCE_TEMPERATURE
from trainables.loss import predict
from trainables.model import SequenceHead


def unidirectional(rnn: nn.RNNBase, layer: int, reverse: bool) -> nn.RNNBase:
    """One direction of one layer of ``rnn`` (a GRU or LSTM) as a one-layer, one-direction
    RNN of the same kind and weights (batch first)."""
    directions = 2 if rnn.bidirectional else 1
    input_size = rnn.input_size if layer == 0 else rnn.hidden_size * directions
    single = type(rnn)(input_size, rnn.hidden_size, batch_first=True)
    suffix = f"_l{layer}{'_reverse' if reverse else ''}"
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{name}_l0").copy_(getattr(rnn, f"{name}{suffix}"))
    return single.eval()


def _run(rnn: nn.RNNBase, inputs: Tensor, slots: Tensor, windows: Tensor | int,
         seq_len: int) -> Tensor:
    """``rnn`` over ``inputs[slots]`` laid out as ``(windows, seq_len)`` -> ``(slots, n)``."""
    batch = inputs[slots].reshape(windows, seq_len, inputs.shape[-1])
    outputs, _ = rnn(batch)
    return outputs.reshape(slots.shape[0], outputs.shape[-1])


def forward_windows(rnn: nn.RNNBase, inputs: Tensor, seq_len: int) -> Tensor:
    """A forward direction over ``(T, F)`` frames in windows of ``seq_len`` -> ``(T, n)``."""
    length = inputs.shape[0]
    windows = (length + seq_len - 1) // seq_len
    slots = torch.arange(windows * seq_len, device=inputs.device)
    outputs = _run(rnn, inputs, slots.clamp(max=length - 1), windows, seq_len)
    return outputs[torch.arange(length, device=inputs.device)]


def backward_windows(rnn: nn.RNNBase, inputs: Tensor, seq_len: int) -> Tensor:
    """A backward direction (``rnn`` holds its weights, running forwards) over ``(T, F)``
    frames in the same windows -> ``(T, n)``: it runs over the reversed video, whose first
    window holds the ``first`` frames of the original's last."""
    length = inputs.shape[0]
    windows = (length + seq_len - 1) // seq_len
    first = length - (windows - 1) * seq_len
    slots = torch.arange(windows * seq_len, device=inputs.device)
    reversed_frame = torch.where(slots < seq_len, slots, slots - seq_len + first)
    source = (length - 1 - reversed_frame).clamp(min=0, max=length - 1)
    outputs = _run(rnn, inputs, source, windows, seq_len)
    position = length - 1 - torch.arange(length, device=inputs.device)
    return outputs[torch.where(position < first, position, position + seq_len - first)]


class ExportableNetA(nn.Module):
    """Frames ``(T, 3, H, W)`` in ``[-1, 1]`` -> (scores ``(T, C)`` float64, X ``(T, n)``);
    see the module's docstring. Built in eval mode (dropout off) from NetA's trained
    :class:`~trainables.model.SequenceHead` and the study's CNN; its weights are copies."""

    def __init__(self, backbone: nn.Module, head: SequenceHead, centroids: Tensor, *,
                 lam: float, normalisation: str, seq_len: int,
                 tau: float = DISTANCE_TEMPERATURE) -> None:
        super().__init__()
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.backbone = backbone
        self.fc = head.fc
        directions = (False, True) if head.rnn.bidirectional else (False,)
        self.layers = nn.ModuleList(
            nn.ModuleList(unidirectional(head.rnn, layer, reverse) for reverse in directions)
            for layer in range(head.rnn.num_layers))
        self.output = head.output
        self.register_buffer("centroids", centroids.detach().to(torch.float64).clone())
        self.lam, self.normalisation, self.tau, self.seq_len = lam, normalisation, tau, seq_len
        predict(torch.zeros(1, len(centroids)), torch.zeros(1, centroids.shape[1]),
                self.centroids, lam, normalisation, tau=tau)  # refuses bad settings now
        self.eval()

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.fc(self.backbone(frames))
        for directions in self.layers:
            hidden = torch.cat([backward_windows(rnn, hidden, self.seq_len) if index else
                                forward_windows(rnn, hidden, self.seq_len)
                                for index, rnn in enumerate(directions)], dim=-1)
        scores = predict(self.output(hidden), hidden, self.centroids, self.lam,
                         self.normalisation, tau=self.tau)
        return scores, hidden
