"""As ``paper``, with ``f`` fixed to the softmax and its distance temperature searched:
``f = softmax(V / tau)`` (see :func:`trainables.loss.normalise_distances`), ``tau = 1`` being the
paper's eq. (8). With 128-d representations the squared distances ``V`` are tens to a hundred,
so the paper's softmax is one-hot; a larger ``tau`` keeps ``E_b``'s gradient alive."""

from __future__ import annotations

from typing import Any

import optuna

from search_spaces.paper import SEQUENCE_LENGTHS
from trainables.config import CELLS

DESCRIPTION = ("lam in [0, 1], softmax f of V / tau with tau in [1, 1000] (log scale), GRU/BLSTM, "
               "sequence length in {20, 40, 60, 80}")
TAU_RANGE = (1.0, 1000.0)


def define(trial: optuna.Trial) -> dict[str, Any]:
    """Suggest lam, tau (log scale), the cell and the sequence length; hold f at the softmax."""
    trial.suggest_float("lam", 0.0, 1.0)
    trial.suggest_float("tau", *TAU_RANGE, log=True)
    trial.suggest_categorical("cell", list(CELLS))
    trial.suggest_categorical("seq_len", list(SEQUENCE_LENGTHS))
    return {"normalisation": "softmax"}
