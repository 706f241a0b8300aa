"""The Pareto front of several maximised values, as Optuna computes it for a
multi-objective study (:attr:`optuna.study.Study.best_trials`).

Used for trials.csv's ``pareto`` column of a ``--objectives`` search and by the report, so
the front the study shows is the one Optuna's own machinery finds.
"""

from __future__ import annotations

import numpy as np
import optuna


def on_pareto_front(values: np.ndarray) -> np.ndarray:
    """``values`` ``(n, k)``, every column maximised -> ``(n,)`` bool: the rows on the Pareto
    front (no other row at least as good in every column and better in one). Rows with a
    non-finite value are off it; equal rows on the front are all on it."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values).all(axis=1)
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line
    try:
        study = optuna.create_study(directions=["maximize"] * values.shape[1])
    finally:
        optuna.logging.set_verbosity(previous)
    study.add_trials([optuna.trial.create_trial(values=list(row), user_attrs={"row": int(i)})
                      for i, row in enumerate(values) if finite[i]])
    front = np.zeros(len(values), dtype=bool)
    front[[trial.user_attrs["row"] for trial in study.best_trials]] = True
    return front
