"""Valence-arousal studies (``--task va``): the paper's lam and f, and the grid G of the 2D
emotion space (G x G classes; the paper's example is 20 x 20). Each trial makes its centroids
for its own grid from NetB's representations (trainables.dimensional), so G is searchable."""

from __future__ import annotations

from typing import Any

import optuna

from trainables.config import NORMALISATIONS, SEQUENCE_LENGTH

DESCRIPTION = ("--task va: lam in [0, 1], softmax/linear f, grid G in {10, 15, 20, 25}; GRU, "
               "L=80 fixed")
GRID_SIZES = (10, 15, 20, 25)


def define(trial: optuna.Trial) -> dict[str, Any]:
    """Suggest lam, f and the grid; hold the cell and window length at the paper's."""
    trial.suggest_float("lam", 0.0, 1.0)
    trial.suggest_categorical("normalisation", list(NORMALISATIONS))
    trial.suggest_categorical("va_grid", list(GRID_SIZES))
    return {"cell": "gru", "seq_len": SEQUENCE_LENGTH}
