"""A study's readable results: ``trials.csv``, ``best.json`` and the summary table."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from ray import tune

from study.layout import StudyLayout, write_json
from study.tensorboard import HPARAMS

LAST_METRICS = ("target_video_acc", "target_frame_acc", "source_video_acc", "source_frame_acc",
                "test_video_acc", "test_frame_acc", "E_tot", "E_a", "E_b",
                "centroid_distance_mean")
SUMMARY_COLUMNS = ("trial_id", "status", *HPARAMS, "epochs_done", "best_target_video_acc",
                   "best_source_video_acc", "target_video_acc", "source_video_acc")


def load_analysis(layout: StudyLayout) -> tune.ExperimentAnalysis:
    """Tune's own view of the experiment on disk (finished, running or interrupted)."""
    return tune.ExperimentAnalysis(layout.tune_path)


def trial_row(trial: Any, epochs: int) -> dict[str, Any]:
    """One trial: id, parameters, state, best-so-far and last metrics."""
    result = trial.last_result or {}
    done = int(result.get("training_iteration", 0))
    row: dict[str, Any] = {"trial_id": trial.trial_id, "status": trial.status}
    row.update({key: trial.config.get(key) for key in HPARAMS})
    row["epochs_done"] = done
    row["stopped_early"] = trial.status == "TERMINATED" and done < epochs
    row["stopped_at_epoch"] = done if row["stopped_early"] else None
    row.update({key: value for key, value in result.items() if key.startswith("best_")})
    row.update({key: result.get(key) for key in LAST_METRICS if key in result})
    row["path"] = trial.path
    return row


def trials_frame(analysis: tune.ExperimentAnalysis, epochs: int, objective: str) -> pd.DataFrame:
    """All trials, best objective first (ties by trial id, so the order is reproducible)."""
    frame = pd.DataFrame([trial_row(trial, epochs) for trial in analysis.trials])
    if "stopped_at_epoch" in frame:
        frame["stopped_at_epoch"] = frame["stopped_at_epoch"].astype("Int64")
    if objective in frame:
        frame = frame.sort_values([objective, "trial_id"], ascending=[False, True],
                                  na_position="last")
    return frame.reset_index(drop=True)


def best_record(frame: pd.DataFrame, objective: str) -> dict[str, Any] | None:
    """The best trial's row as JSON-able values, or None before any result."""
    if objective not in frame or frame[objective].isna().all():
        return None
    row = frame.loc[frame[objective].idxmax()].to_dict()
    return {key: (None if isinstance(value, float) and math.isnan(value) else value)
            for key, value in row.items()}


def write_outputs(layout: StudyLayout, epochs: int, objective: str) -> pd.DataFrame:
    """Write ``trials.csv`` and ``best.json`` from what is on disk; return the table."""
    frame = trials_frame(load_analysis(layout), epochs, objective)
    frame.to_csv(layout.trials_csv, index=False)
    best = best_record(frame, objective)
    if best is not None:
        write_json(layout.best_file, {"objective": objective, **best})
    return frame


def summary_table(frame: pd.DataFrame) -> str:
    """The end-of-study table, compact enough for a terminal."""
    columns = [c for c in SUMMARY_COLUMNS if c in frame]
    return frame[columns].to_string(index=False, float_format=lambda x: f"{x:.3f}")
