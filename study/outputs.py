"""A study's readable results: ``trials.csv``, ``best.json`` and the summary table.

Every accuracy is named by its level (video or frame), its split (source, target: the part
of the target domain that selects, held-out: scored, never used to choose) and its epoch
rule:

- ``best_<name>``: the maximum over epochs (only of selection accuracies; the objective
  ``best_<metric>`` is one of them);
- ``selected_<name>``: at the trial's *selected epoch*, the first epoch that reached
  ``best_<metric>`` (``selected_epoch``). Held-out and source accuracies are only ever
  reported at that epoch: a maximum over epochs of a held-out accuracy would be selected on
  the held-out split;
- ``last_<name>``: at the last epoch run.

With ``--repeats N`` every configuration runs as N Ray trials (seeds); a *configuration* is
one suggestion of the sampler, whatever its seed, named by the id of its first seed's trial.
Results that choose (``best.json``, the summary) are per configuration: the mean over its
seeds with a 95% interval (:func:`study.statistics.mean_ci`), never one lucky seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from ray import tune

from study import parameters
from study.layout import StudyLayout, write_json
from study.parameters import CONFIRM_KEY, NOT_CONFIGURATION
from study.pareto import on_pareto_front
from study.statistics import format_ci, mean_ci
from trainables.config import (
    HELDOUT,
    LEARNED_MARGIN,
    REPEAT_KEY,
    TRACKED_ACCURACIES,
    TRACKED_VA,
    VA_LEARNED_CCC,
)

#: Metrics of the last epoch kept in trials.csv, as ``last_<name>``.
LAST_METRICS = (*TRACKED_ACCURACIES, *TRACKED_VA, "E_tot", "E_a", "E_b", "E_align",
                "centroid_distance_mean")
#: Per-trial numbers of the selected epoch kept in trials.csv (besides ``selected_epoch``);
#: a valence-arousal study's figures (:data:`SELECTED_VA`) too, when it has them.
SELECTED_METRICS = tuple(f"selected_{name}" for name in TRACKED_ACCURACIES) + (
    "selected_centroid_distance_mean",)
SELECTED_VA = tuple(f"selected_{name}" for name in TRACKED_VA) + (
    "selected_centroid_distance_median", "selected_centroid_distance_max", "dropped_cells")
CHANCE_METRICS = ("chance_source_video_acc", "chance_target_video_acc")
#: What the printed summary shows of a trial that did not learn.
DID_NOT_LEARN = "DID NOT LEARN"
ROLE_NAMES = {"source": "source", "target": "target", HELDOUT: "held-out"}
EPOCH_RULES = {"best": "best epoch", "selected": "selected epoch", "last": "last epoch"}


def load_analysis(layout: StudyLayout) -> tune.ExperimentAnalysis:
    """Tune's own view of the experiment on disk (finished, running or interrupted)."""
    return tune.ExperimentAnalysis(layout.tune_path)


# --- Names ------------------------------------------------------------------------------------


def metric_of(objective: str) -> str:
    """``best_target_video_acc`` -> ``target_video_acc``."""
    return objective.removeprefix("best_")


def level_of(objective: str) -> str:
    """``video`` or ``frame``: the level of the selection metric."""
    return metric_of(objective).split("_")[1]


def column_label(name: str) -> str:
    """A metric column as a person reads it: split, level and epoch rule.

    ``selected_heldout_video_acc`` -> ``held-out video acc (selected epoch)``;
    ``best_target_video_acc`` -> ``target video acc (best epoch)``.
    """
    rule, _, metric = name.partition("_")
    if rule not in EPOCH_RULES or not metric.endswith(("_acc", "_ccc")):
        return name
    role, level, figure = metric.split("_")
    figure = "CCC" if figure == "ccc" else figure
    return f"{ROLE_NAMES.get(role, role)} {level} {figure} ({EPOCH_RULES[rule]})"


def headline_metrics(objective: str) -> list[str]:
    """The objective, then the other splits at the selected epoch: held-out, the other
    selection split (target or source)."""
    metric, level = metric_of(objective), level_of(objective)
    role, _, figure = metric.split("_", 2)  # figure: "acc", or "ccc" (valence-arousal)
    others = [f"selected_{r}_{level}_{figure}" for r in ("target", HELDOUT, "source")
              if r != role]
    return [objective, *others]


# --- Trials -----------------------------------------------------------------------------------


def configuration_key(config: dict[str, Any]) -> str:
    """The same for every seed of one configuration: its config without the seed index."""
    kept = {key: value for key, value in config.items() if key not in NOT_CONFIGURATION}
    return json.dumps(kept, sort_keys=True, default=str)


def _learned_flag(result: dict[str, Any]) -> bool | None:
    learned = result.get("learned")
    if learned is None or (isinstance(learned, float) and math.isnan(learned)):
        return None
    return not bool(learned)


def trial_row(trial: Any, epochs: int, params: Sequence[str] | None = None) -> dict[str, Any]:
    """One trial: id, seed index, parameters (``params``; None: those of its config, see
    :func:`study.parameters.from_configs`), state, and its selected, best and last metrics."""
    result = trial.last_result or {}
    config = trial.config or {}
    if params is None:
        params = parameters.from_configs([config]).names
    done = int(result.get("training_iteration", 0))
    row: dict[str, Any] = {"trial_id": trial.trial_id,
                           "repeat": int(config.get(REPEAT_KEY, 0)),
                           "status": trial.status}
    if CONFIRM_KEY in config:
        row[CONFIRM_KEY] = config[CONFIRM_KEY]
    row.update({key: config.get(key) for key in params})
    row["epochs_done"] = done
    row["stopped_early"] = trial.status == "TERMINATED" and done < epochs
    row["stopped_at_epoch"] = done if row["stopped_early"] else None
    row["selected_epoch"] = result.get("selected_epoch")
    row.update({key: result.get(key) for key in SELECTED_METRICS})
    row.update({key: result[key] for key in SELECTED_VA if key in result})
    row.update({key: value for key, value in sorted(result.items())
                if key.startswith("best_")})
    row.update({key: result.get(key) for key in CHANCE_METRICS})
    row["did_not_learn"] = _learned_flag(result)
    row.update({f"last_{key}": result.get(key) for key in LAST_METRICS if key in result})
    row["path"] = trial.path
    row["config_key"] = configuration_key(config)
    return row


def trials_frame(analysis: Any, epochs: int, objective: str,
                 space: str | None = None) -> pd.DataFrame:
    """All trials, best objective first (ties by trial id, so the order is reproducible).

    ``analysis`` is Tune's :class:`~ray.tune.ExperimentAnalysis`, or anything with
    ``trials`` (or a list of trials) carrying ``trial_id``, ``status``, ``config``,
    ``last_result`` and ``path``. Adds ``configuration``: the id of the configuration's
    first seed's trial (lowest repeat index, then trial id). Trials with the same config and
    seed index are different configurations (the sampler suggested the same settings
    again), never seeds of one.

    The parameter columns are those of the search space ``space`` (None: those found in
    the trials' configs); the frame carries them (:func:`study.parameters.of_frame`).
    """
    trials = analysis if isinstance(analysis, Sequence) else analysis.trials
    params = parameters.of_space(space, [trial.config or {} for trial in trials])
    frame = pd.DataFrame([trial_row(trial, epochs, params.names) for trial in trials])
    frame.attrs["objective"] = objective
    if frame.empty:
        return parameters.attach(frame, params)
    # The same settings suggested twice (a categorical space, a grid revisited) are two
    # configurations, not two seeds: the k-th trial of each seed index goes to the k-th.
    frame = frame.sort_values("trial_id").reset_index(drop=True)
    occurrence = frame.groupby(["config_key", "repeat"]).cumcount().astype(str)
    group = frame["config_key"] + "#" + occurrence
    first = frame.assign(group=group).sort_values(["repeat", "trial_id"]).groupby("group").first()
    frame.insert(1, "configuration", group.map(first["trial_id"]))
    frame["stopped_at_epoch"] = frame["stopped_at_epoch"].astype("Int64")
    frame["selected_epoch"] = pd.to_numeric(frame["selected_epoch"]).astype("Int64")
    frame["did_not_learn"] = frame["did_not_learn"].astype("boolean")
    if objective in frame:
        frame = frame.sort_values([objective, "trial_id"], ascending=[False, True],
                                  na_position="last")
    frame = frame.reset_index(drop=True)
    frame.attrs["objective"] = objective
    return parameters.attach(frame, params)


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def has_repeats(frame: pd.DataFrame) -> bool:
    """Whether some configuration ran with more than one seed."""
    return ("configuration" in frame and not frame.empty
            and bool(frame["configuration"].duplicated().any()))


def configurations(frame: pd.DataFrame, objective: str | None = None) -> pd.DataFrame:
    """One row per configuration, best mean objective first.

    Columns: ``configuration``, the parameters, ``seeds`` (trials with a finite objective),
    ``trials`` (all of its trials), ``trial_ids`` and ``repeats`` (comma-separated), and for
    each headline metric ``<name>_mean``, ``<name>_low``, ``<name>_high`` (95% interval over
    the seeds, :func:`study.statistics.mean_ci`; no interval for one seed), then
    ``did_not_learn_seeds`` (seeds that did not learn) and ``rank`` (1 = best). Ties in the
    mean objective go to the better mean source accuracy, then to the configuration id.
    """
    objective = objective or frame.attrs.get("objective")
    params = parameters.of_frame(frame)
    columns = ["configuration", *params.names, "seeds", "trials", "trial_ids", "repeats"]
    if frame.empty or objective is None or "configuration" not in frame:
        return parameters.attach(pd.DataFrame(columns=columns), params)
    metrics = [m for m in headline_metrics(objective) if m in frame]
    rows = []
    for configuration, group in frame.groupby("configuration", sort=False):
        group = group.sort_values(["repeat", "trial_id"])
        values = group[objective] if objective in group else pd.Series(np.nan, group.index)
        scored = group[[_finite(v) for v in values]]
        row: dict[str, Any] = {"configuration": configuration,
                               **{key: group.iloc[0].get(key) for key in params.names},
                               "seeds": len(scored), "trials": len(group),
                               "trial_ids": ",".join(group["trial_id"]),
                               "repeats": ",".join(str(r) for r in group["repeat"])}
        for metric in metrics:
            row[f"{metric}_mean"], row[f"{metric}_low"], row[f"{metric}_high"] = mean_ci(
                pd.to_numeric(scored[metric], errors="coerce").tolist(),
                bounds=(-1.0, 1.0) if metric.endswith("_ccc") else (0.0, 1.0))
        flags = group["did_not_learn"] if "did_not_learn" in group else pd.Series(dtype=bool)
        row["did_not_learn_seeds"] = int(flags.fillna(False).astype(bool).sum())
        row["learning_known"] = bool(flags.notna().any())
        rows.append(row)
    table = pd.DataFrame(rows)
    source = next((f"{m}_mean" for m in metrics if m.startswith("selected_source")), None)
    keys = [f"{objective}_mean"] + ([source] if source else []) + ["configuration"]
    keys = [k for k in keys if k in table]
    table = table.sort_values(keys, ascending=[False] * (len(keys) - 1) + [True],
                              na_position="last").reset_index(drop=True)
    table["rank"] = range(1, len(table) + 1)
    table.attrs["objective"] = objective
    return parameters.attach(table, params)


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def best_record(frame: pd.DataFrame, objective: str) -> dict[str, Any] | None:
    """The best *configuration* (highest mean objective over its seeds), JSON-able;
    None before any result.

    Holds the parameters and full trial config, the seeds' trial ids and repeat indices,
    ``<objective>`` (the mean over seeds), each headline metric's mean (and its 95%
    interval as ``<name>_ci95`` when there are several seeds), ``did_not_learn`` (True
    when any seed did not learn; None when the trials did not say) and
    ``did_not_learn_seeds``. With one seed, ``trial_id`` and ``selected_epoch`` name it.
    """
    if objective not in frame or not frame[objective].map(_finite).any():
        return None
    table = configurations(frame, objective)
    best = table.iloc[0]
    members = frame[frame["configuration"] == best["configuration"]].sort_values(
        ["repeat", "trial_id"])
    config = json.loads(members.iloc[0]["config_key"])
    record: dict[str, Any] = {
        "objective": objective,
        "rule": (f"the configuration with the highest mean `{objective}` over its seeds; "
                 f"other accuracies are at each seed's selected epoch (the first epoch "
                 f"that reached `{objective}`), averaged over the seeds"),
        "configuration": best["configuration"],
        "params": {key: _json_value(best.get(key)) for key in parameters.of_frame(frame).names},
        "config": config,
        "seeds": int(best["seeds"]),
        "trial_ids": list(members["trial_id"]),
        "repeats": [int(r) for r in members["repeat"]],
        "did_not_learn": (bool(best["did_not_learn_seeds"] > 0)
                          if best["learning_known"] else None),
        "did_not_learn_seeds": int(best["did_not_learn_seeds"]),
    }
    for metric in headline_metrics(objective):
        if f"{metric}_mean" not in best:
            continue
        record[metric] = _json_value(best[f"{metric}_mean"])
        if best["seeds"] > 1:
            record[f"{metric}_ci95"] = [_json_value(best[f"{metric}_low"]),
                                        _json_value(best[f"{metric}_high"])]
    if len(members) == 1:
        only = members.iloc[0]
        record["trial_id"] = only["trial_id"]
        record["selected_epoch"] = _json_value(only.get("selected_epoch"))
        record["path"] = only.get("path")
    else:
        record["selected_epochs"] = [_json_value(e) for e in members.get("selected_epoch", [])]
    return record


def write_outputs(layout: StudyLayout, epochs: int, objective: str, space: str | None = None,
                  objectives: Sequence[str] = ()) -> pd.DataFrame:
    """Write ``trials.csv`` and ``best.json`` from what is on disk, with the parameters of
    the search space ``space`` (see :func:`trials_frame`); return the trials. With two or
    more ``objectives`` (a multi-objective search) trials.csv gets ``pareto``, the trials on
    the front over them, and best.json lists them as ``pareto_front``."""
    frame = trials_frame(load_analysis(layout), epochs, objective, space)
    if len(objectives) > 1 and not frame.empty:
        values = frame.reindex(columns=list(objectives)).apply(pd.to_numeric, errors="coerce")
        frame["pareto"] = on_pareto_front(values.to_numpy(float))
    frame.drop(columns=["config_key"], errors="ignore").to_csv(layout.trials_csv, index=False)
    best = best_record(frame, objective)
    if best is not None:
        if "pareto" in frame:
            best["pareto_front"] = list(frame.loc[frame["pareto"], "trial_id"])
        write_json(layout.best_file, best)
    return frame


# --- What the driver prints -----------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{float(value):.3f}" if _finite(value) else "—"


def _cell(value: Any) -> Any:  # a parameter's value in the summary
    return _number(value) if isinstance(value, float) else value


def _learned_cell(flag: Any) -> str:
    return "" if flag is None or pd.isna(flag) or not flag else DID_NOT_LEARN


def summary_table(frame: pd.DataFrame, objective: str | None = None) -> str:
    """The end-of-study table, compact enough for a terminal.

    One row per trial; with repeats, one row per configuration showing each metric's mean
    and 95% interval over its seeds. Column headers name split, level and epoch rule
    ("target video acc (best epoch)", "held-out video acc (selected epoch)"); trials (or
    seeds) that did not learn are marked.
    """
    objective = objective or frame.attrs.get("objective")
    names = parameters.of_frame(frame).names
    if frame.empty:
        return "(no trials)"
    if objective is None or objective not in frame:
        shown = [c for c in ("trial_id", "status", *names, "epochs_done") if c in frame]
        return frame[shown].to_string(index=False)
    metrics = [m for m in headline_metrics(objective) if m in frame]
    if has_repeats(frame):
        return _configuration_summary(frame, objective, metrics)
    table = pd.DataFrame({"trial": frame["trial_id"], "status": frame["status"]})
    for key in names:
        if key in frame and frame[key].notna().any():
            table[key] = frame[key].map(_cell)
    table["epochs"] = frame["epochs_done"]
    if "selected_epoch" in frame:
        table["selected epoch"] = frame["selected_epoch"].map(
            lambda v: "—" if pd.isna(v) else str(int(v)))
    for metric in metrics:
        table[column_label(metric)] = frame[metric].map(_number)
    if "did_not_learn" in frame:
        table["learned?"] = frame["did_not_learn"].map(_learned_cell)
    return table.to_string(index=False)


def _configuration_summary(frame: pd.DataFrame, objective: str, metrics: list[str]) -> str:
    configs = configurations(frame, objective)
    table = pd.DataFrame({"configuration": configs["configuration"]})
    for key in parameters.of_frame(configs).names:
        if key in configs and configs[key].notna().any():
            table[key] = configs[key].map(_cell)
    table["seeds"] = [f"{s}/{t}" for s, t in zip(configs["seeds"], configs["trials"],
                                                  strict=True)]
    for metric in metrics:
        table[column_label(metric) + ", mean [95% CI]"] = [
            format_ci(row[f"{metric}_mean"], row[f"{metric}_low"], row[f"{metric}_high"])
            for _, row in configs.iterrows()]
    table["learned?"] = [f"{DID_NOT_LEARN}: {k}/{t} seeds" if k else ""
                         for k, t in zip(configs["did_not_learn_seeds"], configs["trials"],
                                         strict=True)]
    return table.to_string(index=False)


def learning_line(frame: pd.DataFrame) -> str | None:
    """A warning naming the trials that did not learn (source video accuracy within
    LEARNED_MARGIN of chance), or None when all learned or none said."""
    if frame.empty or "did_not_learn" not in frame:
        return None
    flags = frame["did_not_learn"]
    known = flags.notna()
    failed = frame[known & flags.fillna(False).astype(bool)]
    if failed.empty:
        return None
    chance = pd.to_numeric(frame.get("chance_source_video_acc"), errors="coerce")
    chance_text = (f" of chance {chance.dropna().iloc[0]:.2f}"
                   if chance is not None and chance.notna().any() else " of chance")
    rule = f"source video accuracy within {LEARNED_MARGIN:.2f}{chance_text}"
    if "selected_source_frame_ccc" in frame:
        rule = f"source frame CCC below {VA_LEARNED_CCC:g}; chance is 0"
    searched = parameters.of_frame(frame).searched
    # The baselines space holds the method fixed per configuration: it names the trial too.
    searched = ("method", *searched) if "method" in frame else searched
    names = ", ".join(_trial_name(row, searched) for _, row in failed.iterrows())
    return (f"WARNING: {len(failed)}/{int(known.sum())} trials did not learn ({rule}): "
            f"{names}. Their target and held-out figures say nothing about their settings.")


def _trial_name(row: pd.Series, searched: Sequence[str]) -> str:
    params = ", ".join(f"{key}={_short(row[key])}" for key in searched
                       if key in row and row[key] is not None and not _isnan(row[key]))
    seed = f", seed #{row['repeat']}" if "repeat" in row and row["repeat"] else ""
    return f"trial {row['trial_id']} ({params}{seed})"


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
