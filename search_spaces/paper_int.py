"""As ``paper``, with the sequence length an integer range instead of four values."""

from __future__ import annotations

from typing import Any

import optuna

from trainables.config import CELLS, NORMALISATIONS

DESCRIPTION = "lam in [0, 1], softmax/linear f, GRU/BLSTM, sequence length 10..80 step 10"


def define(trial: optuna.Trial) -> dict[str, Any]:
    """Suggest lam, f, the cell and an integer sequence length."""
    trial.suggest_float("lam", 0.0, 1.0)
    trial.suggest_categorical("normalisation", list(NORMALISATIONS))
    trial.suggest_categorical("cell", list(CELLS))
    trial.suggest_int("seq_len", 10, 80, step=10)
    return {}
