"""Table II: the paper's lam grid with everything else fixed at the paper's choice
(softmax f, GRU cells, 80-frame sequences)."""

from __future__ import annotations

from typing import Any

import optuna

from trainables.config import SEQUENCE_LENGTH

DESCRIPTION = "Table II: lam in {0, 0.25, 0.5, 0.75, 1}; softmax, GRU, L=80 fixed"
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_TRIALS = len(LAMBDAS)


def define(trial: optuna.Trial) -> dict[str, Any]:
    """Suggest lam from the grid; return the fixed settings."""
    trial.suggest_float("lam", 0.0, 1.0)
    return {"normalisation": "softmax", "cell": "gru", "seq_len": SEQUENCE_LENGTH}


def sampler(seed: int) -> optuna.samplers.BaseSampler:
    """Each grid point once, in a seeded order."""
    return optuna.samplers.GridSampler({"lam": list(LAMBDAS)}, seed=seed)
