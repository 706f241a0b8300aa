"""trials.csv rows, best.json and the scheduler choice, from fake Tune trials."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

from study.outputs import best_record, trial_row
from study.search import make_scheduler

PARAMS = {"lam": 0.25, "normalisation": "linear", "cell": "gru", "seq_len": 40, "epochs": 6}


def fake_trial(trial_id: str, status: str, epochs_done: int, best: float) -> SimpleNamespace:
    result = {"training_iteration": epochs_done, "epoch": epochs_done,
              "best_target_video_acc": best, "target_video_acc": best - 0.1, "E_tot": 0.3}
    return SimpleNamespace(trial_id=trial_id, status=status, config=PARAMS,
                           last_result=result, path=f"/somewhere/trial_{trial_id}")


def test_trial_stopped_by_the_scheduler_is_marked_with_its_epoch() -> None:
    row = trial_row(fake_trial("a", "TERMINATED", 2, 0.5), epochs=6)
    assert row["stopped_early"] is True and row["stopped_at_epoch"] == 2
    assert row["lam"] == 0.25 and row["cell"] == "gru" and row["epochs_done"] == 2


def test_finished_and_running_trials_are_not_marked_stopped() -> None:
    for status, done in (("TERMINATED", 6), ("RUNNING", 3), ("ERROR", 1)):
        row = trial_row(fake_trial("b", status, done, 0.5), epochs=6)
        assert row["stopped_early"] is False and row["stopped_at_epoch"] is None


def test_best_record_is_the_highest_objective() -> None:
    frame = pd.DataFrame([trial_row(fake_trial(t, "TERMINATED", 6, acc), 6)
                          for t, acc in (("x", 0.4), ("y", 0.7), ("z", 0.6))])
    assert best_record(frame, "best_target_video_acc")["trial_id"] == "y"
    assert best_record(frame.drop(columns="best_target_video_acc"),
                       "best_target_video_acc") is None


def test_asha_is_tunes_own_scheduler() -> None:
    settings = SimpleNamespace(scheduler="asha", epochs=8)
    scheduler = make_scheduler(settings)
    assert isinstance(scheduler, AsyncHyperBandScheduler) and scheduler._max_t == 8
    assert isinstance(make_scheduler(SimpleNamespace(scheduler="fifo", epochs=8)), FIFOScheduler)
