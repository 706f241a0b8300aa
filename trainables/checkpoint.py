"""A trial's checkpoint: what continues an interrupted training bit-for-bit, and what it found.

One checkpoint folder holds up to three files:

- ``state.pt`` (:data:`CHECKPOINT_FILE`): the :class:`TrialState` (epoch, best-so-far
  metrics, extra numbers); a few hundred bytes, always there.
- ``resume.pt`` (:data:`RESUME_FILE`): the latest weights, the optimiser's state and the
  random number generators (torch's CPU generator, every CUDA device's generator when CUDA
  is available, the window-shuffling :class:`torch.Generator`). Only a trial that still has
  epochs to run needs it; a finished trial's checkpoint has none. numpy's global generator is
  not saved: training draws nothing from it.
- ``best.pt`` (:data:`SELECTED_FILE`): the weights of the epoch selected so far, and its
  number. A finished trial keeps this and ``state.pt`` only.

Weights never include a frozen backbone (:func:`trained_weights`): it is an input of the
study (fingerprinted with the data), rebuilt from the study's backbone state on resume and by
the report; a backbone that is trained (``--train-backbone``) is saved like any other layer.

Files are read back with ``torch.load(..., weights_only=True)``: a checkpoint is data, and a
pickle that carries code is refused, never executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from trainables.config import SELECTION_METRICS

CHECKPOINT_FILE = "state.pt"
RESUME_FILE = "resume.pt"
SELECTED_FILE = "best.pt"


@dataclass
class TrialState:
    """What a trial must carry across a restart besides the weights.

    ``best`` holds the running maxima of :data:`~trainables.config.SELECTION_METRICS`
    (never of held-out ones: a maximum over held-out epochs would be an oracle);
    ``extra`` is free for any other numbers a training loop wants to keep (saved and
    restored as they are).
    """

    epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    def update_best(self, metrics: dict[str, float]) -> dict[str, float]:
        """Fold ``metrics`` into the running maxima; return them as ``best_<name>``."""
        for name in SELECTION_METRICS:
            if name in metrics:
                self.best[name] = max(self.best.get(name, -1.0), metrics[name])
        return {f"best_{name}": value for name, value in self.best.items()}


def frozen_keys(network: nn.Module) -> set[str]:
    """State-dict keys of the network's frozen backbone; none when it has no backbone or
    trains it."""
    backbone = getattr(network, "backbone", None)
    if not isinstance(backbone, nn.Module) or any(p.requires_grad for p in backbone.parameters()):
        return set()
    return {f"backbone.{key}" for key in backbone.state_dict()}


def trained_weights(network: nn.Module) -> dict[str, Tensor]:
    """The network's state dict without a frozen backbone."""
    frozen = frozen_keys(network)
    return {key: value for key, value in network.state_dict().items() if key not in frozen}


def copy_weights(network: nn.Module) -> dict[str, Tensor]:
    """:func:`trained_weights` copied to the CPU: later training leaves the copy as it is."""
    return {key: value.detach().to("cpu", copy=True)
            for key, value in trained_weights(network).items()}


def load_weights(network: nn.Module, weights: dict[str, Tensor]) -> None:
    """Inverse of :func:`trained_weights`: every other key must be there, and nothing else;
    a frozen backbone keeps the weights it was built with (saved ones, from checkpoints
    written before backbones were left out, are loaded too)."""
    result = network.load_state_dict(weights, strict=False)
    missing = sorted(set(result.missing_keys) - frozen_keys(network))
    if missing or result.unexpected_keys:
        raise RuntimeError(f"the checkpoint's weights do not fit the network (missing "
                           f"{missing}, unexpected {list(result.unexpected_keys)})")


def _numbers(state: TrialState) -> dict[str, object]:
    return {"epoch": state.epoch, "best": dict(state.best),
            "extra": {key: float(value) for key, value in state.extra.items()}}


def save_state(directory: Path, network: nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, state: TrialState,
               alignment: nn.Module | None = None) -> None:
    """Everything needed to continue bit-for-bit: ``state.pt`` and ``resume.pt`` (with the
    weights of a baseline's ``alignment`` module, DANN's domain classifier, when it has any)."""
    resume = {"network": trained_weights(network), "optimizer": optimizer.state_dict(),
              "torch_rng": torch.get_rng_state(), "generator_rng": generator.get_state()}
    if alignment is not None and len(alignment.state_dict()):
        resume["alignment"] = alignment.state_dict()
    if torch.cuda.is_available():
        resume["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(resume, Path(directory) / RESUME_FILE)
    save_final_state(directory, state)


def save_final_state(directory: Path, state: TrialState) -> None:
    """``state.pt`` alone: all a trial with no epoch left to run needs to be resumed."""
    torch.save(_numbers(state), Path(directory) / CHECKPOINT_FILE)


def load_state(directory: Path, network: nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, alignment: nn.Module | None = None) -> TrialState:
    """Inverse of :func:`save_state` (or of :func:`save_final_state`: weights, optimiser and
    generators are then left as they are); weights-only loading, as for any file on disk.

    A checkpoint written before ``resume.pt`` (everything in ``state.pt``, perhaps without
    ``extra`` or CUDA generator states) loads too; one without CUDA generator states leaves
    them as they are; one written on more GPUs than are visible now restores the visible ones.
    """
    directory = Path(directory)
    saved = _load(directory / CHECKPOINT_FILE)
    resume = _load(directory / RESUME_FILE) if (directory / RESUME_FILE).exists() else saved
    if "network" in resume:
        load_weights(network, resume["network"])
        if "alignment" in resume and alignment is not None:
            alignment.load_state_dict(resume["alignment"])
        optimizer.load_state_dict(resume["optimizer"])
        torch.set_rng_state(resume["torch_rng"])
        generator.set_state(resume["generator_rng"])
        cuda_states = resume.get("cuda_rng")
        if cuda_states is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(cuda_states)[:torch.cuda.device_count()])
    return TrialState(epoch=int(saved["epoch"]), best=dict(saved["best"]),
                      extra=dict(saved.get("extra", {})))


def save_selected(directory: Path, weights: dict[str, Tensor], epoch: int) -> None:
    """``best.pt``: the selected epoch's weights (from :func:`copy_weights`) and its number."""
    torch.save({"network": weights, "epoch": int(epoch)}, Path(directory) / SELECTED_FILE)


def load_selected(directory: Path) -> tuple[dict[str, Tensor], int] | None:
    """(weights, epoch) of ``best.pt``; None when the checkpoint has none."""
    path = Path(directory) / SELECTED_FILE
    if not path.exists():
        return None
    saved = _load(path)
    return saved["network"], int(saved["epoch"])


def selected_weights(directory: Path) -> dict[str, Tensor]:
    """The weights the report re-evaluates: ``best.pt``'s or, in a checkpoint written before
    ``best.pt`` existed (Tune then kept the selected epoch's whole checkpoint), ``state.pt``'s.
    """
    selected = load_selected(directory)
    if selected is not None:
        return selected[0]
    return _load(Path(directory) / CHECKPOINT_FILE)["network"]


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
