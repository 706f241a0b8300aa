"""``python -m study.bench --methods``: every way to train NetA (trainables.config.METHODS) on
one data set, with the same budget, seeds and selection rule, side by side with NetB trained
on the target labels (the in-domain upper bound). No search: every method runs at its default
(published) knobs, so the table compares methods, not search luck (see :mod:`study.bench`)."""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from study.bench.device import device_name
from study.bench.learning import (
    HARD_DATA_SEED,
    HARD_FRAMES_PER_VIDEO,
    HARD_VIDEOS_PER_CLASS,
    LEARNING_BACKBONE,
    embedded_learning_set,
    learning_arrays,
)
from study.statistics import format_ci, mean_ci
from trainables.config import (
    ALIGNMENT_WEIGHTS,
    DEFAULT_METHOD,
    METHODS,
    TARGET,
)
from trainables.engine import StudyArrays
from trainables.neta import train_neta
from trainables.netb import train_netb
from trainables.network import NetworkSettings
from trainables.synthetic import DIFFICULTIES, generate_dataset

DEFAULT_SEEDS = 3
#: The centroid method's knobs of eq. (9). No search happens in the benchmark: every method
#: runs at its default or published knobs (the alignment weights: ALIGNMENT_WEIGHTS), and the
#: centroid loss at an even mix of E_a and E_b with the linear f.
CENTROID_DEFAULTS: dict[str, Any] = {"lam": 0.5, "normalisation": "linear"}
#: The metric that selects NetA's epoch; held-out figures are read at that epoch.
SELECTION_METRIC = f"{TARGET}_video_acc"
NETB = "netb"
ROW_LABELS = {NETB: "NetB (target labels)"}
#: The per-run figures, each read from NetA's last report at its selected epoch.
FIGURES = ("heldout_video_acc", "target_video_acc", "source_video_acc")
#: ``on_epoch(method, seed, metrics)``: every epoch's report of every NetA run.
EpochHook = Callable[[str, int, dict[str, Any]], None]


def methods_data_set(name: str, workdir: Path) -> tuple[Path, Path | None]:
    """The data set ``name`` (a key of DIFFICULTIES): the embedded one with the study's own
    caches, or a generated one in ``workdir`` with the sizes and seed of
    :func:`study.bench.learning.hard_learning_set` (for ``"hard"``, the same set)."""
    if name == "embedded":
        return embedded_learning_set(workdir)
    root = generate_dataset(workdir / name, seed=HARD_DATA_SEED,
                            videos_per_class=HARD_VIDEOS_PER_CLASS,
                            frames_per_video=HARD_FRAMES_PER_VIDEO,
                            difficulty=DIFFICULTIES[name], progress=False)
    return root, workdir / f"{name}-cache"


def method_config(method: str, settings: NetworkSettings, *, epochs: int,
                  seed: int) -> dict[str, Any]:
    """NetA's config for ``method``: the same network, epochs, seed and selection metric for
    every method; the centroid method adds CENTROID_DEFAULTS, the others name their method
    (the alignment weight is left to the library's default)."""
    config = {**settings.to_dict(), "epochs": epochs, "seed": seed, "metric": SELECTION_METRIC}
    if method == DEFAULT_METHOD:
        return {**config, **CENTROID_DEFAULTS}
    return {**config, "method": method}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # progress; stdout holds the table and JSON


def _neta_record(config: dict[str, Any], data: StudyArrays, centroids: np.ndarray,
                 threads: int, on_epoch: EpochHook | None) -> dict[str, Any]:
    """Train NetA with ``config``; its record, from the last report's ``selected_`` figures."""
    method, seed = config.get("method", DEFAULT_METHOD), int(config["seed"])
    reports: list[dict[str, Any]] = []

    def report(metrics: dict[str, Any], _write: Any) -> None:
        reports.append(metrics)
        if on_epoch is not None:
            on_epoch(method, seed, dict(metrics))

    started = time.perf_counter()
    train_neta(config, data, centroids, threads=threads, report=report)
    last = reports[-1]
    return {"method": method, "seed": seed,
            **{name: float(last[f"selected_{name}"]) for name in FIGURES},
            "learned": bool(last["learned"]), "selected_epoch": int(last["selected_epoch"]),
            "seconds": time.perf_counter() - started}


def methods_run(data: StudyArrays, *, seeds: int, netb_epochs: int, neta_epochs: int,
                settings: NetworkSettings | None = None, methods: tuple[str, ...] = METHODS,
                on_epoch: EpochHook | None = None,
                threads: int | None = None) -> list[dict[str, Any]]:
    """One record per (model, seed): NetB once per seed (its Z serves every method of that
    seed), then NetA with each method. A NetA record holds the ``selected_`` accuracies of
    its last report (at the epoch with the best target video accuracy), ``learned``,
    ``selected_epoch`` and ``seconds``; NetB's, its kept epoch's accuracies. ``threads``:
    torch's CPU threads (default: as many as now set)."""
    settings = settings or NetworkSettings(backbone=LEARNING_BACKBONE)
    threads = threads or torch.get_num_threads()
    records: list[dict[str, Any]] = []
    for seed in range(seeds):
        started = time.perf_counter()
        netb = train_netb(data, settings, epochs=netb_epochs, seed=seed, threads=threads)
        metrics = netb.summary["metrics"]
        records.append({"method": NETB, "seed": seed,
                        **{name: float(metrics[name]) for name in FIGURES},
                        "learned": bool(netb.summary["learned"]),
                        "epochs_run": int(netb.summary["epochs_run"]),
                        "seconds": time.perf_counter() - started})
        _say(f"seed {seed} NetB: held-out {records[-1]['heldout_video_acc']:.3f} "
             f"({records[-1]['seconds']:.0f} s)")
        for method in methods:
            config = method_config(method, settings, epochs=neta_epochs, seed=seed)
            records.append(_neta_record(config, data, netb.centroids.centroids, threads,
                                        on_epoch))
            _say(f"seed {seed} {method}: held-out {records[-1]['heldout_video_acc']:.3f} "
                 f"({records[-1]['seconds']:.0f} s)")
    return records


def methods_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Numbers per model (index: method names, METHODS' order, then ``netb``): seeds, held-out
    video accuracy's mean and 95% interval over seeds (mean_ci, bounds 0-1), target and
    source means, held-out mean minus source_only's, seeds learned, seconds per run."""
    frame = pd.DataFrame(records)
    order = [name for name in (*METHODS, NETB) if name in set(frame["method"])]
    rows = {}
    for name in order:
        runs = frame[frame["method"] == name]
        mean, low, high = mean_ci(runs["heldout_video_acc"], bounds=(0.0, 1.0))
        rows[name] = {"seeds": len(runs), "heldout_mean": mean, "heldout_low": low,
                      "heldout_high": high, "target_mean": runs["target_video_acc"].mean(),
                      "source_mean": runs["source_video_acc"].mean(),
                      "learned": int(runs["learned"].sum()), "seconds": runs["seconds"].mean()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    baseline = table["heldout_mean"].get("source_only", math.nan)
    table.insert(4, "minus_source_only", table["heldout_mean"] - baseline)
    return table


def _number(value: float, sign: str = "") -> str:
    return "-" if not np.isfinite(value) else f"{value:{sign}.3f}"


def format_methods_table(table: pd.DataFrame) -> pd.DataFrame:
    """The printed form of :func:`methods_table`: one string per cell."""
    return pd.DataFrame([{
        "method": ROW_LABELS.get(name, name), "seeds": int(row["seeds"]),
        "held-out video [95% CI]": format_ci(row["heldout_mean"], row["heldout_low"],
                                             row["heldout_high"]),
        "held-out minus source_only": _number(row["minus_source_only"], "+"),
        "target video (selects)": _number(row["target_mean"]),
        "source video": _number(row["source_mean"]),
        "learned": f"{int(row['learned'])}/{int(row['seeds'])}",
        "s/run": f"{row['seconds']:.0f}"} for name, row in table.iterrows()])


def protocol_note(data_name: str, data: StudyArrays, *, seeds: int, netb_epochs: int,
                  neta_epochs: int) -> str:
    """The footnote: what every run shared, how epochs were selected, what the CI is."""
    sizes = ", ".join(f"{role} {len(arrays.video_labels)} videos"
                      for role, arrays in data.roles().items())
    weights = ", ".join(f"{name} {weight:g}" for name, weight in ALIGNMENT_WEIGHTS.items())
    return (f"Protocol: data set '{data_name}' ({sizes}; frozen '{LEARNING_BACKBONE}' CNN "
            f"features), seeds 0-{seeds - 1}, the same for every method. Per seed NetB trains "
            f"once on the target labels (cap {netb_epochs} epochs, stops on a plateau) and its "
            f"Z serves every method of that seed. NetA: {neta_epochs} epochs, the same network "
            f"and optimiser for all; each run's epoch is selected by the best target video "
            f"accuracy (first on ties) and every figure is read at that epoch, so held-out is "
            f"never a maximum over epochs. No search: centroid lam="
            f"{CENTROID_DEFAULTS['lam']:g}, f={CENTROID_DEFAULTS['normalisation']}; alignment "
            f"weights {weights} (published); source_only is E_a alone. 95% CI: Student's t "
            f"over seeds, clipped to [0, 1]. NetB's row is an upper bound: it trained on the "
            f"target labels, so its target column is its own training split. learned: seeds "
            f"whose source (NetB: target) video accuracy beat chance by the library's margin.")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _plain(key: str, value: Any) -> Any:
    """A JSON value: counts as int, flags as bool, NaN as None."""
    if key in ("seed", "selected_epoch", "epochs_run"):
        return int(value)
    return bool(value) if key == "learned" else _finite(float(value))


def methods_summary(records: list[dict[str, Any]], table: pd.DataFrame) -> dict[str, Any]:
    """Per model: the table's numbers and ``per_seed``, every seed's figures (lists in seed
    order; NetA's ``selected_epoch``, NetB's ``epochs_run``)."""
    frame = pd.DataFrame(records).sort_values("seed")
    summary: dict[str, Any] = {}
    for name, row in table.iterrows():
        runs = frame[frame["method"] == name].dropna(axis=1, how="all")
        keys = [key for key in ("seed", *FIGURES, "learned", "selected_epoch", "epochs_run",
                                "seconds") if key in runs]
        numbers = {key: _finite(float(value)) for key, value in row.items()}
        summary[str(name)] = {**numbers, "seeds": int(row["seeds"]),
                              "learned": int(row["learned"]),
                              "per_seed": {key: [_plain(key, value) for value in runs[key]]
                                           for key in keys}}
    return summary


def methods_benchmark(device: torch.device, *, data_name: str = "embedded",
                      seeds: int = DEFAULT_SEEDS, netb_epochs: int,
                      neta_epochs: int) -> dict[str, Any]:
    """``--methods``: the runs, the table and its footnote printed; the JSON summary."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-methods-") as work:
        root, cache = methods_data_set(data_name, Path(work))
        data = learning_arrays(root, cache, device)
        records = methods_run(data, seeds=seeds, netb_epochs=netb_epochs,
                              neta_epochs=neta_epochs)
    table = methods_table(records)
    summary = {"methods": True, "device": device_name(device), "torch": torch.__version__,
               "data": data_name, "seeds": list(range(seeds)), "netb_epoch_cap": netb_epochs,
               "neta_epochs": neta_epochs, "backbone": LEARNING_BACKBONE,
               "selection": SELECTION_METRIC, "centroid": CENTROID_DEFAULTS,
               "alignment_weights": ALIGNMENT_WEIGHTS,
               "results": methods_summary(records, table),
               "wall_seconds": time.perf_counter() - started}
    print(f"Device: {summary['device']}\n")
    print(format_methods_table(table).to_string(index=False))
    print("\n" + protocol_note(data_name, data, seeds=seeds, netb_epochs=netb_epochs,
                               neta_epochs=neta_epochs))
    return summary
