"""The paper's knobs (Sections III-IV): lam of eq. (9), f's normalisation, the RNN cell,
and the sequence length."""

from __future__ import annotations

from typing import Any

import optuna

from trainables.config import CELLS, NORMALISATIONS

DESCRIPTION = "lam in [0, 1], softmax/linear f, GRU/BLSTM, sequence length in {20, 40, 60, 80}"
SEQUENCE_LENGTHS = (20, 40, 60, 80)


def define(trial: optuna.Trial) -> dict[str, Any]:
    """Suggest the four searched parameters; nothing else is held fixed."""
    trial.suggest_float("lam", 0.0, 1.0)
    trial.suggest_categorical("normalisation", list(NORMALISATIONS))
    trial.suggest_categorical("cell", list(CELLS))
    trial.suggest_categorical("seq_len", list(SEQUENCE_LENGTHS))
    return {}
