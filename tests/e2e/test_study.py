"""The study end to end on tiny data: outputs, TensorBoard content, object-store sharing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
from ray import tune
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

import search_spaces
from study.cluster import Resources
from study.search import make_trainable
from tests.study_helpers import run_cli, study_args, trial_results
from trainables.config import LEARNED_MARGIN

TRIALS, EPOCHS = 2, 2
#: Everything a trial's config may hold: the searched parameters and the fixed settings.
CONFIG_KEYS = {*search_spaces.parameters("paper"), "epochs", "seed", "metric", "batch_size",
               "lr", "paper_init", "backbone", "train_backbone", "autocast"}


@pytest.fixture(scope="module")
def study(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    storage = tmp_path_factory.mktemp("results")
    result = run_cli(study_args(tiny_data, storage, "tiny", trials=TRIALS, epochs=EPOCHS,
                                extra=("--test-split", "Test")))
    assert result.returncode == 0, result.stderr[-3000:]
    # The whole console: Ray forwards the trials' log lines to stderr.
    return storage / "tiny", result.stdout + result.stderr


def test_study_writes_its_results(study: tuple[Path, str]) -> None:
    folder, stdout = study
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == TRIALS and set(trials["status"]) == {"TERMINATED"}
    assert (trials["epochs_done"] == EPOCHS).all() and not trials["stopped_early"].any()
    reported = trial_results(folder)
    for _, trial in trials.iterrows():
        rows = reported[trial["trial_id"]]
        # The selected epoch is the first with the best target video accuracy; every
        # "selected_" figure is read at it, from what the trial reported that epoch.
        targets = [row["target_video_acc"] for row in rows]
        chosen = rows[int(np.argmax(targets))]
        assert trial["selected_epoch"] == chosen["epoch"]
        for name in ("heldout_video_acc", "source_video_acc", "heldout_frame_acc"):
            assert trial[f"selected_{name}"] == pytest.approx(chosen[name]), name
        chance = rows[-1]["chance_source_video_acc"]
        best_source = max(row["source_video_acc"] for row in rows)
        assert trial["did_not_learn"] == (best_source < chance + LEARNED_MARGIN)
    best = json.loads((folder / "best.json").read_text())
    assert best["best_target_video_acc"] == trials["best_target_video_acc"].max()
    assert best["configuration"] in set(trials["configuration"])
    assert f"{TRIALS}/{TRIALS} trials finished" in stdout and "best_target_video_acc" in stdout
    assert "tensorboard --logdir" in stdout and "python -m study.report --name tiny" in stdout
    # A quiet console: no line per checkpoint from Ray, and the status block names the
    # study folder, not Ray's staging folder.
    assert "Checkpoint successfully created" not in stdout and "driver_artifacts" not in stdout
    assert f"Results: {folder}\n" in stdout
    # A finished trial keeps one checkpoint: the selected epoch's weights and its numbers.
    for _, trial in trials.iterrows():
        (kept,) = (folder / f"trial_{trial['trial_id']}").glob("checkpoint_*")
        assert sorted(path.name for path in kept.iterdir()) == ["best.pt", "state.pt"]


def test_netb_is_saved_with_its_centroids(study: tuple[Path, str]) -> None:
    folder, _ = study
    summary = json.loads((folder / "netb" / "summary.json").read_text())
    centroids = json.loads((folder / "netb" / "centroids.json").read_text())
    metrics, chance = summary["metrics"], summary["chance"]
    assert summary["learned"] == (metrics["target_video_acc"] >= chance["target_video_acc"]
                                  + LEARNED_MARGIN)
    assert chance["target_video_acc"] == pytest.approx(1 / 7)  # one video per class
    assert summary["epochs_run"] == len(summary["history"]) == 1  # --netb-epochs 1
    assert {"target_video_acc", "heldout_video_acc"} <= set(summary["probe"])
    assert np.asarray(centroids["centroids"]).shape == (7, 128)
    assert (folder / "netb" / "netb.pt").stat().st_size > 1_000_000


def test_every_epoch_reports_what_the_issue_lists(study: tuple[Path, str]) -> None:
    folder, _ = study
    for result_file in folder.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines()]
        assert [row["epoch"] for row in rows] == list(range(1, EPOCHS + 1))
        for key in ("E_tot", "E_a", "E_b", "centroid_distance_mean", "best_target_video_acc",
                    "class_acc/target_video/Happy", "class_acc/source_frame/Anger",
                    "class_acc/heldout_video/Sad", "selected_heldout_video_acc", "steps"):
            assert all(key in row for row in rows), key
        for role in ("source", "target", "heldout"):
            for level in ("frame", "video"):
                assert all(f"{role}_{level}_acc" in row for row in rows)
        assert not any(key.startswith("best_heldout") for row in rows for key in row), \
            "no maximum over held-out epochs"
        best = [row["best_target_video_acc"] for row in rows]
        assert best == list(np.maximum.accumulate([row["target_video_acc"] for row in rows]))


def test_centroids_never_enter_trial_configs(study: tuple[Path, str]) -> None:
    folder, _ = study
    for params in folder.glob("trial_*/params.json"):
        assert set(json.loads(params.read_text())) == CONFIG_KEYS
    assert "centroids" not in (folder / "tuner.pkl").read_bytes().decode("latin-1")


def _tags(run: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_has_scalars_and_hparams_for_every_trial(study: tuple[Path, str]) -> None:
    folder, _ = study
    logdir = folder / "tensorboard"
    netb = _tags(logdir / "netb")
    assert [event.step for event in netb.Scalars("netb/E_a")] == [1]
    trial_ids = {path.name for path in folder.glob("trial_*")}
    assert {path.name for path in logdir.glob("trial_*")} == trial_ids
    for trial_id in trial_ids:
        run = _tags(logdir / trial_id)
        steps = [event.step for event in run.Scalars("target_video_acc")]
        assert steps == list(range(1, EPOCHS + 1))
        assert {"E_b", "centroid_distance_mean", "class_acc/target_video/Sad"} <= set(
            run.Tags()["scalars"])
        content = run.PluginTagToContent("hparams")
        start = HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        params = json.loads((folder / trial_id / "params.json").read_text())
        hparams = start.session_start_info.hparams
        assert hparams["lam"].number_value == pytest.approx(params["lam"])
        assert hparams["cell"].string_value == params["cell"]
        assert hparams["normalisation"].string_value == params["normalisation"]
        experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        assert {info.name.tag for info in experiment.metric_infos} >= {
            "best_target_video_acc", "selected_heldout_video_acc", "selected_source_video_acc"}


def test_existing_name_is_refused_and_left_unchanged(study: tuple[Path, str],
                                                     tiny_data: Path) -> None:
    folder, _ = study
    before = {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}
    result = run_cli(study_args(tiny_data, folder.parent, "tiny"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--resume" in result.stderr
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*")
            if path.is_file()} == before


def _read_centroids(config: dict, *, data: object, centroids: np.ndarray,
                    backbone_state: object) -> None:
    """A stand-in trainable that reports what it received."""
    tune.report({"z_sum": float(centroids.sum()), "zero_copy": not centroids.flags.writeable,
                 "config_size": len(json.dumps(config))})


def test_centroids_reach_trials_through_the_object_store(tmp_path: Path) -> None:
    centroids = np.random.default_rng(0).normal(size=(7, 128)).astype(np.float32)
    resources = Resources(gpus=0, gpus_per_trial=1, cpus_per_trial=1)
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        trainable = make_trainable(None, centroids, None, resources, function=_read_centroids)
        tuner = tune.Tuner(trainable, param_space={"lam": tune.grid_search([0.0, 1.0])},
                           run_config=tune.RunConfig(storage_path=str(tmp_path), name="probe",
                                                     verbose=0))
        results = tuner.fit()
    finally:
        ray.shutdown()
    assert len(results) == 2 and not results.errors
    for result in results:
        # Read-only numpy memory is how a zero-copy read from Ray's object store looks.
        assert result.metrics["zero_copy"] is True
        assert result.metrics["z_sum"] == pytest.approx(float(centroids.sum()), rel=1e-5)
        assert result.metrics["config_size"] < 50
