"""``--rounds K``: block-component training (the paper's future work), the driver's side.

Round 1 is the study as the paper runs it: NetB, its Z, the NetA search. The search's best
configuration of the centroid method (by the study's selection rule, chosen once and kept in
``rounds/chosen.json``) is then carried through rounds ``2..K`` (see :mod:`trainables.rounds`):

- NetB of round ``r`` is trained, from round ``r - 1``'s NetB, towards the centroids of the
  source representations of round ``r - 1``'s NetA (the configuration's first seed), in a Ray
  task; its weights, new Z, the NetA centroids it was trained towards and its summary (written
  last: it marks a finished NetB) go to ``rounds/<r>/netb/``;
- the new Z travels through the object store to NetA: every seed of the configuration is
  trained again from its own round ``r - 1`` weights, as the Ray Tune experiment
  ``round_<r>`` in the study folder (resumed when interrupted, like the search);
- ``rounds/<r>/trials.csv`` holds its trials and ``rounds.csv`` one row per round.

A resumed study redoes nothing finished: a round whose NetB summary exists reuses it, and a
round's experiment is restored from its folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import torch
from ray import tune
from ray.tune.schedulers import FIFOScheduler

from study.cluster import Resources
from study.concurrency import RunVariantGenerator, max_concurrent, set_run_limit
from study.layout import StudyLayout, read_json, write_json
from study.outputs import configuration_key, configurations, trials_frame
from study.search import make_run_config, make_trainable, trial_dirname
from study.settings import StudySettings
from study.stages import run_netb_task
from study.statistics import format_ci, mean_ci
from study.tensorboard import log_netb
from trainables.centroids import CentroidResult
from trainables.checkpoint import selected_weights
from trainables.config import DEFAULT_METHOD, HELDOUT, REPEAT_KEY, SOURCE, TARGET
from trainables.engine import StudyArrays
from trainables.netb import NetBResult
from trainables.network import NetworkSettings
from trainables.rounds import train_netb_round

ROUND_KEY = "round"
CHOSEN_FILE = "chosen.json"


def experiment_path(layout: StudyLayout, round_number: int) -> str:
    """Round ``r``'s Ray Tune experiment: the search for round 1, ``round_<r>`` after it."""
    if round_number == 1:
        return layout.tune_path
    return f"{layout.tune_path.rstrip('/')}/{experiment_name(round_number)}"


def experiment_name(round_number: int) -> str:
    return f"round_{round_number}"


def _netb_dir(layout: StudyLayout, round_number: int) -> Path:
    return layout.round_folder(round_number) / "netb"


def _round_key(config: dict[str, Any]) -> str:
    """A configuration's key whatever its round (the seed index is never part of it)."""
    return configuration_key({k: v for k, v in config.items() if k != ROUND_KEY})


def choose_configuration(layout: StudyLayout, settings: StudySettings,
                         search: pd.DataFrame) -> dict[str, Any] | None:
    """The configuration the rounds carry: the search's best of the centroid method by its
    mean ``settings.objective`` over seeds, chosen once (``rounds/chosen.json``)."""
    path = layout.rounds_dir / CHOSEN_FILE
    if path.exists():
        return read_json(path)
    done = search[search["status"] == "TERMINATED"]
    if "method" in done:
        done = done[done["method"].fillna(DEFAULT_METHOD) == DEFAULT_METHOD]
    if done.empty or settings.objective not in done:
        return None
    # outputs.configurations ranks as best.json does (ties: mean source accuracy, then id).
    configuration = str(configurations(done, settings.objective).iloc[0]["configuration"])
    members = done[done["configuration"] == configuration].sort_values("repeat")
    chosen = {"configuration": configuration, "config": json.loads(members.iloc[0]["config_key"]),
              "repeats": [int(r) for r in members["repeat"]],
              "rule": f"the finished centroid-method configuration with the highest mean "
                      f"`{settings.objective}` over its seeds"}
    write_json(path, chosen)
    layout.push(f"{layout.rounds_dir.name}/{CHOSEN_FILE}")
    return chosen


def round_trials(layout: StudyLayout, round_number: int, chosen: dict[str, Any]) -> list[Any]:
    """The chosen configuration's finished trials of a round, by seed index."""
    path = experiment_path(layout, round_number)
    if not tune.Tuner.can_restore(path):
        return []
    key = _round_key(chosen["config"])
    trials = [t for t in tune.ExperimentAnalysis(path).trials
              if t.status == "TERMINATED" and _round_key(t.config) == key]
    return sorted(trials, key=lambda t: int(t.config.get(REPEAT_KEY, 0)))


def _weights(trial: Any) -> dict[str, torch.Tensor]:
    with trial.checkpoint.as_directory() as directory:
        return selected_weights(Path(directory))


def previous_weights(layout: StudyLayout, round_number: int,
                     chosen: dict[str, Any]) -> dict[int, dict[str, torch.Tensor]]:
    """Seed index -> selected weights of the chosen configuration in round ``r - 1``."""
    trials = [t for t in round_trials(layout, round_number - 1, chosen) if t.checkpoint]
    return {int(t.config.get(REPEAT_KEY, 0)): _weights(t) for t in trials}


@ray.remote
def _netb_round_task(data: StudyArrays, settings: NetworkSettings, options: dict[str, Any],
                     inputs: dict[str, Any], epochs: Any) -> tuple[NetBResult, CentroidResult]:
    on_epoch = None if epochs is None else epochs.put
    return train_netb_round(data, settings, on_epoch=on_epoch, **inputs, **options)


def centroids_of(layout: StudyLayout, round_number: int) -> np.ndarray:
    return np.asarray(read_json(_netb_dir(layout, round_number) / "centroids.json")["centroids"],
                      dtype=np.float32)


def netb_round(layout: StudyLayout, round_number: int, data: StudyArrays,
               settings: NetworkSettings, options: dict[str, Any], chosen: dict[str, Any],
               neta_weights: dict[str, torch.Tensor],
               backbone_state: dict[str, torch.Tensor] | None, resources: Resources
               ) -> np.ndarray:
    """Round ``r``'s NetB and its Z: reused when finished, else trained in a Ray task."""
    folder = _netb_dir(layout, round_number)
    if (folder / "summary.json").exists():
        print(f"Reusing round {round_number}'s NetB")
        return centroids_of(layout, round_number)
    previous = _netb_dir(layout, round_number - 1)
    inputs = {"config": chosen["config"], "neta_weights": neta_weights,
              "netb_weights": torch.load(previous / "netb.pt", map_location="cpu",
                                         weights_only=True),
              "centroids": centroids_of(layout, round_number - 1),
              "backbone_state": backbone_state}
    result, source = run_netb_task(_netb_round_task, resources, options, data, settings,
                                   options, inputs)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(result.state_dict, folder / "netb.pt")
    write_json(folder / "centroids.json", result.centroids.to_dict())
    write_json(folder / "neta_centroids.json", source.to_dict())
    log_netb(layout.tensorboard_dir / experiment_name(round_number), result.history)
    write_json(folder / "summary.json", {**result.summary, "round": round_number,
                                         "history": result.history})
    layout.push(str(folder.relative_to(layout.root)), "tensorboard")
    metrics = result.summary["metrics"]
    heldout = (f", held-out video acc {metrics[f'{HELDOUT}_video_acc']:.3f}"
               if f"{HELDOUT}_video_acc" in metrics else "")
    print(f"Round {round_number} NetB ({result.summary['epochs_run']} epochs): target video "
          f"acc {metrics[f'{TARGET}_video_acc']:.3f}{heldout}; its Z moved "
          f"{np.linalg.norm(result.centroids.centroids - inputs['centroids']):.3f} from "
          f"round {round_number - 1}'s")
    return result.centroids.centroids


def neta_round(layout: StudyLayout, settings: StudySettings, round_number: int,
               trainable: Any, resources: Resources, chosen: dict[str, Any]) -> None:
    """Round ``r``'s NetA: every seed of the chosen configuration, restored when interrupted."""
    path = experiment_path(layout, round_number)
    name = experiment_name(round_number)
    limit = set_run_limit(max_concurrent(resources, ray.cluster_resources()["CPU"]))
    if tune.Tuner.can_restore(path):
        print(f"Resuming round {round_number}'s NetA in {layout.display_root}/{name}")
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        space = {**chosen["config"], ROUND_KEY: round_number,
                 REPEAT_KEY: tune.grid_search(chosen["repeats"])}
        tune_config = tune.TuneConfig(
            metric=settings.objective, mode="max", num_samples=1, scheduler=FIFOScheduler(),
            search_alg=RunVariantGenerator(max_concurrent=limit),
            trial_dirname_creator=trial_dirname)
        run_config = make_run_config(layout, settings, resources, name=name,
                                     storage_path=layout.tune_path,
                                     tensorboard_dir=layout.tensorboard_dir / name)
        tuner = tune.Tuner(trainable, param_space=space, tune_config=tune_config,
                           run_config=run_config)
    tuner.fit()
    frame = trials_frame(tune.ExperimentAnalysis(path).trials, settings.epochs,
                         settings.objective, settings.space)
    folder = layout.round_folder(round_number)
    frame.drop(columns=["config_key"], errors="ignore").to_csv(folder / "trials.csv",
                                                               index=False)
    layout.push(str((folder / "trials.csv").relative_to(layout.root)))


def run_rounds(layout: StudyLayout, settings: StudySettings, search: pd.DataFrame,
               data: StudyArrays, netb_settings: NetworkSettings, netb_options: dict[str, Any],
               backbone_state: dict[str, torch.Tensor] | None, resources: Resources) -> bool:
    """Rounds ``2..settings.rounds``; True when every round finished every seed."""
    chosen = choose_configuration(layout, settings, search)
    if chosen is None:
        print("Rounds skipped: no centroid-method configuration of the search finished.")
        return False
    print(f"Block-component rounds 2..{settings.rounds} on configuration "
          f"{chosen['configuration']} ({chosen['rule']}), seeds {chosen['repeats']}")
    for round_number in range(2, settings.rounds + 1):
        previous = previous_weights(layout, round_number, chosen)
        missing = sorted(set(chosen["repeats"]) - set(previous))
        if missing:
            print(f"Round {round_number} not started: round {round_number - 1} has no "
                  f"finished trial for seed(s) {missing}; resume to finish it.")
            return False
        first = previous[min(previous)]
        z = netb_round(layout, round_number, data, netb_settings, netb_options, chosen,
                       first, backbone_state, resources)
        trainable = make_trainable(data, z, backbone_state, resources, previous=previous)
        neta_round(layout, settings, round_number, trainable, resources, chosen)
    table = rounds_table(layout, settings, chosen)
    table.to_csv(layout.rounds_csv, index=False)
    layout.push(layout.rounds_csv.name)
    print("\n" + rounds_summary(table))
    seeds = dict(zip(table["round"], table["seeds"], strict=True))  # finished, per round
    return all(seeds.get(r, 0) == len(chosen["repeats"]) for r in range(2, settings.rounds + 1))


#: The NetA figures per round: accuracies at the selected epoch and Table VII's distance.
ROUND_METRICS = (f"selected_{TARGET}_video_acc", f"selected_{HELDOUT}_video_acc",
                 f"selected_{SOURCE}_video_acc", "selected_centroid_distance_mean")


def rounds_table(layout: StudyLayout, settings: StudySettings,
                 chosen: dict[str, Any]) -> pd.DataFrame:
    """One row per round: NetB's accuracies, how far its Z moved, and the chosen
    configuration's NetA figures (mean and 95% interval over its seeds) with Table VII's
    distance of NetA's source centroids from that round's Z, per class too."""
    rows = []
    for round_number in range(1, settings.rounds + 1):
        folder = _netb_dir(layout, round_number)
        if not (folder / "summary.json").exists():
            break
        netb = read_json(folder / "summary.json")["metrics"]
        row: dict[str, Any] = {"round": round_number,
                               "netb_target_video_acc": netb.get(f"{TARGET}_video_acc"),
                               "netb_heldout_video_acc": netb.get(f"{HELDOUT}_video_acc"),
                               "z_moved": (float(np.linalg.norm(
                                   centroids_of(layout, round_number)
                                   - centroids_of(layout, round_number - 1)))
                                   if round_number > 1 else 0.0)}
        results = [t.last_result or {} for t in round_trials(layout, round_number, chosen)]
        row["seeds"] = len(results)
        keys = [*ROUND_METRICS, *sorted({k for r in results for k in r
                                         if k.startswith("selected_centroid_distance/")})]
        for key in keys:
            values = [float(r.get(key, np.nan)) for r in results]
            bounds = (0.0, 1.0) if key.endswith("_acc") else (0.0, math.inf)  # distances
            row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"] = mean_ci(
                values, bounds=bounds)
        rows.append(row)
    return pd.DataFrame(rows)


def rounds_summary(table: pd.DataFrame) -> str:
    """The rounds as the driver prints them."""
    return ("Rounds (the chosen configuration's seeds at their selected epoch; mean [95% CI] "
            "over seeds):\n" + rounds_shown(table).to_string(index=False))


def rounds_shown(table: pd.DataFrame) -> pd.DataFrame:
    """The rounds as people read them (the driver's summary, the report): NetB's accuracies,
    how far Z moved, and the chosen configuration's NetA, mean [95% CI] over its seeds."""
    shown = pd.DataFrame({"round": table["round"],
                          "NetB target video acc": table["netb_target_video_acc"].map(_number),
                          "NetB held-out video acc": table["netb_heldout_video_acc"].map(
                              _number),
                          "Z moved since last round": table["z_moved"].map(_number),
                          "NetA seeds": table["seeds"]})
    labels = {f"selected_{TARGET}_video_acc": "NetA target video acc (best epoch)",
              f"selected_{HELDOUT}_video_acc": "NetA held-out video acc (selected epoch)",
              f"selected_{SOURCE}_video_acc": "NetA source video acc (selected epoch)",
              "selected_centroid_distance_mean": "Table VII mean distance"}
    for key, label in labels.items():
        if f"{key}_mean" in table:
            shown[label] = [format_ci(row[f"{key}_mean"], row[f"{key}_low"], row[f"{key}_high"])
                            for _, row in table.iterrows()]
    return shown


def _number(value: Any) -> str:
    return "-" if value is None or not np.isfinite(float(value)) else f"{float(value):.3f}"
