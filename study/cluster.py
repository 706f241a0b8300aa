"""The Ray cluster a study runs on: join one or start one, and what the study may use of it.

Every check here is cheap and runs before any data work (see :func:`study.driver.run_study`).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import ray

from study.settings import RunOptions
from trainables.errors import UserInputError

ADDRESS_PROBE_TIMEOUT_S = 5.0
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "beegfs", "ceph",
                       "glusterfs", "fuse.", "9p")


@dataclass
class Resources:
    """What the study may use: GPUs in all, per trial, CPUs per trial."""

    gpus: int
    gpus_per_trial: float
    cpus_per_trial: float
    max_failures: int = 2
    progress: bool = True

    @property
    def task_gpus(self) -> int:
        """GPUs held by a preparatory task: one when the study has any."""
        return 1 if self.gpus > 0 else 0

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus_per_trial))


def check_reachable(address: str) -> None:
    """Fail fast on a dead --address: ray.init would retry it for minutes."""
    if address == "auto":
        return  # Ray resolves it from this machine's running cluster, or says there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.1:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=ADDRESS_PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise UserInputError(f"cannot reach a Ray cluster at --address {address} ({error}); "
                             f"start it with `ray start --head` there, or fix the address"
                             ) from None


def start_ray(options: RunOptions) -> dict[str, float]:
    """Join --address or start a local cluster (dashboard on 127.0.0.1, token auth kept);
    the cluster's resources."""
    if options.address:
        check_reachable(options.address)
    # Our own CSV/JSON/TensorBoard callbacks replace Tune's defaults (see study.search), and
    # the classic trial table lets us choose its columns (the new one prints every metric).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Every epoch checkpoint forces an experiment snapshot (what makes --resume exact); with
    # short epochs Tune warns about that on every epoch.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's start-up chatter would land on stderr, which is kept for our one-line errors.
    # The job's logging config sets every Ray worker's loggers (and the driver's) to
    # warnings: no "Checkpoint successfully created" info line from each trial's epochs.
    quiet = {"log_to_driver": True, "logging_level": logging.ERROR,
             "logging_config": ray.LoggingConfig(log_level="WARNING")}
    try:
        if options.address:
            context = ray.init(address=options.address, **quiet)
        else:
            # "local": never join a cluster that happens to run on this machine (or a stale
            # record of one); joining is what --address is for.
            context = ray.init(address="local", dashboard_host=options.dashboard_host, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = options.address or "a local cluster"
        raise UserInputError(f"could not reach Ray at {where} ({error}); check --address "
                             f"and that `ray start` ran there") from None
    dashboard = f", dashboard http://{context.dashboard_url}" if context.dashboard_url else ""
    auth = os.environ.get("RAY_AUTH_MODE", "token")
    joined = "joined " + options.address if options.address else "local cluster"
    print(f"Ray: {joined}{dashboard}, "
          f"authentication: {'token' if auth == 'token' else auth + ' (RAY_AUTH_MODE)'}")
    return ray.cluster_resources()


def plan_resources(options: RunOptions, cluster: dict[str, float]) -> Resources:
    """The study's share of the cluster; refuses what the cluster does not have."""
    available = int(cluster.get("GPU", 0))
    gpus = available if options.gpus is None else options.gpus
    if gpus > available:
        raise UserInputError(f"--gpus {gpus} asks for more GPUs than the Ray cluster has "
                             f"({available}); use --gpus {available} or fewer")
    if options.cpus_per_trial > cluster.get("CPU", 0):
        raise UserInputError(f"--cpus-per-trial {options.cpus_per_trial:g} exceeds the "
                             f"cluster's {cluster.get('CPU', 0):g} CPUs")
    return Resources(gpus=gpus, gpus_per_trial=options.gpus_per_trial,
                     cpus_per_trial=options.cpus_per_trial, max_failures=options.max_failures,
                     progress=options.progress)


def netb_threads(options: RunOptions, resources: Resources, cluster: dict[str, float]) -> int:
    """NetB runs alone before the trials: on a local CPU cluster it may use every core."""
    if options.address or resources.gpus:
        return resources.threads
    return int(cluster["CPU"])


def filesystem_type(path: Path) -> str:
    """The type of the mount holding ``path`` (from /proc/mounts), or "" if unknown."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    resolved, best, kind = existing.resolve(), "", ""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and resolved.is_relative_to(fields[1]) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return kind


def warn_if_storage_not_shared(storage: Path) -> None:
    """Trials on other machines write their checkpoints and logs to --storage-path too."""
    hosts = {node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")}
    kind = filesystem_type(storage)
    if len(hosts) > 1 and not kind.startswith(NETWORK_FILESYSTEMS):
        print(f"WARNING: the Ray cluster spans {len(hosts)} machines but --storage-path "
              f"{storage} is on a local {kind or 'unknown'} filesystem. Every node must see "
              f"the same folder (NFS or another network mount), or trials on other nodes "
              f"cannot be resumed and their logs stay there.", flush=True)
