"""A two-node Ray cluster on loopback, started with the README's `ray start` commands: the
study joins it with --address, survives losing the worker node mid-study, and keeps every
log and checkpoint under the storage path."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.study_helpers import STUDY_TIMEOUT_S, start_cli, study_args, trial_results

pytestmark = pytest.mark.slow  # end to end: run by CI, left out by -m "not slow"

TRIALS, EPOCHS = 3, 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ray_processes() -> set[int]:
    return {process.pid for process in psutil.process_iter(["cmdline"])
            if "ray" in " ".join(process.info["cmdline"] or [])}


def ray_start(*flags: str) -> set[int]:
    """Run `ray start` as the README says; return the processes it left running."""
    before = ray_processes()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    subprocess.run(["ray", "start", *flags, "--disable-usage-stats"], check=True, env=env,
                   capture_output=True, timeout=120)
    return ray_processes() - before


def kill_tree(pids: set[int]) -> None:
    processes = [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]
    for process in list(processes):
        try:
            processes += process.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def raylet(pids: set[int]) -> psutil.Process:
    (found,) = [psutil.Process(pid) for pid in pids
                if psutil.pid_exists(pid) and psutil.Process(pid).name() == "raylet"]
    return found


@pytest.fixture
def cluster():
    """Head (1 CPU) and one worker node (2 CPUs), as two `ray start` calls."""
    port = free_port()
    head = ray_start("--head", f"--port={port}", "--num-cpus=1", "--dashboard-host=127.0.0.1")
    worker = set()
    try:
        worker = ray_start(f"--address=127.0.0.1:{port}", "--num-cpus=2")
        yield f"127.0.0.1:{port}", raylet(worker)
    finally:
        kill_tree(worker | head)


def pids_under(node_raylet: psutil.Process) -> set[int]:
    return {node_raylet.pid, *(child.pid for child in node_raylet.children(recursive=True))}


def test_study_survives_losing_the_worker_node(cluster, tiny_data: Path, tmp_path: Path) -> None:
    address, worker_raylet = cluster
    study = tmp_path / "results" / "cluster"
    args = study_args(tiny_data, tmp_path / "results", "cluster", trials=TRIALS,
                      epochs=EPOCHS, extra=("--address", address, "--max-failures", "3"))
    log = tmp_path / "run.log"
    process = start_cli(args, log)
    deadline = time.monotonic() + STUDY_TIMEOUT_S
    lost: set[str] = set()
    while not lost:  # wait until a trial on the worker node has reported an epoch
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        worker_pids = pids_under(worker_raylet)
        lost = {trial for trial, rows in trial_results(study).items()
                if rows and rows[-1]["pid"] in worker_pids}
        time.sleep(0.2)
    kill_tree({worker_raylet.pid})
    assert process.wait(timeout=STUDY_TIMEOUT_S) == 0, log.read_text()[-3000:]

    table = pd.read_csv(study / "trials.csv")
    assert len(table) == TRIALS and set(table["status"]) == {"TERMINATED"}
    assert (table["epochs_done"] == EPOCHS).all()
    for trial in table["trial_id"]:
        assert list((study / "tensorboard").glob(f"trial_{trial}/events.out.tfevents.*"))
        assert list((study / f"trial_{trial}").glob("checkpoint_*/state.pt"))
    results = trial_results(study)
    for trial in lost:  # it moved to the head node and continued from its checkpoint
        assert results[trial][-1]["pid"] not in worker_pids
        assert results[trial][-1]["iterations_since_restore"] < EPOCHS
    assert f"Ray: joined {address}" in log.read_text()
