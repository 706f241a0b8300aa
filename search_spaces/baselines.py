"""Every way to train NetA across the two data sets, each with its own knobs searched: the
paper's centroid loss (lam, f), E_a alone (``source_only``), and the alignment baselines
Deep CORAL, multi-kernel MMD and DANN (their loss weight, log scale).

A fair comparison gives every method the same budget: configuration ``k`` (Optuna's trial
number) runs method ``k mod 5``, so ``--trials 10`` runs two of each and a method's weights
are modelled by TPE from that method's own trials only. The method is therefore a fixed
setting of each configuration (``method`` in every table), not a sampled one. The network,
window length and cell are the same for all: the paper's GRU on 80-frame windows.
"""

from __future__ import annotations

from typing import Any

import optuna

from trainables.config import (
    ALIGNMENT_WEIGHTS,
    DEFAULT_METHOD,
    METHODS,
    NORMALISATIONS,
    SEQUENCE_LENGTH,
)

DESCRIPTION = ("centroid (lam, f), source_only, coral, mmd, dann (loss weight, log scale), "
               "in turn: the same number of configurations each; GRU, L=80 fixed")
DEFAULT_TRIALS = 2 * len(METHODS)
#: Searched range of each alignment loss's weight (log scale), around its published value
#: (trainables.config.ALIGNMENT_WEIGHTS). CORAL's loss is divided by 4 d^2 (d = 128), so on
#: our representations it is orders of magnitude below the others: its range reaches higher.
WEIGHT_RANGES: dict[str, tuple[float, float]] = {
    "coral": (1.0, 1e4), "mmd": (0.01, 100.0), "dann": (0.01, 10.0)}


def method_of(trial: optuna.Trial) -> str:
    """The method configuration ``trial.number`` runs: the methods in turn."""
    return METHODS[trial.number % len(METHODS)]


def define(trial: optuna.Trial) -> dict[str, Any]:
    """Suggest the method's own knobs; hold the method and the network fixed."""
    method = method_of(trial)
    trial.set_user_attr("method", method)  # visible in Optuna's dashboard and dataframe
    if method == DEFAULT_METHOD:
        trial.suggest_float("lam", 0.0, 1.0)
        trial.suggest_categorical("normalisation", list(NORMALISATIONS))
    elif method in ALIGNMENT_WEIGHTS:
        low, high = WEIGHT_RANGES[method]
        trial.suggest_float(f"{method}_weight", low, high, log=True)
    return {"method": method, "cell": "gru", "seq_len": SEQUENCE_LENGTH}
