"""A trial's checkpoint: everything needed to continue an interrupted training bit-for-bit.

Weights, optimiser state, the epoch count, best-so-far metrics and any extra numbers, and
the random number generators: torch's CPU generator, every CUDA device's generator (when
CUDA is available) and the window-shuffling :class:`torch.Generator`. numpy's global
generator is not saved: training draws nothing from it.

Files are read back with ``torch.load(..., weights_only=True)``: a checkpoint is data, and a
pickle that carries code is refused, never executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from trainables.config import SELECTION_ACCURACIES

CHECKPOINT_FILE = "state.pt"


@dataclass
class TrialState:
    """What a trial must carry across a restart besides the weights.

    ``best`` holds the running maxima of :data:`~trainables.config.SELECTION_ACCURACIES`
    (never of held-out ones: a maximum over held-out epochs would be an oracle);
    ``extra`` is free for any other numbers a training loop wants to keep (saved and
    restored as they are).
    """

    epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    def update_best(self, metrics: dict[str, float]) -> dict[str, float]:
        """Fold ``metrics`` into the running maxima; return them as ``best_<name>``."""
        for name in SELECTION_ACCURACIES:
            if name in metrics:
                self.best[name] = max(self.best.get(name, -1.0), metrics[name])
        return {f"best_{name}": value for name, value in self.best.items()}


def save_state(directory: Path, network: nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, state: TrialState) -> None:
    """Everything needed to continue bit-for-bit: weights, optimiser, epoch, RNG states."""
    saved = {
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": state.epoch,
        "best": dict(state.best),
        "extra": {key: float(value) for key, value in state.extra.items()},
        "torch_rng": torch.get_rng_state(),
        "generator_rng": generator.get_state(),
    }
    if torch.cuda.is_available():
        saved["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(saved, Path(directory) / CHECKPOINT_FILE)


def load_state(directory: Path, network: nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator) -> TrialState:
    """Inverse of :func:`save_state`; weights-only loading, as for any file on disk.

    A checkpoint without CUDA generator states (written on a CPU, or by an earlier version)
    leaves the CUDA generators as they are; one written on more GPUs than are visible now
    restores the visible ones.
    """
    saved = torch.load(Path(directory) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    network.load_state_dict(saved["network"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    generator.set_state(saved["generator_rng"])
    cuda_states = saved.get("cuda_rng")
    if cuda_states is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(cuda_states)[:torch.cuda.device_count()])
    return TrialState(epoch=int(saved["epoch"]), best=dict(saved["best"]),
                      extra=dict(saved.get("extra", {})))
