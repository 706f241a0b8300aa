"""The numbers of the Methods section: each way of training NetA, at its best configuration,
against E_a alone (``source_only``) and against NetB (issue #13).

Every method is chosen by the same rule, the study's own: its first configuration in
:attr:`~study.report.records.Study.configurations` order, i.e. the highest mean selection
metric over seeds. The held-out accuracy is only ever *read* there (at each seed's selected
epoch), never used to choose: a method's row is not the luckiest of its configurations on
the videos it is compared on. NetB, trained on the target's labels, is the in-domain upper
bound (one run: no interval).

Nothing here draws (:func:`study.report.figures.methods_figure` does) or writes
(:func:`study.report.sections.methods_section` does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from study.report.files import format_lam
from study.report.records import ROLE_NAMES, Configuration, Study, finite
from study.report.search import searched
from study.statistics import format_ci
from trainables.config import ALIGNMENT_WEIGHTS, DEFAULT_METHOD, METHODS

#: Config key of a trial's method; absent means :data:`~trainables.config.DEFAULT_METHOD`.
METHOD_KEY = "method"
#: The space that runs every method with the same number of configurations.
BASELINES_SPACE = "baselines"
#: The reference every method is read against, besides NetB.
SOURCE_ONLY = "source_only"
#: ``method`` of NetB's row in :func:`methods_frame`.
NETB_ROW = "NetB"
#: The centroid method's own parameters (eq. 8-9).
CENTROID_KEYS = ("lam", "normalisation", "tau")
#: Columns of the differences, in :func:`methods_frame`.
DIFFERENCE, GAP = "diff_to_source_only", "gap_to_upper_bound"


def method_of(config: Mapping[str, Any]) -> str:
    """A trial's method: its config's ``method``, or ``centroid`` (the paper's) when absent."""
    value = config.get(METHOD_KEY)
    return DEFAULT_METHOD if value is None or value == "" else str(value)


def method_keys(method: str) -> tuple[str, ...]:
    """The parameters that belong to ``method``: lam, f and tau for the centroid loss, the
    loss weight of an alignment baseline, none for ``source_only``."""
    if method == DEFAULT_METHOD:
        return CENTROID_KEYS
    return (f"{method}_weight",) if method in ALIGNMENT_WEIGHTS else ()


def by_method(study: Study) -> dict[str, list[Configuration]]:
    """Configurations with a result by method (those of :data:`METHODS` first, in its
    order), each list best first (:attr:`Study.configurations` order)."""
    groups: dict[str, list[Configuration]] = {}
    for configuration in study.configurations:
        groups.setdefault(method_of(configuration.config), []).append(configuration)
    order = [*METHODS, *sorted(set(groups) - set(METHODS))]
    return {method: groups[method] for method in order if method in groups}


def best_by_method(study: Study) -> dict[str, Configuration]:
    """Each method's best configuration by the study's selection rule (never held-out)."""
    return {method: best for method, among in by_method(study).items()
            if (best := study.best_configuration(among)) is not None}


def absent_methods(study: Study) -> list[str]:
    """Methods of :data:`METHODS` without a configuration that has a result."""
    present = by_method(study)
    return [method for method in METHODS if method not in present]


def expects_every_method(study: Study) -> bool:
    """Whether the study set out to compare methods (so an absent one is missing): the
    ``baselines`` space, or more than one method among its trials."""
    return (study.settings.space == BASELINES_SPACE
            or len({method_of(trial.config) for trial in study.trials}) > 1)


def _value(name: str, value: Any) -> str:
    if name == "lam":
        return "λ=" + format_lam(value)
    return f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"


def other_keys(study: Study) -> list[str]:
    """Searched parameters that belong to no method (the cell, the window length)."""
    owned = {METHOD_KEY, *CENTROID_KEYS, *(f"{m}_weight" for m in ALIGNMENT_WEIGHTS)}
    return [name for name in searched(study) if name not in owned]


def parameters_text(study: Study, configuration: Configuration) -> str:
    """``λ=0.5, normalisation=softmax`` or ``coral_weight=300``: the method's own parameters,
    then the other searched ones the configuration has; ``—`` when it has none."""
    config = configuration.config
    names = [*method_keys(method_of(config)), *other_keys(study)]
    text = ", ".join(_value(name, config[name]) for name in names if name in config)
    return text or "—"


def netb_accuracy(study: Study) -> float:
    """NetB's accuracy on the evaluation split (held-out; with no held-out split, the target
    videos it was trained on), from its summary; NaN when missing."""
    value = ((study.netb or {}).get("metrics") or {}).get(study.accuracy_key(study.eval_role))
    return float(value) if finite(value) else math.nan


def upper_bound(study: Study) -> float:
    """NetB's held-out accuracy, the in-domain upper bound; NaN without a held-out split
    (NetB's target accuracy is then its training accuracy, no bound for unseen videos)."""
    return math.nan if study.optimistic else netb_accuracy(study)


def accuracy_roles(study: Study) -> list[str]:
    """The evaluation split, then the selection split when it is another one."""
    return list(dict.fromkeys([study.eval_role, study.selection_role]))


def methods_frame(study: Study) -> pd.DataFrame:
    """One row per method with a result (its best configuration), then NetB's (when its
    summary has the number): parameters, how many configurations the method ran, seeds,
    mean and 95% interval over seeds of the evaluation and selection accuracy at the
    selected epoch, the mean evaluation accuracy minus source_only's (``diff_to_source_only``)
    and NetB's minus it (``gap_to_upper_bound``); empty without any result."""
    groups, best = by_method(study), best_by_method(study)
    evaluation = study.accuracy_key(study.eval_role)
    rows: list[dict[str, Any]] = []
    for method, configuration in best.items():
        row: dict[str, Any] = {
            "method": method, "configuration": configuration.configuration,
            "parameters": parameters_text(study, configuration),
            "configurations": len(groups[method]), "seeds": configuration.seeds,
            "trial_ids": ",".join(t.trial_id for t in configuration.trials),
            "status": ",".join(sorted({t.status for t in configuration.trials})),
            "selected_epochs": ",".join(str(t.selected_epoch) for t in configuration.trials)}
        for role in accuracy_roles(study):
            key = study.accuracy_key(role)
            row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = \
                configuration.interval(key)
            row[f"{key}_n"] = sum(math.isfinite(v) for v in configuration.values(key))
        row["did_not_learn_seeds"] = (configuration.did_not_learn_seeds
                                      if configuration.learning_known else None)
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    netb = netb_accuracy(study)
    if math.isfinite(netb):
        rows.append({"method": NETB_ROW, "configuration": None, "parameters": "—",
                     "configurations": 1, "seeds": 1, f"{evaluation}_mean": netb,
                     f"{evaluation}_n": 1})
    frame = pd.DataFrame(rows)
    mean = frame[f"{evaluation}_mean"]
    source_only = frame.loc[frame["method"] == SOURCE_ONLY, f"{evaluation}_mean"]
    frame[DIFFERENCE] = mean - (source_only.iloc[0] if len(source_only) else math.nan)
    frame[GAP] = upper_bound(study) - mean
    frame.loc[frame["method"] == NETB_ROW, GAP] = math.nan
    counts = [c for c in frame.columns if c.endswith("_n") or c == "did_not_learn_seeds"]
    return frame.astype(dict.fromkeys(counts, "Int64"))


def _signed(value: Any) -> str:
    return f"{value:+.3f}" if finite(value) else "—"


def evaluation_column(study: Study) -> str:
    """The printed column of the evaluation accuracy (names split, level and epoch rule)."""
    return study.column(study.eval_role)


def methods_shown(study: Study, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`methods_frame` as printed, and the means that decide the bold cell (the best
    method's; NetB, the bound, is never bold)."""
    netb = frame["method"] == NETB_ROW
    who = ("in-domain upper bound: trained on the target's labels" if not study.optimistic
           else "trained on these very videos: its training accuracy, no bound")
    shown = pd.DataFrame({
        "method": [f"{NETB_ROW} ({who})" if is_netb else method
                   for method, is_netb in zip(frame["method"], netb, strict=True)],
        "configuration": frame["configuration"], "parameters": frame["parameters"],
        "configurations run": ["—" if is_netb else str(int(n))
                               for n, is_netb in zip(frame["configurations"], netb,
                                                     strict=True)],
        "seeds": ["1 run" if is_netb else str(int(n))
                  for n, is_netb in zip(frame["seeds"], netb, strict=True)]})
    top = {}
    for role in accuracy_roles(study):
        key, column = study.accuracy_key(role), study.column(role)
        shown[column] = [format_ci(*(row.get(f"{key}_{p}", math.nan)
                                     for p in ("mean", "low", "high")))
                         for row in frame.to_dict("records")]
        if role == study.eval_role:
            top[column] = frame[f"{key}_mean"].where(~netb)
    where = ROLE_NAMES[study.eval_role]
    shown[f"{where} − source_only (means)"] = frame[DIFFERENCE].map(_signed)
    shown["gap to upper bound (NetB − method)"] = frame[GAP].map(_signed)
    configurations = {c.configuration: c for c in study.configurations}
    shown["learned?"] = [configurations[c].learned_cell() if c in configurations else "—"
                         for c in frame["configuration"]]
    return shown, top
