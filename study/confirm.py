"""``--confirm-top K``: re-run the K best configurations of the search on fresh seeds.

The search's best configuration is the maximum of noisy estimates, so its score is biased
upwards (the winner's curse), and the more configurations were tried the more so. The
confirmation runs the K configurations with the highest mean objective over their search
seeds again, each with :func:`confirm_seeds` seeds that the search never used
(``__trial_index__`` from ``repeats`` on: the search used ``0 .. repeats - 1``), as a second
Ray Tune experiment in ``<study>/confirm/``. Its numbers are what to cite: they were not
used to choose.

- at least :data:`MIN_SEEDS` seeds per configuration (``max(repeats, MIN_SEEDS)``): an
  interval needs at least two values, and with fewer than three it says little;
- Optuna never sees these trials: the experiment has no searcher (a grid over the chosen
  configurations and seed indices), and the search's experiment is not touched;
- resumable: an interrupted confirmation is restored from ``<study>/confirm/``
  (``Tuner.can_restore``) and finishes only what is missing;
- ``<study>/confirm.csv``: one row per configuration (search rank and mean beside the
  confirmation's mean and 95% interval of each headline accuracy).
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from typing import Any

import pandas as pd
import ray
from ray import tune
from ray.tune.schedulers import FIFOScheduler

from study.cluster import Resources
from study.concurrency import RunVariantGenerator, max_concurrent, set_run_limit
from study.layout import StudyLayout
from study.outputs import (
    CONFIRM_KEY,
    REPEAT_KEY,
    column_label,
    configurations,
    headline_metrics,
    load_analysis,
    trials_frame,
)
from study.parameters import of_frame
from study.search import make_run_config, trial_dirname
from study.settings import StudySettings
from study.statistics import format_ci

CONFIRM_DIR = "confirm"
CONFIRM_CSV = "confirm.csv"
#: Fewest seeds a confirmed configuration runs with.
MIN_SEEDS = 3


def confirm_seeds(settings: StudySettings) -> int:
    """Seeds per confirmed configuration: ``max(repeats, MIN_SEEDS)``."""
    return max(settings.repeats, MIN_SEEDS)


def seed_indices(settings: StudySettings) -> list[int]:
    """``__trial_index__`` values of the confirmation: after the search's ``0..repeats-1``,
    so every confirmation seed is one the search never trained with."""
    start = max(1, settings.repeats)
    return list(range(start, start + confirm_seeds(settings)))


def confirm_path(layout: StudyLayout) -> str:
    """The confirmation experiment's folder (or URI), as Ray Tune names it."""
    return f"{layout.tune_path.rstrip('/')}/{CONFIRM_DIR}"


def top_configurations(frame: pd.DataFrame, objective: str,
                       k: int) -> dict[str, dict[str, Any]]:
    """The ``k`` configurations with the highest mean ``objective`` over their seeds:
    configuration id -> its trial config (without the seed index), best first.
    Configurations with no result are never chosen."""
    table = configurations(frame, objective)
    table = table[table["seeds"] > 0].head(k)
    chosen = {}
    for configuration in table["configuration"]:
        member = frame[frame["configuration"] == configuration].iloc[0]
        chosen[configuration] = json.loads(member["config_key"])
    return chosen


def _pick(chosen: dict[str, dict[str, Any]], key: str, config: dict[str, Any]) -> Any:
    """``tune.sample_from``: the value of ``key`` in the configuration this trial runs."""
    return chosen[config[CONFIRM_KEY]].get(key)


def confirmation_space(chosen: dict[str, dict[str, Any]], indices: list[int],
                       fixed: dict[str, Any]) -> dict[str, Any]:
    """Tune's param space: a grid over the chosen configurations and the seed indices; every
    other key is the configuration's own value (``fixed`` fills keys it lacks)."""
    keys = sorted({key for config in chosen.values() for key in config} | set(fixed))
    filled = {name: {**fixed, **config} for name, config in chosen.items()}
    space: dict[str, Any] = {key: tune.sample_from(partial(_pick, filled, key)) for key in keys
                             if key not in (CONFIRM_KEY, REPEAT_KEY)}
    space[CONFIRM_KEY] = tune.grid_search(list(chosen))
    space[REPEAT_KEY] = tune.grid_search(list(indices))
    return space


def build_confirm_tuner(layout: StudyLayout, settings: StudySettings, trainable: Any,
                        resources: Resources, fixed: dict[str, Any],
                        chosen: dict[str, dict[str, Any]], cluster_cpus: float) -> tune.Tuner:
    """The confirmation experiment: restored when one is on disk, else a new grid."""
    path = confirm_path(layout)
    limit = set_run_limit(max_concurrent(resources, cluster_cpus))
    if tune.Tuner.can_restore(path):
        print(f"Resuming the confirmation runs in {layout.display_root}/{CONFIRM_DIR}")
        return tune.Tuner.restore(path, trainable, resume_unfinished=True,
                                  resume_errored=True)
    shown = dataclasses.replace(settings, repeats=confirm_seeds(settings))
    tune_config = tune.TuneConfig(
        metric=settings.objective, mode="max", num_samples=1, scheduler=FIFOScheduler(),
        search_alg=RunVariantGenerator(max_concurrent=limit), trial_dirname_creator=trial_dirname)
    run_config = make_run_config(layout, shown, resources, name=CONFIRM_DIR,
                                 storage_path=layout.tune_path,
                                 tensorboard_dir=layout.tensorboard_dir / CONFIRM_DIR)
    return tune.Tuner(trainable, param_space=confirmation_space(chosen, seed_indices(settings),
                                                                fixed),
                      tune_config=tune_config, run_config=run_config)


def run_confirmation(layout: StudyLayout, settings: StudySettings, trainable: Any,
                     resources: Resources, fixed: dict[str, Any], *,
                     cluster_cpus: float | None = None,
                     search: pd.DataFrame | None = None) -> pd.DataFrame:
    """Re-run the ``settings.confirm_top`` best configurations of the search on fresh seeds;
    write ``<study>/confirm.csv`` and return it (one row per configuration, see
    :func:`confirmation_table`). An empty frame when ``confirm_top`` is 0 or nothing in the
    search has a result.

    ``search`` is the search's trials (:func:`study.outputs.trials_frame`), read from disk
    when not given; ``cluster_cpus`` defaults to the running Ray cluster's CPUs.
    """
    if settings.confirm_top <= 0:
        return pd.DataFrame()
    if search is None:
        search = trials_frame(load_analysis(layout), settings.epochs, settings.objective,
                              settings.space)
    chosen = top_configurations(search, settings.objective, settings.confirm_top)
    if not chosen:
        print("Confirmation skipped: no configuration of the search has a result.")
        return pd.DataFrame()
    if cluster_cpus is None:
        cluster_cpus = ray.cluster_resources().get("CPU", 1)
    print(f"Confirming the {len(chosen)} best configuration(s) with "
          f"{confirm_seeds(settings)} fresh seeds each (seed indices "
          f"{', '.join(map(str, seed_indices(settings)))})")
    build_confirm_tuner(layout, settings, trainable, resources, fixed, chosen,
                        cluster_cpus).fit()
    confirmed = trials_frame(tune.ExperimentAnalysis(confirm_path(layout)).trials,
                             settings.epochs, settings.objective, settings.space)
    table = confirmation_table(search, confirmed, settings.objective)
    table.to_csv(layout.root / CONFIRM_CSV, index=False)
    layout.push(CONFIRM_CSV, "tensorboard")
    return table


def confirmation_table(search: pd.DataFrame, confirmed: pd.DataFrame,
                       objective: str) -> pd.DataFrame:
    """One row per confirmed configuration, best confirmed mean first.

    ``configuration`` is the search's id of it; ``search_rank``, ``search_seeds`` and
    ``search_<objective>_mean`` come from the search; ``seeds`` and ``<name>_mean/_low/_high``
    (95% interval over the fresh seeds) for each headline metric from the confirmation runs;
    ``did_not_learn_seeds`` counts confirmation seeds that did not learn.
    """
    if confirmed.empty or CONFIRM_KEY not in confirmed:
        return pd.DataFrame()
    grouped = confirmed.copy()
    grouped["configuration"] = grouped[CONFIRM_KEY]
    table = configurations(grouped, objective)
    ranked = configurations(search, objective).set_index("configuration")
    table.insert(1, "search_rank", table["configuration"].map(ranked["rank"]).astype("Int64"))
    table.insert(2, "search_seeds", table["configuration"].map(ranked["seeds"]).astype("Int64"))
    table.insert(3, f"search_{objective}_mean",
                 table["configuration"].map(ranked[f"{objective}_mean"]))
    return table.rename(columns={"rank": "confirmed_rank"})


def confirmation_summary(table: pd.DataFrame, objective: str) -> str:
    """The confirmation as the driver prints it: search rank and mean beside the mean
    [95% CI] of each headline accuracy over the fresh seeds."""
    if table.empty:
        return "(no confirmation runs)"
    shown = pd.DataFrame({"configuration": table["configuration"],
                          "search rank": table["search_rank"]})
    for key in of_frame(table).names:
        if key in table and table[key].notna().any():
            shown[key] = table[key]
    shown[f"search: {column_label(objective)}, mean"] = table[
        f"search_{objective}_mean"].map(lambda v: f"{v:.3f}")
    shown["fresh seeds"] = table["seeds"]
    for metric in headline_metrics(objective):
        if f"{metric}_mean" in table:
            shown[column_label(metric) + ", mean [95% CI]"] = [
                format_ci(row[f"{metric}_mean"], row[f"{metric}_low"], row[f"{metric}_high"])
                for _, row in table.iterrows()]
    shown["did not learn"] = [f"{k} seeds" if k else "" for k in table["did_not_learn_seeds"]]
    return shown.to_string(index=False)
