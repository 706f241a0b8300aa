"""The paper's comparison, lam = 0 against lam = 1, as numbers.

Which two configurations stand for the two ends (Tables III/IV, VII and the t-SNE), and the
paired test of their video accuracy on the evaluation split (Table II with ``--space
table2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from study.report.evaluator import Evaluator
from study.report.files import format_lam
from study.report.records import ROLE_NAMES, Configuration, Study, TrialRecord
from study.statistics import paired_difference
from trainables.metrics import video_scores

#: lam within this of 0 (of 1) counts as "lam near 0" ("near 1") for Tables III/IV and VII;
#: on the table2 grid that is exactly lam = 0 and lam = 1, the paper's comparison.
NEAR_LAM = 0.1


@dataclass
class Comparison:
    """The two configurations the paper compares (lam = 0 against lam = 1), or the closest."""

    low: Configuration | None
    high: Configuration | None
    note: str

    @property
    def configurations(self) -> list[Configuration]:
        return [c for c in (self.low, self.high) if c is not None]

    @property
    def trials(self) -> list[TrialRecord]:
        """One network per side: each configuration's first seed."""
        return [c.first for c in self.configurations]


def comparison(study: Study) -> Comparison:
    """Best configuration with lam near 0 against best with lam near 1; else the best
    against the lam = 1 baseline (a lam-near-1 configuration, or the paper's lam = 1 row)."""
    low = study.best_configuration(c for c in study.configurations if c.lam <= NEAR_LAM)
    high = study.best_configuration(c for c in study.configurations if c.lam >= 1 - NEAR_LAM)
    near_0, near_1 = format_lam(NEAR_LAM), format_lam(1 - NEAR_LAM)
    if low is not None and high is not None:
        return Comparison(low, high, f"Best configuration with λ ≤ {near_0} against the "
                                     f"best with λ ≥ {near_1}, as the paper compares "
                                     f"λ = 0 and 1.")
    best = study.best_configuration()
    if high is not None and high is not best:
        return Comparison(best, high, f"No configuration with λ ≤ {near_0}: the best "
                                      f"against the λ = 1 baseline (best with λ ≥ "
                                      f"{near_1}).")
    remedy = ("the grid's λ = 0 and λ = 1 trials have not both reported yet"
              if study.settings.space == "table2" else "`--space table2` runs both")
    return Comparison(best, None, f"No pair of configurations with λ ≤ {near_0} and λ ≥ "
                                  f"{near_1} ({remedy}): the best configuration "
                                  f"against the paper's published λ = 1 baseline.")


def per_video_correct(evaluator: Evaluator, trial: TrialRecord, role: str) -> np.ndarray:
    """1.0 where the trial's checkpoint classifies a video of ``role`` right, else 0.0."""
    arrays = evaluator.arrays(role)
    scores = video_scores(evaluator.evaluate(trial, role).scores, arrays.video_offsets)
    return (scores.argmax(axis=1) == arrays.video_labels).astype(float)


def paired_comparison(study: Study, evaluator: Evaluator) -> dict[str, Any] | str:
    """lam = 0 against lam = 1 on the evaluation split's video accuracy, paired.

    Paired per video (correctness from re-evaluating every seed's checkpoint of the
    selected epoch, averaged over seeds) when those checkpoints and the data are at hand;
    else paired per seed index (each seed's reported accuracy at its selected epoch).
    Returns the :func:`study.statistics.paired_difference` result with ``unit`` and
    ``seeds``, or a sentence saying why there is none.
    """
    role = study.eval_role
    low = study.best_configuration(c for c in study.configurations if c.lam == 0.0)
    high = study.best_configuration(c for c in study.configurations if c.lam == 1.0)
    if low is None or high is None:
        return "the λ = 0 and λ = 1 configurations have not both reported yet"
    trials = [*low.trials, *high.trials]
    exact = all(t.checkpoint is not None and t.checkpoint_epoch == t.selected_epoch
                for t in trials)
    if exact and evaluator.problem is None and evaluator.has(role):
        first = np.mean([per_video_correct(evaluator, t, role) for t in low.trials], axis=0)
        second = np.mean([per_video_correct(evaluator, t, role) for t in high.trials], axis=0)
        result = paired_difference(first, second, seed=study.settings.seed)
        unit = (f"{result['n']} {ROLE_NAMES[role]} videos (each video's correctness "
                f"averaged over {low.seeds} and {high.seeds} seeds, from their checkpoints "
                f"of the selected epoch)")
    else:
        key = f"{role}_video_acc"
        by_seed = {t.repeat: t.value(key) for t in low.trials}
        pairs = [(by_seed[t.repeat], t.value(key)) for t in high.trials if t.repeat in by_seed]
        if len(pairs) < 2:
            return ("the checkpoints of the selected epochs cannot be re-evaluated and fewer "
                    "than 2 seeds pair up (run `--space table2 --repeats 3` or more)")
        result = paired_difference([a for a, _ in pairs], [b for _, b in pairs],
                                   seed=study.settings.seed)
        unit = (f"{result['n']} seeds (paired by seed index; per-video pairing needs every "
                f"seed's checkpoint of its selected epoch and the study's data)")
    return {**result, "unit": unit, "role": role, "low_configuration": low.configuration,
            "high_configuration": high.configuration}
