"""The Ray Tune trainable: a thin adapter around NetA's plain loop (:mod:`trainables.neta`).

As in Ray Tune's ``mnist_pytorch.py`` example, it resumes from :func:`ray.tune.get_checkpoint`
at its top and reports metrics and checkpoint together every epoch. The large read-only
objects (the splits and NetB's centroids Z) are bound with :func:`ray.tune.with_parameters`,
so they live once in the object store and never in a trial's config.

Tune keeps one checkpoint per trial, the latest (:func:`study.search.make_run_config`). A
trial that ran all its epochs leaves one without its resume state
(:mod:`trainables.checkpoint`); :class:`DropResumeState` removes that state from the
checkpoint of a trial the scheduler stopped early, which Tune never resumes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs
from ray import tune
from torch import Tensor

from trainables.checkpoint import RESUME_FILE
from trainables.config import REPEAT_KEY
from trainables.engine import StudyArrays
from trainables.neta import train_neta as train_neta_loop


def _report_to_tune(metrics: dict[str, Any], write_checkpoint: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        write_checkpoint(Path(directory))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def train_neta(config: dict[str, Any], *, data: StudyArrays, centroids: np.ndarray,
               backbone_state: dict[str, Tensor] | None = None,
               previous: dict[int, dict[str, Tensor]] | None = None,
               netb_representations: np.ndarray | None = None) -> None:
    """Ray Tune function trainable for one NetA trial (see :func:`trainables.neta.train_neta`).

    ``previous`` (a block-component round after the first, :mod:`study.rounds`) maps each
    seed index to that seed's selected weights of the previous round, which a new trial
    starts from. ``netb_representations`` (valence-arousal studies) are NetB's U of the
    target frames, from which the trial makes Z for its own grid (trainables.dimensional).
    """
    initial = None if previous is None else previous[int(config.get(REPEAT_KEY, 0))]
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        train_neta_loop(config, data, centroids, backbone_state=backbone_state,
                        threads=trial_threads(), report=_report_to_tune,
                        initial_weights=initial, netb_representations=netb_representations)
        return
    with checkpoint.as_directory() as directory:
        train_neta_loop(config, data, centroids, backbone_state=backbone_state,
                        threads=trial_threads(), report=_report_to_tune,
                        resume_from=Path(directory), initial_weights=initial,
                        netb_representations=netb_representations)


def trial_threads() -> int:
    """Torch threads matching the CPUs Tune reserved for this trial (at least one)."""
    try:
        cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    except (AttributeError, RuntimeError):
        cpus = 1
    return max(1, min(int(cpus), os.cpu_count() or 1))


class DropResumeState(tune.Callback):
    """Once a trial is complete its latest (only) checkpoint keeps the selected epoch's
    weights and the trial's numbers: the resume state (weights, optimiser, generators) left
    by a trial the scheduler stopped early is deleted, on whatever filesystem Tune wrote it."""

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        checkpoint = trial.checkpoint
        if checkpoint is None:
            return
        path = f"{checkpoint.path}/{RESUME_FILE}"
        if checkpoint.filesystem.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
            checkpoint.filesystem.delete_file(path)
