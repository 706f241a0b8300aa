"""Stage 2: the Optuna search of NetA trials on Ray Tune (Tuner, OptunaSearch, restore).

With ``--repeats N`` the searcher is Ray's own :class:`~ray.tune.search.Repeater` around
OptunaSearch: every suggestion runs as N Ray trials whose configs carry ``__trial_index__``
0..N-1 (the trainable derives its seed from it and the study's seed), and Optuna is told
the mean of their objectives once all N have finished. ``num_samples`` is then
``trials * repeats``: ``--trials`` counts configurations.
"""

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
from ray.tune.search import Repeater, Searcher
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from study.cluster import Resources
from study.concurrency import RunConcurrencyLimiter, max_concurrent, set_run_limit
from study.console import StudyReporter
from study.layout import StudyLayout
from study.optuna_storage import ATTACHED, DurableOptunaSearch
from study.settings import StudySettings
from study.storage import UploadCallback
from study.tensorboard import TrialTensorBoardCallback
from study.trainable import DropResumeState, train_neta
from trainables.config import REPEAT_KEY
from trainables.engine import StudyArrays
from trainables.errors import UserInputError


def define_trial(space_name: str, fixed: dict[str, Any], trial: optuna.Trial) -> dict[str, Any]:
    """Define-by-run space: the space's suggestions, plus the study's fixed settings, plus
    None for each parameter the space suggests only on other branches (the baselines' weights:
    every trial's config then has every parameter column, which Ray's trial table needs)."""
    held = search_spaces.load(space_name).define(trial) or {}
    elsewhere = {key: None for key in search_spaces.space_parameters(space_name).searched
                 if key not in trial.params and key not in held}
    # Ray's OptunaSearch lets what this returns override the suggestions: a study default
    # that the space searches (va_grid) must give way to the suggested value.
    defaults = {key: value for key, value in fixed.items() if key not in trial.params}
    return {**defaults, **elsewhere, **held}


def trial_dirname(trial: Any) -> str:
    """Short trial folders (Tune's default name packs every parameter into it)."""
    return f"trial_{trial.trial_id}"


def fixed_config(settings: StudySettings, train_backbone: bool, autocast: bool) -> dict[str, Any]:
    """Settings every trial shares; they land in each trial's config and params.json."""
    fixed = {"epochs": settings.epochs, "seed": settings.seed, "metric": settings.metric,
             "batch_size": settings.batch_size,
             "lr": settings.lr, "paper_init": settings.paper_init, "backbone": settings.backbone,
             "train_backbone": train_backbone, "autocast": autocast}
    if settings.task == "va":  # a space may search va_grid: its value then wins
        fixed.update(va_grid=settings.va_grid, va_rule=settings.va_rule)
    return fixed


def make_scheduler(settings: StudySettings) -> TrialScheduler:
    if settings.scheduler == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=settings.epochs,
                             grace_period=1, reduction_factor=2)
    return FIFOScheduler()


def make_trainable(data: StudyArrays, centroids: np.ndarray,
                   backbone_state: dict[str, torch.Tensor] | None, resources: Resources,
                   function: Callable[..., None] = train_neta, **bound: Any) -> Any:
    """NetA's trainable with the splits and Z in the object store, one GPU (share) a trial.

    ``tune.with_parameters`` puts ``data``, ``centroids`` and ``backbone_state`` into the
    object store once; every trial reads them from there, so they never enter a trial's
    config, ``params.json`` or the experiment state.
    """
    trainable = tune.with_parameters(function, data=data, centroids=centroids,
                                     backbone_state=backbone_state, **bound)
    gpu = resources.gpus_per_trial if resources.gpus > 0 else 0
    return tune.with_resources(trainable, {"cpu": resources.cpus_per_trial, "gpu": gpu})


def trial_table(settings: StudySettings) -> CLIReporter:
    """Ray's trial table, narrowed to the searched parameters and the headline metrics."""
    figure, label = ("frame_ccc", "frame CCC") if settings.task == "va" else ("video_acc",
                                                                             "video acc")
    metrics = {"epoch": "epoch", f"target_{figure}": f"target {label} (this epoch)",
               f"source_{figure}": f"source {label} (this epoch)", "E_tot": "E_tot",
               settings.objective: f"best {settings.metric}",
               f"selected_heldout_{figure}": f"held-out {label} (selected epoch)"}
    parameters = {key: key for key in search_spaces.parameters(settings.space)}
    if settings.repeats > 1:
        parameters[REPEAT_KEY] = "seed #"
    return StudyReporter(parameter_columns=parameters, metric_columns=metrics,
                         sort_by_metric=True,
                         max_report_frequency=30)


def check_search_settings(settings: StudySettings) -> None:
    """Refuse settings the search cannot honour (call before anything is written).

    ASHA stops each seed of a configuration on its own, and Ray's Repeater then averages
    unequal training lengths (Ray's own docs advise against the pair).
    """
    if settings.repeats > 1 and settings.scheduler == "asha":
        raise UserInputError("--repeats with --scheduler asha would average seeds stopped at "
                             "different epochs; use --scheduler fifo with --repeats")
    if settings.multi_objective and settings.scheduler == "asha":
        raise UserInputError("--objectives with --scheduler asha: ASHA prunes on one metric "
                             "and cannot rank trials on several; use --scheduler fifo")
    if settings.multi_objective and settings.repeats > 1:
        raise UserInputError("--objectives with --repeats: Ray's Repeater averages one "
                             "metric over seeds; run several seeds with --confirm-top instead")


def make_searcher(settings: StudySettings, fixed: dict[str, Any]) -> Searcher:
    """OptunaSearch over the space (TPE start-up sized to ``settings.trials``), on every
    objective of ``settings.optuna_metrics``, wrapped in Ray's Repeater when
    ``settings.repeats > 1``."""
    space = search_spaces.load(settings.space)
    # A define-by-run space makes OptunaSearch ignore TuneConfig's metric, so give it here too.
    # The driver attaches the study's durable Optuna storage (study.optuna_storage); without
    # it (a library call) Optuna keeps the trials in memory.
    attached = ATTACHED["study"]
    optuna_search = partial(DurableOptunaSearch, attached) if attached else OptunaSearch
    # With --objectives, OptunaSearch's list metrics: a multi-objective Optuna study whose
    # TPE sampler works in multi-objective mode (Optuna's own MOTPE), the same start-up.
    metrics = settings.optuna_metrics
    searcher: Searcher = optuna_search(
        space=partial(define_trial, settings.space, fixed),
        metric=metrics if settings.multi_objective else metrics[0],
        mode=["max"] * len(metrics) if settings.multi_objective else "max",
        sampler=search_spaces.sampler_for(space, settings.seed, settings.trials))
    if settings.repeats > 1:
        searcher = Repeater(searcher, repeat=settings.repeats, set_index=True)
    return searcher


def num_samples(settings: StudySettings) -> int:
    """Ray trials in the search: every configuration once per seed."""
    return settings.trials * max(1, settings.repeats)


def build_tuner(layout: StudyLayout, settings: StudySettings, trainable: Any,
                resources: Resources, cluster_cpus: float, fixed: dict[str, Any]) -> tune.Tuner:
    """A new Tuner, or the interrupted one restored with Optuna's history and checkpoints.

    Either way trials run with ``trainable``'s resources, as many at once as ``resources``
    allow (:mod:`study.concurrency`), so a resumed study follows its new resource flags.
    """
    limit = set_run_limit(max_concurrent(resources, cluster_cpus))
    if tune.Tuner.can_restore(layout.tune_path):
        print(f"Resuming the search in {layout.display_root} ({limit} trial"
              f"{'s' if limit > 1 else ''} at once)")
        return tune.Tuner.restore(layout.tune_path, trainable, resume_unfinished=True,
                                  resume_errored=True)
    tune_config = tune.TuneConfig(
        metric=settings.objective, mode="max",
        search_alg=RunConcurrencyLimiter(make_searcher(settings, fixed), max_concurrent=limit),
        scheduler=make_scheduler(settings), num_samples=num_samples(settings),
        trial_dirname_creator=trial_dirname)
    run_config = make_run_config(layout, settings, resources, name=layout.name,
                                 storage_path=layout.tune_storage,
                                 tensorboard_dir=layout.tensorboard_dir)
    return tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)


def make_run_config(layout: StudyLayout, settings: StudySettings, resources: Resources, *,
                    name: str, storage_path: str, tensorboard_dir: Any) -> tune.RunConfig:
    """Logging, checkpoints and retries of an experiment of this study (the search, or the
    confirmation runs of :mod:`study.confirm`)."""
    reporter = trial_table(settings)
    reporter.results = layout.display_root + ("" if name == layout.name else f"/{name}")
    return tune.RunConfig(
        name=name, storage_path=storage_path, verbose=1, progress_reporter=reporter,
        callbacks=[CSVLoggerCallback(), JsonLoggerCallback(),
                   TrialTensorBoardCallback(tensorboard_dir,
                                            search_spaces.parameters(settings.space)),
                   DropResumeState(),
                   *([UploadCallback(partial(layout.push, "tensorboard"))]
                     if layout.remote else [])],
        # Tune keeps the latest checkpoint only: it resumes a running trial, and it holds the
        # selected epoch's weights, which the report re-evaluates (trainables.checkpoint).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=resources.max_failures))
