"""Run ``python -m study.run`` as users do, in a subprocess, and read what it leaves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from trainables.synthetic import generate_dataset

REPO = Path(__file__).resolve().parents[1]
TINY_VIDEOS = {"Train": 1, "Val": 1, "Test": 1}
TINY_FRAMES = (6, 10)
STUDY_TIMEOUT_S = 400


def make_tiny_dataset(root: Path) -> Path:
    return generate_dataset(root, seed=3, videos_per_class=TINY_VIDEOS,
                            frames_per_video=TINY_FRAMES, progress=False)


def study_args(data: Path, storage: Path, name: str, *, trials: int = 2, epochs: int = 1,
               extra: tuple[str, ...] = ()) -> list[str]:
    """Flags of a quick CPU study on ``data`` (one video per class: NetB cannot learn from
    so little, hence ``--force``; its Test split is the held-out set)."""
    return ["--data-root", str(data), "--storage-path", str(storage), "--name", name,
            "--trials", str(trials), "--epochs", str(epochs), "--netb-epochs", "1",
            "--gpus", "0", "--no-progress", "--test-split", "Test", "--force", *extra]


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "study.run", *args]


def run_cli(args: list[str], timeout: float = STUDY_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the CLI to the end; stdout and stderr captured as text."""
    return subprocess.run(_command(args), cwd=REPO, env=os.environ.copy(), text=True,
                          capture_output=True, timeout=timeout)


def start_cli(args: list[str], log: Path) -> subprocess.Popen:
    """Start the CLI in its own process group (so a kill takes its local Ray with it)."""
    handle = log.open("w")
    return subprocess.Popen(_command(args), cwd=REPO, env=os.environ.copy(), stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(process: subprocess.Popen, ready: Callable[[], bool],
              timeout: float = STUDY_TIMEOUT_S) -> bool:
    """SIGKILL the process group as soon as ``ready()``; False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            return True
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise TimeoutError("the study never reached the point to kill it at")


def trial_results(study: Path) -> dict[str, list[dict[str, Any]]]:
    """trial_id -> the results it reported, in order (Tune's result.json, one per line)."""
    results = {}
    for result_file in sorted(study.glob("trial_*/result.json")):
        lines = result_file.read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        results[result_file.parent.name.removeprefix("trial_")] = rows
    return results


def finished_trials(study: Path, epochs: int) -> dict[str, list[dict[str, Any]]]:
    """Trials whose last reported epoch is the last one."""
    return {trial: rows for trial, rows in trial_results(study).items()
            if rows and rows[-1]["epoch"] >= epochs}


def hparams_of(run: Path) -> dict[str, Any]:
    """The HParams TensorBoard reads back from a run's event files (its own reader)."""
    accumulator = EventAccumulator(str(run))
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    values = HParamsPluginData.FromString(content).session_start_info.hparams
    return {key: getattr(value, value.WhichOneof("kind")) for key, value in values.items()}
