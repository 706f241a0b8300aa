"""What a study holds, as the report reads it: its trials, configurations and settings.

Each trial is read at its *selected epoch*: the first epoch that reached its best selection
metric (see :func:`study.report.loading.selected_epoch`). With ``--repeats N`` the unit is
the *configuration* (one suggestion of the sampler, run with N seeds).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from study.layout import StudyLayout, read_json
from study.outputs import REPEAT_KEY
from study.report.files import format_lam
from study.settings import StudySettings
from study.statistics import mean_ci
from trainables.config import (
    DEFAULT_METHOD,
    HELDOUT,
    LEARNED_MARGIN,
    SOURCE,
    TARGET,
    VA_LEARNED_CCC,
)

OPTIMISTIC = "selected on the evaluation split (optimistic)"
ROLE_NAMES = {SOURCE: "source", TARGET: "target", HELDOUT: "held-out"}


def finite(value: Any) -> bool:
    """A real number that is neither NaN nor infinite (not a bool)."""
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def or_default(value: float, default: float) -> float:
    return value if math.isfinite(value) else default


def bounds_of(key: str) -> tuple[float, float] | None:
    """The values a figure can take, which clip its interval: [0, 1] for an accuracy,
    [-1, 1] for a correlation (CCC, Pearson), [0, inf) for an RMSE; None otherwise."""
    if key.endswith("_acc") or key.startswith("class_acc/"):
        return 0.0, 1.0
    if "_ccc" in key or "_pcc_" in key:
        return -1.0, 1.0
    if "_rmse_" in key:
        return 0.0, math.inf
    return None


@dataclass
class TrialRecord:
    """One NetA trial as found on disk.

    ``selected`` holds its numbers at the selected epoch under their plain names
    (``target_video_acc``, ``class_acc/heldout_video/Anger``, ``centroid_distance/Sad``,
    ``epoch``); ``last`` is its last result (``best_*``, ``learned``, chance levels).
    ``checkpoint`` is the kept checkpoint folder that holds the selected epoch's weights
    (``checkpoint_epoch``, the selected epoch), or None.
    """

    trial_id: str
    status: str
    path: Path
    config: dict[str, Any]
    selected: dict[str, Any] | None = None
    last: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    checkpoint_epoch: int | None = None
    epochs_done: int = 0
    configuration: str = ""

    @property
    def lam(self) -> float:
        """lam of eq. (9): the centroid method's, 1 for ``source_only`` (E_a alone), NaN for
        an alignment baseline (no lam: it is on no lam axis of the paper's tables)."""
        method = self.config.get("method") or DEFAULT_METHOD
        if method == "source_only":
            return 1.0
        value = self.config.get("lam") if method == DEFAULT_METHOD else None
        return float(value) if finite(value) else math.nan

    @property
    def repeat(self) -> int:
        return int(self.config.get(REPEAT_KEY, 0))

    @property
    def label(self) -> str:
        seed = f", seed #{self.repeat}" if self.repeat else ""
        return f"λ={format_lam(self.lam)} (trial {self.trial_id}{seed})"

    def reported(self, key: str) -> float:
        """``key`` at the selected epoch, else as last reported (a figure the trainable
        reports but does not keep per selected epoch, e.g. ``centroid_cells``)."""
        value = self.value(key)
        if math.isfinite(value):
            return value
        last = self.last.get(key)
        return float(last) if finite(last) else math.nan

    @property
    def selected_epoch(self) -> int | None:
        epoch = (self.selected or {}).get("epoch")
        return int(epoch) if finite(epoch) else None

    @property
    def did_not_learn(self) -> bool | None:
        learned = self.last.get("learned")
        return None if not finite(learned) else not bool(learned)

    def value(self, key: str) -> float:
        value = (self.selected or {}).get(key)
        return float(value) if finite(value) else math.nan


@dataclass
class Configuration:
    """One suggestion of the sampler and its seeds' trials (one trial without repeats)."""

    configuration: str
    trials: list[TrialRecord]

    @property
    def first(self) -> TrialRecord:
        return self.trials[0]

    @property
    def config(self) -> dict[str, Any]:
        return self.first.config

    @property
    def lam(self) -> float:
        return self.first.lam

    @property
    def seeds(self) -> int:
        return len(self.trials)

    @property
    def label(self) -> str:
        if self.seeds == 1:
            return self.first.label
        return (f"λ={format_lam(self.lam)} (configuration {self.configuration}, "
                f"{self.seeds} seeds)")

    def values(self, key: str) -> list[float]:
        return [trial.value(key) for trial in self.trials]

    def mean(self, key: str) -> float:
        values = [v for v in self.values(key) if math.isfinite(v)]
        return float(np.mean(values)) if values else math.nan

    def interval(self, key: str) -> tuple[float, float, float]:
        """Mean and 95% interval over seeds, clipped to the values ``key`` can take."""
        return mean_ci(self.values(key), bounds=bounds_of(key))

    @property
    def did_not_learn_seeds(self) -> int:
        return sum(trial.did_not_learn is True for trial in self.trials)

    @property
    def learning_known(self) -> bool:
        return any(trial.did_not_learn is not None for trial in self.trials)

    def learned_cell(self) -> str:
        if not self.learning_known:
            return "—"
        if not self.did_not_learn_seeds:
            return "yes"
        if self.seeds == 1:
            return "**did not learn**"
        return f"**did not learn ({self.did_not_learn_seeds}/{self.seeds} seeds)**"


@dataclass
class Study:
    """A study's settings and trials, and what the report needs to say is missing."""

    layout: StudyLayout
    settings: StudySettings
    stored: dict[str, Any]
    trials: list[TrialRecord]
    missing: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.settings.metric

    @property
    def is_va(self) -> bool:
        """A valence-arousal study (``--task va``, issue #14), not emotion classes."""
        return self.settings.task == "va"

    @property
    def measure(self) -> str:
        """What every table's headline figure is: ``acc`` (accuracy), or ``CCC`` (Lin's
        concordance, the mean of valence's and arousal's) in a valence-arousal study."""
        return "CCC" if self.is_va else "acc"

    @property
    def measure_name(self) -> str:
        """:attr:`measure` in words: ``accuracy`` or ``CCC``."""
        return "CCC" if self.is_va else "accuracy"

    @property
    def learning_rule(self) -> str:
        """When a trial did not learn, as the trainable decides it."""
        if self.is_va:
            return f"best source frame CCC below {VA_LEARNED_CCC:g}"
        return f"source video accuracy within {LEARNED_MARGIN:g} of chance"

    @property
    def level(self) -> str:
        """``video`` or ``frame``: the level of the metric that selects trials."""
        return self.settings.metric.split("_")[1]

    @property
    def selection_role(self) -> str:
        """The split whose accuracy selects: ``target`` (or ``source``)."""
        return self.settings.metric.split("_")[0]

    def accuracy_key(self, role: str) -> str:
        """The key of ``role``'s headline figure at the study's level: its accuracy
        (``target_video_acc``), or in a valence-arousal study its mean CCC
        (``target_frame_ccc``; the cell accuracy is ``target_frame_acc``)."""
        suffix = "ccc" if self.is_va else "acc"
        return f"{role}_{self.level}_{suffix}"

    @property
    def has_heldout(self) -> bool:
        key = self.accuracy_key(HELDOUT)
        return any(finite((t.selected or {}).get(key)) for t in self.trials)

    @property
    def optimistic(self) -> bool:
        """Selection and evaluation on the same videos: no held-out split."""
        return not self.has_heldout or (self.settings.target_holdout == 0
                                        and not self.settings.test_split)

    @property
    def eval_role(self) -> str:
        """The split the paper's evaluation tables are measured on: held-out, if any."""
        return TARGET if self.optimistic else HELDOUT

    @property
    def roles(self) -> list[str]:
        """The splits every table shows: target (selection), held-out (if any), source."""
        return [TARGET, *([HELDOUT] if self.has_heldout else []), SOURCE]

    def split_name(self, role: str) -> str:
        """The data split behind a role, as the user named it."""
        settings = self.settings
        if role == SOURCE:
            return settings.source_split
        if role == HELDOUT:
            return settings.test_split or (f"{settings.target_split}, "
                                           f"{settings.target_holdout:.0%} held out")
        if self.has_heldout and not settings.test_split and settings.target_holdout > 0:
            return f"{settings.target_split}, the other {1 - settings.target_holdout:.0%}"
        return settings.target_split

    def rule(self, role: str) -> str:
        """The epoch rule of ``role``'s accuracy: the selection split's value at the selected
        epoch is its best; every other split's is taken at the selected epoch."""
        return "best epoch" if role == self.selection_role else "selected epoch"

    def describe(self, role: str) -> str:
        """``held-out video acc (selected epoch)`` (+ the optimistic note where it applies)."""
        text = f"{ROLE_NAMES[role]} {self.level} {self.measure} ({self.rule(role)})"
        if role == TARGET and self.optimistic:
            text += f", {OPTIMISTIC}"
        return text

    def split_phrase(self, role: str) -> str:
        note = f", {OPTIMISTIC}" if role == TARGET and self.optimistic else ""
        return f"{ROLE_NAMES[role]} ({self.split_name(role)}){note}"

    def column(self, role: str) -> str:
        """A table column of ``role``'s accuracy (CCC): split, level and epoch rule."""
        suffix = ", mean [95% CI] over seeds" if self.repeated else ""
        return (f"{self.split_phrase(role)}: {self.level} {self.measure} ({self.rule(role)})"
                f"{suffix}")

    @property
    def scored(self) -> list[TrialRecord]:
        """Trials with a selected epoch, in order of lam."""
        return sorted((t for t in self.trials if t.selected is not None),
                      key=lambda t: (t.lam, t.trial_id))

    @functools.cached_property
    def configurations(self) -> list[Configuration]:
        """Configurations with a result, best mean selection metric first (ties: better mean
        source accuracy, then lower lam); ids as in trials.csv."""
        groups: dict[str, list[TrialRecord]] = {}
        for trial in self.scored:
            groups.setdefault(trial.configuration or trial.trial_id, []).append(trial)
        found = [Configuration(name, sorted(trials, key=lambda t: (t.repeat, t.trial_id)))
                 for name, trials in groups.items()]
        source = self.accuracy_key(SOURCE)
        return sorted(found, key=lambda c: (-or_default(c.mean(self.metric), -1.0),
                                            -or_default(c.mean(source), -1.0),
                                            or_default(c.lam, 2.0), c.configuration))

    @property
    def repeated(self) -> bool:
        return any(c.seeds > 1 for c in self.configurations)

    def best_configuration(self, among: Iterable[Configuration] | None = None
                           ) -> Configuration | None:
        """The first of ``among`` (default: all) in :attr:`configurations` order."""
        chosen = {id(c) for c in (self.configurations if among is None else among)}
        return next((c for c in self.configurations if id(c) in chosen), None)

    def best_trial(self) -> TrialRecord | None:
        """The best configuration's first seed (for figures of one network)."""
        best = self.best_configuration()
        return best.first if best else None

    @functools.cached_property
    def netb(self) -> dict[str, Any] | None:
        if not self.layout.netb_summary.exists():
            return None
        return read_json(self.layout.netb_summary)
