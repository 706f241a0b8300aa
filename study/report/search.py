"""What the search learned, as numbers: per-configuration frame, Pareto front, importances.

Also which parameters the tables show as columns: the space's own, searched then fixed
(:mod:`study.parameters`). Nothing here draws (:mod:`study.report.figures` does).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pandas as pd

from search_spaces import SpaceParameters
from study import parameters
from study.pareto import on_pareto_front
from study.report.files import format_lam
from study.report.records import Configuration, Study, finite
from trainables.config import SOURCE, TARGET

#: Fewest finished configurations Optuna's importances are computed from: fANOVA fits a
#: random forest to (parameters, objective); with a handful of points its ranking is noise.
MIN_IMPORTANCE_TRIALS = 10
IMPORTANCE_SEED = 0


def space_of(study: Study) -> SpaceParameters:
    """The study's space's parameters; when its module is gone from search_spaces/, those
    its trials' configs hold (all taken as searched, with no known distributions)."""
    return parameters.of_space(study.settings.space, [trial.config for trial in study.trials])


def space_distributions(study: Study) -> dict[str, optuna.distributions.BaseDistribution]:
    """The space's Optuna distributions; {} when its module is gone from search_spaces/."""
    return dict(space_of(study).distributions)


def searched(study: Study) -> list[str]:
    """The searched parameters (the space's suggested ones)."""
    return list(space_of(study).searched)


def shown_params(study: Study) -> list[str]:
    """Parameter columns: the space's searched, then fixed, that some trial's config holds."""
    present = {key for trial in study.trials for key in trial.config}
    return [name for name in space_of(study).names if name in present]


def describe_params(study: Study, config: Any) -> str:
    """``λ=0.5, cell=gru, seq_len=40``: a configuration's searched parameters (``config``: a
    mapping or a row of :func:`search_frame`; lam printed by
    :func:`~study.report.files.format_lam`)."""
    return ", ".join("λ=" + format_lam(config.get(name)) if name == "lam"
                     else f"{name}={_value(config.get(name))}" for name in searched(study))


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


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
    """True where no other point is at least as good on both and better on one (maximise),
    as Optuna computes a front (:func:`study.pareto.on_pareto_front`)."""
    return on_pareto_front(np.column_stack([x, y]))


def objectives_frame(study: Study) -> pd.DataFrame | None:
    """A ``--objectives`` search's trials with the value of each objective that Optuna was
    told (its best-so-far ``best_<name>``), their searched parameters and ``pareto``: the
    front the search found. None for a single-objective study."""
    if not study.settings.multi_objective:
        return None
    metrics = study.settings.optuna_metrics
    rows = [{"configuration": config.configuration, **params_of(study, config),
             **{name: _last(config, name) for name in metrics}}
            for config in study.configurations]
    frame = pd.DataFrame(rows, columns=["configuration", *searched(study), *metrics])
    frame["pareto"] = on_pareto_front(frame[metrics].to_numpy(float))
    return frame


def _last(configuration: Configuration, name: str) -> float:
    value = configuration.first.last.get(name)
    return float(value) if finite(value) else math.nan


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
    distributions = space_distributions(study)
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
        params = {name: config.config[name] for name in distributions
                  if name in config.config}  # a define-by-run branch may skip some
        optuna_study.add_trial(optuna.trial.create_trial(
            params=params, distributions={name: distributions[name] for name in params},
            value=value))
    try:
        # fANOVA fits the objective's values; Optuna 5's default (PED-ANOVA) only looks at
        # which trials reach the top quantile, one trial in a small study.
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
        return optuna.importance.get_param_importances(optuna_study, evaluator=evaluator)
    except (RuntimeError, ValueError) as error:
        return f"Optuna could not compute parameter importances ({error})."
