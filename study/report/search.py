"""What the search learned, as numbers: per-configuration frame, Pareto front, importances.

Also which parameters the search varied (from the space's own Optuna distributions), which
the tables show as columns. Nothing here draws (:mod:`study.report.figures` does).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import optuna
import pandas as pd

import search_spaces
from study.report.records import Configuration, Study
from study.tensorboard import HPARAMS
from trainables.config import SOURCE, TARGET
from trainables.errors import UserInputError

#: Fewest finished configurations Optuna's importances are computed from: fANOVA fits a
#: random forest to (parameters, objective); with a handful of points its ranking is noise.
MIN_IMPORTANCE_TRIALS = 10
IMPORTANCE_SEED = 0


@functools.cache
def space_distributions(space: str) -> dict[str, optuna.distributions.BaseDistribution]:
    """The space's Optuna distributions, from one throw-away trial of its define();
    {} when the space's module is gone from search_spaces/."""
    try:
        module = search_spaces.load(space)
    except UserInputError:
        return {}
    scratch = optuna.create_study(direction="maximize")
    trial = scratch.ask()
    module.define(trial)
    scratch.tell(trial, state=optuna.trial.TrialState.FAIL)
    return dict(trial.distributions)


def searched(study: Study) -> list[str]:
    """The searched parameters (the space's), else the HParams names."""
    return list(space_distributions(study.settings.space) or HPARAMS)


def shown_params(study: Study) -> list[str]:
    """Parameters worth a column: present in some trial's config."""
    present = {key for trial in study.trials for key in trial.config}
    return [name for name in dict.fromkeys([*searched(study), *HPARAMS]) if name in present]


def params_of(study: Study, configuration: Configuration) -> dict[str, Any]:
    """The configuration's values of the searched parameters."""
    return {name: configuration.config.get(name) for name in searched(study)}


def search_frame(study: Study) -> pd.DataFrame:
    """Per configuration: parameters, mean objective, mean accuracies at the selected epoch,
    seeds, learning, Pareto membership (source against the selection split)."""
    objective = study.settings.objective
    rows = []
    for config in study.configurations:
        row = {"configuration": config.configuration, **params_of(study, config),
               "seeds": config.seeds,
               objective: config.mean(study.metric),
               "did_not_learn_seeds": config.did_not_learn_seeds}
        for role in study.roles:
            key = study.accuracy_key(role)
            row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = config.interval(key)
        rows.append(row)
    frame = pd.DataFrame(rows)
    target, source = (f"{study.accuracy_key(TARGET)}_mean", f"{study.accuracy_key(SOURCE)}_mean")
    frame["pareto"] = pareto_front(frame[source].to_numpy(float), frame[target].to_numpy(float))
    return frame


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where no other point is at least as good on both and better on one (maximise)."""
    ge = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    gt = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~(ge & gt).any(axis=1)


def lam_series(study: Study, frame: pd.DataFrame) -> list[pd.DataFrame]:
    """The rows of :func:`search_frame` in groups that differ in lam alone (every other
    searched parameter equal), each sorted by lam: only these may be joined by a line."""
    others = [name for name in searched(study) if name != "lam" and name in frame.columns]
    if not others:
        return [frame.sort_values("lam")] if not frame.empty else []
    keys = frame[others].astype(str)  # one key a row, missing values included
    return [frame.loc[group.index].sort_values("lam")
            for _, group in keys.groupby(others, sort=False)]


def finished_configurations(study: Study) -> list[tuple[Configuration, float]]:
    """Configurations whose every seed finished (TERMINATED), with their mean objective."""
    return [(c, c.mean(study.metric)) for c in study.configurations
            if all(t.status == "TERMINATED" for t in c.trials)
            and math.isfinite(c.mean(study.metric))]


def importances(study: Study) -> dict[str, float] | str:
    """Optuna's parameter importances of the objective, or why there are none."""
    distributions = space_distributions(study.settings.space)
    if not distributions:
        return (f"The search space `{study.settings.space}` is no longer in search_spaces/, "
                f"so its distributions for Optuna's importances are unknown.")
    values = finished_configurations(study)
    unit = "configurations (each the mean of its seeds)" if study.repeated else "trials"
    if len(values) < MIN_IMPORTANCE_TRIALS:
        return (f"Parameter importances need at least {MIN_IMPORTANCE_TRIALS} finished {unit}; "
                f"this study has {len(values)}. Below that, fANOVA's forest ranks noise.")
    if len({v for _, v in values}) < 2:
        return (f"Parameter importances need finished {unit} with different "
                f"`{study.settings.objective}`; all {len(values)} have the same value.")
    optuna_study = optuna.create_study(direction="maximize")
    for config, value in values:
        params = {name: config.config[name] for name in distributions}
        optuna_study.add_trial(optuna.trial.create_trial(params=params,
                                                         distributions=distributions,
                                                         value=value))
    try:
        # fANOVA fits the objective's values; Optuna 5's default (PED-ANOVA) only looks at
        # which trials reach the top quantile, one trial in a small study.
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
        return optuna.importance.get_param_importances(optuna_study, evaluator=evaluator)
    except (RuntimeError, ValueError) as error:
        return f"Optuna could not compute parameter importances ({error})."
