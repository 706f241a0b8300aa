"""trials.csv rows, best.json, the summary and the scheduler choice, from fake Tune trials.

No Ray runs here: the trials are plain objects with Tune's ``trial_id``, ``status``,
``config``, ``last_result`` and ``path``, their results written out by hand with the keys
the trainable reports, so every expected number below is a literal.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

from study import outputs
from study.layout import StudyLayout
from study.outputs import (
    best_record,
    column_label,
    configurations,
    learning_line,
    summary_table,
    trial_row,
    trials_frame,
)
from study.search import make_scheduler
from study.statistics import mean_ci

OBJECTIVE = "best_target_video_acc"
PARAMS = {"lam": 0.25, "normalisation": "linear", "cell": "gru", "seq_len": 40}
FIXED = {"epochs": 6, "seed": 0, "metric": "target_video_acc", "batch_size": 8}


def fake_trial(trial_id: str, status: str = "TERMINATED", epochs_done: int = 6, *,
               best: float = 0.5, selected_epoch: int = 2, heldout: float = 0.4,
               source: float = 0.8, learned: float | None = 1.0, repeat: int | None = None,
               params: dict[str, Any] | None = None) -> SimpleNamespace:
    """A trial whose last result says: best target video acc ``best`` at epoch
    ``selected_epoch``, held-out ``heldout`` and source ``source`` at that epoch, and
    different (larger) values at the last epoch and as maxima over epochs."""
    result = {"training_iteration": epochs_done, "epoch": epochs_done, "steps": 10 * epochs_done,
              "best_target_video_acc": best, "best_target_frame_acc": best - 0.05,
              "best_source_video_acc": 0.99, "best_source_frame_acc": 0.98,
              "selected_epoch": selected_epoch,
              "selected_target_video_acc": best, "selected_target_frame_acc": best - 0.05,
              "selected_source_video_acc": source, "selected_source_frame_acc": source - 0.1,
              "selected_heldout_video_acc": heldout, "selected_heldout_frame_acc": heldout - 0.1,
              "selected_centroid_distance_mean": 1.5,
              "target_video_acc": best - 0.1, "source_video_acc": 0.99,
              "heldout_video_acc": 0.95, "E_tot": 0.3,
              "chance_source_video_acc": 0.14, "chance_target_video_acc": 0.2}
    if learned is not None:
        result["learned"] = learned
    config = {**FIXED, **(params or PARAMS)}
    if repeat is not None:
        config["__trial_index__"] = repeat
    return SimpleNamespace(trial_id=trial_id, status=status, config=config,
                           last_result=result, path=f"/somewhere/trial_{trial_id}")


def test_trial_stopped_by_the_scheduler_is_marked_with_its_epoch() -> None:
    row = trial_row(fake_trial("a", epochs_done=2), epochs=6)
    assert row["stopped_early"] is True and row["stopped_at_epoch"] == 2
    assert row["lam"] == 0.25 and row["cell"] == "gru" and row["epochs_done"] == 2


def test_finished_and_running_trials_are_not_marked_stopped() -> None:
    for status, done in (("TERMINATED", 6), ("RUNNING", 3), ("ERROR", 1)):
        row = trial_row(fake_trial("b", status, done), epochs=6)
        assert row["stopped_early"] is False and row["stopped_at_epoch"] is None


def test_row_holds_the_selected_epoch_not_the_maxima_over_epochs() -> None:
    row = trial_row(fake_trial("c", best=0.6, selected_epoch=3, heldout=0.45, source=0.7), 6)
    assert row["selected_epoch"] == 3 and row["repeat"] == 0
    # At the selected epoch, not the larger maxima (0.99) or last-epoch values (0.95).
    assert row["selected_heldout_video_acc"] == 0.45
    assert row["selected_source_video_acc"] == 0.7
    assert row["best_target_video_acc"] == 0.6 and row["best_source_video_acc"] == 0.99
    assert row["last_heldout_video_acc"] == 0.95 and row["last_target_video_acc"] == 0.5
    assert "heldout_video_acc" not in row and "best_heldout_video_acc" not in row
    assert row["did_not_learn"] is False and row["chance_source_video_acc"] == 0.14
    assert trial_row(fake_trial("d", learned=0.0), 6)["did_not_learn"] is True
    assert trial_row(fake_trial("e", learned=None), 6)["did_not_learn"] is None


def test_trials_csv_columns_and_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trials = [fake_trial("x", best=0.4), fake_trial("y", best=0.7, learned=0.0),
              fake_trial("z", best=0.6, params={**PARAMS, "lam": 0.9})]
    layout = StudyLayout(tmp_path / "study")
    layout.root.mkdir()
    monkeypatch.setattr(outputs, "load_analysis", lambda _: SimpleNamespace(trials=trials))
    frame = outputs.write_outputs(layout, 6, OBJECTIVE)
    table = pd.read_csv(layout.trials_csv, dtype={"trial_id": str, "configuration": str})
    assert list(table["trial_id"]) == ["y", "z", "x"] == list(frame["trial_id"])
    assert list(table["did_not_learn"]) == [True, False, False]
    assert list(table["repeat"]) == [0, 0, 0] and list(table["selected_epoch"]) == [2, 2, 2]
    for column in ("configuration", "lam", "normalisation", "cell", "seq_len", "status",
                   "selected_heldout_video_acc", "selected_source_video_acc",
                   "best_target_video_acc", "chance_source_video_acc", "last_E_tot"):
        assert column in table, column
    assert "config_key" not in table
    # x and y have the same settings and seed index: the sampler suggested them twice, so
    # they are two configurations, never two seeds of one.
    assert table.set_index("trial_id")["configuration"].to_dict() == {"x": "x", "y": "y",
                                                                    "z": "z"}
    best = json.loads(layout.best_file.read_text())
    assert best["configuration"] == "y" and best["trial_ids"] == ["y"]
    assert best["did_not_learn"] is True and best[OBJECTIVE] == 0.7


def repeated_study() -> pd.DataFrame:
    """Two configurations with three seeds each: B has the single luckiest seed, A the better
    mean; one of B's seeds did not learn."""
    a = {**PARAMS, "lam": 0.1}
    b = {**PARAMS, "lam": 0.8}
    trials = [fake_trial("a0", best=0.60, heldout=0.50, repeat=0, params=a),
              fake_trial("a1", best=0.62, heldout=0.52, repeat=1, params=a),
              fake_trial("a2", best=0.64, heldout=0.57, repeat=2, params=a),
              fake_trial("b0", best=0.90, heldout=0.70, repeat=0, params=b),
              fake_trial("b1", best=0.30, heldout=0.20, repeat=1, params=b, learned=0.0),
              fake_trial("b2", best=0.40, heldout=0.30, repeat=2, params=b)]
    return trials_frame(trials, 6, OBJECTIVE)


def test_repeats_are_grouped_into_configurations_with_intervals() -> None:
    frame = repeated_study()
    assert frame.set_index("trial_id")["repeat"].to_dict() == {
        "a0": 0, "a1": 1, "a2": 2, "b0": 0, "b1": 1, "b2": 2}
    assert set(frame.loc[frame["lam"] == 0.1, "configuration"]) == {"a0"}
    assert set(frame.loc[frame["lam"] == 0.8, "configuration"]) == {"b0"}
    table = configurations(frame)
    assert list(table["configuration"]) == ["a0", "b0"] and list(table["rank"]) == [1, 2]
    first = table.iloc[0]
    assert first["seeds"] == 3 and first["trial_ids"] == "a0,a1,a2"
    assert first[f"{OBJECTIVE}_mean"] == pytest.approx(0.62)
    assert first["selected_heldout_video_acc_mean"] == pytest.approx((0.50 + 0.52 + 0.57) / 3)
    expected = mean_ci([0.50, 0.52, 0.57])
    assert (first["selected_heldout_video_acc_low"],
            first["selected_heldout_video_acc_high"]) == pytest.approx(expected[1:])
    assert table.iloc[1]["did_not_learn_seeds"] == 1 and first["did_not_learn_seeds"] == 0


def test_best_json_names_the_configuration_not_the_luckiest_seed() -> None:
    best = best_record(repeated_study(), OBJECTIVE)
    assert best["configuration"] == "a0" and best["params"]["lam"] == 0.1
    assert best["trial_ids"] == ["a0", "a1", "a2"] and best["repeats"] == [0, 1, 2]
    assert best[OBJECTIVE] == pytest.approx(0.62) and best["seeds"] == 3
    assert best["selected_heldout_video_acc"] == pytest.approx(0.53)
    assert best["selected_source_video_acc"] == pytest.approx(0.8)
    low, high = best["selected_heldout_video_acc_ci95"]
    assert low < 0.53 < high
    assert best["did_not_learn"] is False and "trial_id" not in best
    assert best["config"] == {**FIXED, **PARAMS, "lam": 0.1}  # no seed index in it
    json.dumps(best)  # JSON-able as it is


def test_best_record_of_single_seeds_is_the_highest_objective() -> None:
    frame = trials_frame([fake_trial(t, best=acc, learned=learned, params={**PARAMS, "lam": lam})
                          for t, acc, lam, learned in (("x", 0.4, 0.1, 1.0), ("y", 0.7, 0.2, 0.0),
                                                       ("z", 0.6, 0.3, 1.0))], 6, OBJECTIVE)
    best = best_record(frame, OBJECTIVE)
    assert best["trial_id"] == "y" and best["configuration"] == "y"
    assert best["selected_epoch"] == 2 and best["did_not_learn"] is True
    assert best["selected_heldout_video_acc"] == 0.4 and "selected_heldout_video_acc_ci95" \
        not in best
    assert best_record(frame.drop(columns=OBJECTIVE), OBJECTIVE) is None


def test_summary_headers_name_split_level_and_epoch_rule() -> None:
    frame = trials_frame([fake_trial("x", best=0.4), fake_trial(
        "y", best=0.7, learned=0.0, params={**PARAMS, "lam": 0.5})], 6, OBJECTIVE)
    text = summary_table(frame)
    header = text.splitlines()[0]
    for label in ("target video acc (best epoch)", "held-out video acc (selected epoch)",
                  "source video acc (selected epoch)", "selected epoch"):
        assert label in header, label
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "DID NOT LEARN" in lines["y"] and "DID NOT LEARN" not in lines["x"]
    assert "0.700" in lines["y"] and "0.400" in lines["x"]


def test_summary_with_repeats_has_one_row_per_configuration() -> None:
    text = summary_table(repeated_study())
    lines = text.splitlines()
    assert len(lines) == 3
    assert "held-out video acc (selected epoch), mean [95% CI]" in lines[0]
    low, high = mean_ci([0.50, 0.52, 0.57])[1:]
    assert lines[1].split()[0] == "a0" and f"0.530 [{low:.3f}, {high:.3f}]" in lines[1]
    assert "3/3" in lines[1] and "DID NOT LEARN: 1/3 seeds" in lines[2]


def test_learning_line_names_the_trials_that_did_not_learn() -> None:
    frame = repeated_study()
    line = learning_line(frame)
    assert line.startswith("WARNING: 1/6 trials did not learn (source video accuracy within "
                           "0.10 of chance 0.14): trial b1 (lam=0.8")
    assert "seed #1" in line
    assert learning_line(trials_frame([fake_trial("x")], 6, OBJECTIVE)) is None
    assert learning_line(trials_frame([fake_trial("x", learned=None)], 6, OBJECTIVE)) is None


def test_column_labels() -> None:
    assert column_label("best_target_video_acc") == "target video acc (best epoch)"
    assert column_label("selected_heldout_frame_acc") == "held-out frame acc (selected epoch)"
    assert column_label("last_source_video_acc") == "source video acc (last epoch)"
    assert column_label("E_tot") == "E_tot"


def test_frame_without_results_has_no_best() -> None:
    frame = trials_frame([SimpleNamespace(trial_id="p", status="PENDING", config=dict(FIXED),
                                          last_result={}, path=None)], 6, OBJECTIVE)
    assert best_record(frame, OBJECTIVE) is None
    assert math.isnan(configurations(frame, OBJECTIVE)["seeds"].iloc[0] or math.nan) or \
        configurations(frame, OBJECTIVE)["seeds"].iloc[0] == 0
    assert "p" in summary_table(frame)


def test_asha_is_tunes_own_scheduler() -> None:
    settings = SimpleNamespace(scheduler="asha", epochs=8)
    scheduler = make_scheduler(settings)
    assert isinstance(scheduler, AsyncHyperBandScheduler) and scheduler._max_t == 8
    assert isinstance(make_scheduler(SimpleNamespace(scheduler="fifo", epochs=8)), FIFOScheduler)
