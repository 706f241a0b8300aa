"""Stage 2: the Optuna search of NetA trials on Ray Tune (Tuner, OptunaSearch, restore)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import optuna
import torch
from ray import tune
from ray.tune import CLIReporter
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from study.layout import StudyLayout
from study.settings import StudySettings
from study.stages import Resources
from study.storage import UploadCallback
from study.tensorboard import HPARAMS, TrialTensorBoardCallback
from trainables.engine import StudyArrays
from trainables.trainable import train_neta


def define_trial(space_name: str, fixed: dict[str, Any], trial: optuna.Trial) -> dict[str, Any]:
    """Define-by-run space: the space's suggestions, plus the study's fixed settings."""
    held = search_spaces.load(space_name).define(trial) or {}
    return {**fixed, **held}


def trial_dirname(trial: Any) -> str:
    """Short trial folders (Tune's default name packs every parameter into it)."""
    return f"trial_{trial.trial_id}"


def fixed_config(settings: StudySettings, train_backbone: bool, autocast: bool) -> dict[str, Any]:
    """Settings every trial shares; they land in each trial's config and params.json."""
    return {"epochs": settings.epochs, "seed": settings.seed, "batch_size": settings.batch_size,
            "lr": settings.lr, "paper_init": settings.paper_init, "backbone": settings.backbone,
            "train_backbone": train_backbone, "autocast": autocast}


def make_scheduler(settings: StudySettings) -> TrialScheduler:
    if settings.scheduler == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=settings.epochs,
                             grace_period=1, reduction_factor=2)
    return FIFOScheduler()


def make_trainable(data: StudyArrays, centroids: np.ndarray,
                   backbone_state: dict[str, torch.Tensor] | None, resources: Resources,
                   function: Callable[..., None] = train_neta) -> Any:
    """NetA's trainable with the splits and Z in the object store, one GPU (share) a trial.

    ``tune.with_parameters`` puts ``data``, ``centroids`` and ``backbone_state`` into the
    object store once; every trial reads them from there, so they never enter a trial's
    config, ``params.json`` or the experiment state.
    """
    bound = tune.with_parameters(function, data=data, centroids=centroids,
                                 backbone_state=backbone_state)
    gpu = resources.gpus_per_trial if resources.gpus > 0 else 0
    return tune.with_resources(bound, {"cpu": resources.cpus_per_trial, "gpu": gpu})


def max_concurrent(resources: Resources, cluster_cpus: float) -> int:
    """Trials at once: --gpus / --gpus-per-trial, or CPUs / --cpus-per-trial without GPUs."""
    if resources.gpus > 0:
        return max(1, int(resources.gpus / resources.gpus_per_trial + 1e-9))
    return max(1, int(cluster_cpus / resources.cpus_per_trial + 1e-9))


def trial_table(settings: StudySettings) -> CLIReporter:
    """Ray's trial table, narrowed to the searched parameters and the headline metrics."""
    metrics = {"epoch": "epoch", "target_video_acc": "target acc",
               "source_video_acc": "source acc", "E_tot": "E_tot",
               settings.objective: f"best {settings.metric}"}
    return CLIReporter(parameter_columns=list(HPARAMS), metric_columns=metrics,
                       sort_by_metric=True,
                       max_report_frequency=30)


def build_tuner(layout: StudyLayout, settings: StudySettings, trainable: Any,
                resources: Resources, cluster_cpus: float, fixed: dict[str, Any]) -> tune.Tuner:
    """A new Tuner, or the interrupted one restored with Optuna's history and checkpoints."""
    if tune.Tuner.can_restore(layout.tune_path):
        print(f"Resuming the search in {layout.display_root}")
        return tune.Tuner.restore(layout.tune_path, trainable, resume_unfinished=True,
                                  resume_errored=True)
    space = search_spaces.load(settings.space)
    # A define-by-run space makes OptunaSearch ignore TuneConfig's metric, so give it here too.
    searcher = OptunaSearch(space=partial(define_trial, settings.space, fixed),
                            metric=settings.objective, mode="max",
                            sampler=search_spaces.sampler_for(space, settings.seed))
    tune_config = tune.TuneConfig(
        metric=settings.objective, mode="max", search_alg=searcher,
        scheduler=make_scheduler(settings), num_samples=settings.trials,
        max_concurrent_trials=max_concurrent(resources, cluster_cpus),
        trial_dirname_creator=trial_dirname)
    run_config = tune.RunConfig(
        name=layout.name, storage_path=layout.tune_storage, verbose=1,
        progress_reporter=trial_table(settings),
        callbacks=[CSVLoggerCallback(), JsonLoggerCallback(),
                   TrialTensorBoardCallback(layout.tensorboard_dir),
                   *([UploadCallback(partial(layout.push, "tensorboard"))]
                     if layout.remote else [])],
        # Keep the best epoch (for the report's confusion matrix); Tune also keeps the latest.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=1, checkpoint_score_attribute=settings.metric,
            checkpoint_score_order="max"),
        failure_config=tune.FailureConfig(max_failures=resources.max_failures))
    return tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)
