"""TensorBoard logs of a study: per-epoch scalars of NetB and of every NetA trial, and an
HParams entry per trial written when the trial starts, so running trials show up too.

Ray's own TensorBoard logger writes HParams only when a trial ends and into the
driver's staging folder; this callback runs on the driver and writes straight into the
study's storage path with TensorBoard's own event writer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number
from pathlib import Path
from typing import Any

from ray import tune
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

#: Config values TensorBoard's HParams can hold.
HPARAM_TYPES = (bool, int, float, str)
#: Metrics shown against them: selection accuracy (best epoch), and held-out and source
#: accuracy at that selected epoch (never a maximum over held-out epochs).
HPARAM_METRICS = ("best_target_video_acc", "best_target_frame_acc",
                  "selected_heldout_video_acc", "selected_heldout_frame_acc",
                  "selected_source_video_acc", "selected_source_frame_acc")
#: Bookkeeping keys Ray adds to every result; not worth a chart.
SKIPPED = {"training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "pid",
           "time_since_restore", "iterations_since_restore", "done", "epoch"}


def trial_run_name(trial_id: str) -> str:
    return f"trial_{trial_id}"


def write_hparams(writer: SummaryWriter, config: dict[str, Any],
                  params: Sequence[str] | None = None) -> None:
    """Declare the trial's HParams and the metrics they map to (scalars come later).

    The HParams are the config's ``params`` (the study passes its search space's,
    :mod:`study.parameters`); None: every config value HParams can hold, as Ray's own
    TensorBoard logger does.
    """
    names = config if params is None else params
    values = {key: config[key] for key in names
              if key in config and isinstance(config[key], HPARAM_TYPES)}
    experiment, start, _ = hparams(values, {name: 0.0 for name in HPARAM_METRICS})
    for summary in (experiment, start):
        writer.file_writer.add_summary(summary)
    writer.flush()


def write_scalars(writer: SummaryWriter, metrics: dict[str, Any], step: int) -> None:
    """Every finite numeric metric as a scalar at ``step`` (the epoch)."""
    for key, value in metrics.items():
        if key in SKIPPED or isinstance(value, bool) or not isinstance(value, Number):
            continue
        if math.isfinite(value):
            writer.add_scalar(key, value, global_step=step)
    writer.flush()


def log_netb(logdir: Path, history: list[dict[str, float]]) -> None:
    """NetB's per-epoch E_a and target accuracy under the run ``netb``."""
    with SummaryWriter(str(logdir / "netb")) as writer:
        for row in history:
            write_scalars(writer, {f"netb/{k}": v for k, v in row.items()}, int(row["epoch"]))


class TrialTensorBoardCallback(tune.Callback):
    """One run per trial under ``logdir``: HParams at start, scalars every epoch.

    ``params``: the config keys shown as HParams (see :func:`write_hparams`).
    """

    params: tuple[str, ...] | None = None  # also for callbacks pickled before it existed

    def __init__(self, logdir: str | Path, params: Sequence[str] | None = None):
        self.logdir = Path(logdir)
        self.params = None if params is None else tuple(params)
        self._writers: dict[str, SummaryWriter] = {}

    def _writer(self, trial: Any) -> SummaryWriter:
        if trial.trial_id not in self._writers:
            writer = SummaryWriter(str(self.logdir / trial_run_name(trial.trial_id)))
            write_hparams(writer, trial.config, self.params)
            self._writers[trial.trial_id] = writer
        return self._writers[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._writer(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        write_scalars(self._writer(trial), result, int(result.get("training_iteration", 0)))

    def _close(self, trial: Any) -> None:
        writer = self._writers.pop(trial.trial_id, None)
        if writer is not None:
            writer.close()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial)

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks with the experiment; open writers stay with this process.
        return {"logdir": self.logdir, "params": self.params, "_writers": {}}
