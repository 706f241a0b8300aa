"""The study driver: data, frozen-CNN features, NetB, then the NetA search, then outputs.

Everything the user can get wrong is checked before anything is written, so bad input
never leaves a half-made or changed study folder behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

if TYPE_CHECKING:
    import pandas as pd

from search_spaces import describe_search
from study.confirm import confirmation_summary, run_confirmation
from study.data_roles import check_unchanged, fingerprint, load_data, protocol, study_arrays
from study.layout import StudyLayout, read_json, write_json
from study.outputs import learning_line, summary_table, write_outputs
from study.search import (
    build_tuner,
    check_search_settings,
    fixed_config,
    make_trainable,
    num_samples,
)
from study.settings import StudySettings, new_settings, resumed_settings
from study.stages import Backbone, Resources, check_netb_learned, features_by_role, netb_stage
from study.storage import is_uri
from trainables.config import IMAGE_SIZE
from trainables.errors import UserInputError
from trainables.network import NetworkSettings


def open_study(args: argparse.Namespace) -> tuple[StudyLayout, StudySettings, dict[str, Any]]:
    """The study's folder and settings; refuses a clash between --name and --resume."""
    name = args.name or datetime.now().strftime("study-%Y%m%d-%H%M%S")
    if "/" in name or name in ("", ".", ".."):
        raise UserInputError(f"--name {name!r} must be a plain folder name")
    if not is_uri(args.storage_path):
        storage = Path(args.storage_path).expanduser().absolute()
        if storage.exists() and not storage.is_dir():
            raise UserInputError(f"--storage-path {storage} is a file; give a folder")
    layout = StudyLayout.create(args.storage_path, name)
    layout.clear_mirror()
    where = layout.display_storage
    if args.resume:
        if not layout.exists():
            raise UserInputError(f"no study {name!r} under {where} to resume; check --name "
                                 f"and --storage-path, or start it without --resume")
        layout.pull("study.json", "netb", "tensorboard")
        stored = read_json(layout.study_file)
        return layout, resumed_settings(args, stored["settings"]), stored
    if layout.is_taken():
        raise UserInputError(f"a study named {name!r} already exists in {where}; add "
                             f"--resume to continue it, or pick another --name")
    if layout.remote:
        layout.remote.check_writable()
    else:
        check_writable(layout.storage_path)
    return layout, new_settings(args), {}


def check_writable(storage: Path) -> None:
    """Fail now, not after NetB, if the study cannot be written.

    A real write is tried (and removed at once): permission bits alone say nothing to root
    and nothing about read-only mounts.
    """
    existing = storage
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserInputError(f"--storage-path {storage} lies inside the file {existing}; give "
                             f"a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserInputError(f"--storage-path {storage} is not writable ({error.strerror}); "
                             f"choose a folder you can write to") from None


ADDRESS_PROBE_TIMEOUT_S = 5.0


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


def start_ray(args: argparse.Namespace) -> dict[str, float]:
    """Join --address or start a local cluster (dashboard on 127.0.0.1, token auth kept)."""
    # Our own CSV/JSON/TensorBoard callbacks replace Tune's defaults (see study.search), and
    # the classic trial table lets us choose its columns (the new one prints every metric).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Every epoch checkpoint forces an experiment snapshot (what makes --resume exact); with
    # short epochs Tune warns about that on every epoch.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's start-up chatter would land on stderr, which is kept for our one-line errors.
    quiet = {"log_to_driver": True, "logging_level": logging.ERROR}
    try:
        if args.address:
            context = ray.init(address=args.address, **quiet)
        else:
            # "local": never join a cluster that happens to run on this machine (or a stale
            # record of one); joining is what --address is for.
            context = ray.init(address="local", dashboard_host=args.dashboard_host, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = args.address or "a local cluster"
        raise UserInputError(f"could not reach Ray at {where} ({error}); check --address "
                             f"and that `ray start` ran there") from None
    dashboard = f", dashboard http://{context.dashboard_url}" if context.dashboard_url else ""
    auth = os.environ.get("RAY_AUTH_MODE", "token")
    print(f"Ray: {'joined ' + args.address if args.address else 'local cluster'}{dashboard}, "
          f"authentication: {'token' if auth == 'token' else auth + ' (RAY_AUTH_MODE)'}")
    return ray.cluster_resources()


NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "beegfs", "ceph",
                       "glusterfs", "fuse.", "9p")


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


def plan_resources(args: argparse.Namespace, cluster: dict[str, float]) -> Resources:
    available = int(cluster.get("GPU", 0))
    gpus = available if args.gpus is None else args.gpus
    if gpus > available:
        raise UserInputError(f"--gpus {gpus} asks for more GPUs than the Ray cluster has "
                             f"({available}); use --gpus {available} or fewer")
    if args.cpus_per_trial > cluster.get("CPU", 0):
        raise UserInputError(f"--cpus-per-trial {args.cpus_per_trial:g} exceeds the cluster's "
                             f"{cluster.get('CPU', 0):g} CPUs")
    return Resources(gpus=gpus, gpus_per_trial=args.gpus_per_trial,
                     cpus_per_trial=args.cpus_per_trial, max_failures=args.max_failures,
                     progress=not args.no_progress)


def run_study(args: argparse.Namespace) -> int:
    """Run (or resume) one study end to end; returns the process exit code."""
    started = time.monotonic()
    layout, settings, stored = open_study(args)
    check_search_settings(settings)
    search = describe_search(settings.space, settings.trials, settings.seed, settings.repeats)
    backbone = Backbone.build(settings.backbone, settings.backbone_weights,
                              settings.train_backbone, settings.seed, IMAGE_SIZE)
    if args.address:
        check_reachable(args.address)
    splits = load_data(settings, progress=not args.no_progress)
    print(f"Protocol: {protocol(settings)}")
    print(f"Search:   {search}")
    current = fingerprint(splits, backbone)
    if stored:
        check_unchanged(stored, current)
    cluster = start_ray(args)
    resources = plan_resources(args, cluster)
    # NetB runs alone before the trials: on a local CPU cluster it may use every core.
    netb_cpus = cluster["CPU"] if not (args.address or resources.gpus) else \
        resources.cpus_per_trial
    if not layout.remote:
        warn_if_storage_not_shared(layout.storage_path)
    data = study_arrays(splits, features_by_role(splits, backbone, resources), settings)
    if not stored:
        write_json(layout.study_file, {"settings": settings.to_dict(), "fingerprint": current,
                                       "protocol": protocol(settings), "search": search,
                                       "created": datetime.now().isoformat(timespec="seconds")})
        layout.push("study.json")
    backbone_state = backbone.state if backbone.trainable else None
    netb_settings = NetworkSettings(batch_size=settings.batch_size, lr=settings.lr,
                                    paper_init=settings.paper_init, backbone=settings.backbone)
    centroids = netb_stage(layout, data, netb_settings,
                           {"epochs": settings.netb_epochs, "seed": settings.seed,
                            "threads": int(netb_cpus), "train_backbone": backbone.trainable},
                           backbone_state, resources)
    check_netb_learned(layout, force=args.force)
    trainable = make_trainable(data, centroids, backbone_state, resources)
    fixed = fixed_config(settings, backbone.trainable, autocast=resources.gpus > 0)
    tuner = build_tuner(layout, settings, trainable, resources, ray.cluster_resources()["CPU"],
                        fixed)
    tuner.fit()
    frame = finish(layout, settings, time.monotonic() - started)
    if settings.confirm_top > 0:
        table = run_confirmation(layout, settings, trainable, resources, fixed, search=frame)
        print("\n" + confirmation_summary(table, settings.objective))
    return 0


def finish(layout: StudyLayout, settings: StudySettings, elapsed: float) -> pd.DataFrame:
    """Write trials.csv and best.json, print the summary and what to do next; the trial
    table (which --confirm-top chooses from)."""
    frame = write_outputs(layout, settings.epochs, settings.objective)
    # study.json and netb/ were uploaded when written; only these change during the search.
    layout.push("tensorboard", layout.trials_csv.name, layout.best_file.name)
    print("\n" + summary_table(frame))
    warning = learning_line(frame)
    if warning:
        print(warning)
    finished = int(frame["status"].isin(["TERMINATED"]).sum())
    stopped = int(frame["stopped_early"].sum()) if "stopped_early" in frame else 0
    early = f" ({stopped} stopped early by {settings.scheduler.upper()})" if stopped else ""
    where = layout.display_root
    print(f"\n{finished}/{num_samples(settings)} trials finished{early} in {elapsed / 60:.1f} min. "
          f"Results: {where}/trials.csv, {where}/best.json")
    print(f"TensorBoard: tensorboard --logdir {where}")
    print(f"Report:      python -m study.report --name {layout.name} "
          f"--storage-path {layout.display_storage}")
    if finished < num_samples(settings):
        print(f"Unfinished:  python -m study.run --name {layout.name} --storage-path "
              f"{layout.display_storage} --resume")
    return frame

