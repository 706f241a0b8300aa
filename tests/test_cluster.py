"""A two-node Ray cluster on loopback: the study joins it with --address, survives losing
the worker node mid-study, and keeps every log and checkpoint under the storage path."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from ray.cluster_utils import Cluster

from tests.study_helpers import STUDY_TIMEOUT_S, start_cli, study_args, trial_results

TRIALS, EPOCHS = 3, 2


@pytest.fixture
def cluster():
    """Head (1 CPU, runs the driver's objects) plus one worker node (2 CPUs)."""
    two_nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = two_nodes.add_node(num_cpus=2)
    two_nodes.wait_for_nodes()
    yield two_nodes, worker
    two_nodes.shutdown()


def pids_on(node) -> set[int]:
    """Processes of one cluster_utils node: its raylet and everything under it."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    return {raylet.pid, *(child.pid for child in raylet.children(recursive=True))}


def trials_on(node, study: Path) -> set[str]:
    """Trials whose last reported epoch ran in a worker process of ``node``."""
    pids = pids_on(node)
    return {trial for trial, rows in trial_results(study).items()
            if rows and rows[-1]["pid"] in pids}


def test_study_survives_losing_the_worker_node(cluster, tiny_data: Path, tmp_path: Path) -> None:
    two_nodes, worker = cluster
    study = tmp_path / "results" / "cluster"
    args = study_args(tiny_data, tmp_path / "results", "cluster", trials=TRIALS,
                      epochs=EPOCHS, extra=("--address", two_nodes.address,
                                            "--max-failures", "3"))
    log = tmp_path / "run.log"
    process = start_cli(args, log)
    deadline = time.monotonic() + STUDY_TIMEOUT_S
    while not (lost := trials_on(worker, study)):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    worker_pids = pids_on(worker)
    two_nodes.remove_node(worker)
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
    assert "Ray: joined" in log.read_text()
