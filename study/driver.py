"""The study pipeline: cheap checks, data, frozen-CNN features, NetB, the NetA search, then
the outputs.

Everything the user can get wrong is checked before anything is written, and everything
that costs nothing (names, storage, settings, weights, the cluster's resources, split
names) before any data work, so bad input never leaves a half-made or changed study folder
behind and never waits for a data set to be generated first.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import optuna
import ray

if TYPE_CHECKING:
    import pandas as pd

from search_spaces import describe_search
from study.cluster import netb_threads, plan_resources, start_ray, warn_if_storage_not_shared
from study.confirm import confirmation_summary, run_confirmation
from study.data_roles import check_splits, check_unchanged, protocol
from study.inputs import Backbone, StudyInputs
from study.layout import StudyLayout, read_json, write_json
from study.opening import open_study
from study.optuna_storage import attach, plan_optuna_storage
from study.outputs import learning_line, summary_table, write_outputs
from study.provenance import code_version
from study.rounds import run_rounds
from study.search import (
    build_tuner,
    check_search_settings,
    fixed_config,
    make_trainable,
    num_samples,
)
from study.settings import RunOptions, StudySettings
from study.stages import check_netb_learned, feature_maker, netb_stage
from trainables.network import NetworkSettings


def run_study(options: RunOptions, typed: dict[str, Any]) -> int:
    """Run (or resume) one study end to end; returns the process exit code.

    ``typed`` holds the study settings the user typed (see :func:`study.cli.typed_settings`).
    """
    started = time.monotonic()
    # Optuna's INFO lines ("A new study created in Journal ...", one per trial) would
    # interleave with Ray's trial table; the study prints what the search is (below).
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    layout, settings, stored = open_study(options, typed)
    if stored.get("completed"):
        print(complete_line(layout, stored["completed"]))
        return 0  # nothing to do: no Ray, nothing written
    check_search_settings(settings)
    check_splits(settings)
    optuna_target = plan_optuna_storage(layout, options, stored)  # a URL is opened now
    search = describe_search(settings.space, settings.trials, settings.seed, settings.repeats,
                             settings.objectives)
    backbone = Backbone.for_study(settings)
    cluster = start_ray(options)
    resources = plan_resources(options, cluster)
    if not layout.remote:
        warn_if_storage_not_shared(layout.storage_path)
    # The first data work: generating the embedded set, decoding, CNN features.
    inputs = StudyInputs.read(settings, backbone, progress=options.progress)
    print(f"Protocol: {protocol(settings)}")
    print(f"Search:   {search}")
    if stored:
        check_unchanged(stored, inputs.fingerprint)
    data = inputs.arrays(settings, feature_maker(resources))
    if not stored:
        write_json(layout.study_file, {"settings": settings.to_dict(),
                                       "fingerprint": inputs.fingerprint,
                                       "protocol": protocol(settings), "search": search,
                                       "optuna": optuna_target.record(),
                                       "code": code_version(),
                                       "created": datetime.now().isoformat(timespec="seconds")})
        layout.push("study.json")
    netb_settings = NetworkSettings(batch_size=settings.batch_size, lr=settings.lr,
                                    paper_init=settings.paper_init, backbone=settings.backbone)
    netb_options = {"epochs": settings.netb_epochs, "seed": settings.seed,
                    "threads": netb_threads(options, resources, cluster),
                    "train_backbone": backbone.trainable,
                    **({"va_grid": settings.va_grid} if settings.task == "va" else {})}
    centroids, representations = netb_stage(layout, data, netb_settings, netb_options,
                                             inputs.backbone_state, resources)
    check_netb_learned(layout, force=options.force)
    trainable = make_trainable(data, centroids, inputs.backbone_state, resources,
                               netb_representations=representations)
    fixed = fixed_config(settings, backbone.trainable, autocast=resources.gpus > 0)
    attach(optuna_target)  # the searcher's Optuna storage, new or restored
    tuner = build_tuner(layout, settings, trainable, resources, ray.cluster_resources()["CPU"],
                        fixed)
    tuner.fit()
    frame = finish(layout, settings, time.monotonic() - started)
    if settings.confirm_top > 0:
        table = run_confirmation(layout, settings, trainable, resources, fixed, search=frame)
        print("\n" + confirmation_summary(table, settings.objective))
    complete = finished_count(frame) == num_samples(settings)
    if settings.rounds > 1:
        complete = run_rounds(layout, settings, frame, data, netb_settings, netb_options,
                              inputs.backbone_state, resources) and complete
    if complete:
        mark_complete(layout)
    return 0


def mark_complete(layout: StudyLayout) -> None:
    """Record in study.json that every trial (and the confirmation) finished, so that a
    later --resume says so and does nothing else."""
    record = read_json(layout.study_file)
    record["completed"] = datetime.now().isoformat(timespec="seconds")
    write_json(layout.study_file, record)
    layout.push("study.json")


def complete_line(layout: StudyLayout, completed: str) -> str:
    return (f"Study {layout.name!r} is complete (finished {completed}); nothing to resume. "
            f"{results_line(layout)}. Report: {report_command(layout)}")


def finished_count(frame: pd.DataFrame) -> int:
    return int(frame["status"].isin(["TERMINATED"]).sum())


def results_line(layout: StudyLayout) -> str:
    where = layout.display_root
    return f"Results: {where}/trials.csv, {where}/best.json"


def report_command(layout: StudyLayout) -> str:
    return f"python -m study.report --name {layout.name} --storage-path {layout.display_storage}"


def finish(layout: StudyLayout, settings: StudySettings, elapsed: float) -> pd.DataFrame:
    """Write trials.csv and best.json, print the summary and what to do next; the trial
    table (which --confirm-top chooses from)."""
    frame = write_outputs(layout, settings.epochs, settings.objective, settings.space,
                          settings.optuna_metrics)
    # study.json and netb/ were uploaded when written; only these change during the search.
    layout.push("tensorboard", layout.trials_csv.name, layout.best_file.name,
                layout.optuna_journal.name)
    print("\n" + summary_table(frame))
    warning = learning_line(frame)
    if warning:
        print(warning)
    finished = finished_count(frame)
    stopped = int(frame["stopped_early"].sum()) if "stopped_early" in frame else 0
    early = f" ({stopped} stopped early by {settings.scheduler.upper()})" if stopped else ""
    where = layout.display_root
    print(f"\n{finished}/{num_samples(settings)} trials finished{early} in {elapsed / 60:.1f} min. "
          f"{results_line(layout)}")
    print(f"TensorBoard: tensorboard --logdir {where}")
    print(f"Report:      {report_command(layout)}")
    if finished < num_samples(settings):
        print(f"Unfinished:  python -m study.run --name {layout.name} --storage-path "
              f"{layout.display_storage} --resume")
    return frame
