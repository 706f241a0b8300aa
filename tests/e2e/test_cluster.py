"""A two-node Ray cluster on loopback, started with the README's `ray start` commands: the
study joins it with --address, survives losing the worker node mid-study, and keeps every
log and checkpoint under the storage path."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.study_helpers import STUDY_TIMEOUT_S, start_cli, study_args, trial_results

TRIALS, EPOCHS = 3, 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


NODE_START_TIMEOUT_S = 120
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


def alive_nodes(address: str) -> int:
    """Alive nodes of the cluster at ``address``, asked by a short-lived driver."""
    probe = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
             f"print(sum(node['Alive'] for node in ray.nodes()))")
    done = subprocess.run([sys.executable, "-c", probe], env=RAY_ENV, capture_output=True,
                          text=True, timeout=NODE_START_TIMEOUT_S)
    return int(done.stdout.split()[-1]) if done.returncode == 0 and done.stdout.split() else 0


def ray_start(address: str, nodes: int, *flags: str) -> subprocess.Popen:
    """Run `ray start` as the README says, with --block so that every process of the node
    stays a child of the one we started (and is ended by its id alone, never by a name that
    a user's other Ray jobs share); returns once the cluster has ``nodes`` alive nodes."""
    node = subprocess.Popen(["ray", "start", *flags, "--block", "--disable-usage-stats"],
                            env=RAY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + NODE_START_TIMEOUT_S
    while alive_nodes(address) < nodes:
        if node.poll() is not None or time.monotonic() > deadline:
            kill_tree(node.pid)
            raise RuntimeError(f"`ray start {' '.join(flags)}` did not bring up a node")
        time.sleep(1.0)
    return node


def kill_tree(pid: int) -> None:
    """End the process we started and every process below it, by their ids."""
    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=30)


def raylet(node: subprocess.Popen) -> psutil.Process:
    """The raylet among the processes of the node we started."""
    (found,) = [child for child in psutil.Process(node.pid).children(recursive=True)
                if child.name() == "raylet"]
    return found


@pytest.fixture
def cluster():
    """Head (1 CPU) and one worker node (2 CPUs), as two `ray start` calls."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = ray_start(address, 1, "--head", f"--port={port}", "--num-cpus=1",
                     "--dashboard-host=127.0.0.1")
    worker = None
    try:
        worker = ray_start(address, 2, f"--address={address}", "--num-cpus=2")
        yield address, raylet(worker)
    finally:
        for node in (worker, head):
            if node is not None:
                kill_tree(node.pid)


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
    kill_tree(worker_raylet.pid)
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
