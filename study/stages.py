"""The driver's two preparatory stages, run as Ray tasks so that on a cluster they land
on GPU nodes: frozen-CNN feature extraction (sharded over the study's GPUs) and NetB."""

from __future__ import annotations

from typing import Any

import numpy as np
import ray
import torch
from ray.experimental import tqdm_ray
from ray.util.queue import Queue
from tqdm.auto import tqdm

from study.cluster import Resources
from study.inputs import Backbone, FeatureMaker, features_here
from study.layout import StudyLayout, read_json, write_json
from study.tensorboard import log_netb
from trainables.config import HELDOUT, LEARNED_MARGIN, TARGET, VA_LEARNED_CCC
from trainables.data import SplitData
from trainables.dimensional import is_dimensional
from trainables.engine import StudyArrays
from trainables.errors import UserInputError
from trainables.features import extract_features
from trainables.netb import NetBResult, train_netb
from trainables.network import NetworkSettings
from trainables.probe import linear_probe

#: Seconds between the driver's looks at NetB's finished epochs.
NETB_POLL_S = 0.5


@ray.remote
def _extract_shard(backbone: Backbone, frames: np.ndarray, label: str) -> np.ndarray:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return extract_features(backbone.module(), frames, device=device,
                            progress=lambda batches: tqdm_ray.tqdm(batches, desc=label))


def feature_maker(resources: Resources) -> FeatureMaker:
    """How the driver computes uncached CNN features: with GPUs, sharded over one Ray task
    per GPU; on CPUs on the driver itself, with a progress bar."""
    if resources.gpus == 0:
        return features_here(resources.progress)

    def on_gpus(split: SplitData, backbone: Backbone) -> np.ndarray:
        label = f"CNN features ({split.split})"
        shards = np.array_split(np.arange(split.num_frames), resources.gpus)
        backbone_ref = ray.put(backbone)
        refs = [_extract_shard.options(num_gpus=1, num_cpus=1).remote(
            backbone_ref, np.asarray(split.frames[s[0]:s[-1] + 1]), f"{label} {i}")
            for i, s in enumerate(shards) if len(s)]
        return np.concatenate(ray.get(refs))
    return on_gpus


@ray.remote
def _netb_task(data: StudyArrays, settings: NetworkSettings, options: dict[str, Any],
               backbone_state: dict[str, torch.Tensor] | None, epochs: Queue | None
               ) -> NetBResult:
    on_epoch = None if epochs is None else epochs.put
    return train_netb(data, settings, backbone_state=backbone_state, on_epoch=on_epoch,
                      **options)


def _await_netb(result: ray.ObjectRef, epochs: Queue | None, cap: int) -> Any:
    """The NetB task's result; meanwhile one bar on the driver's console, a step per finished epoch.

    The bar lives here, not in the task: a bar drawn by a Ray worker carries a ``(pid=...)``
    prefix and Ray's fractional counts.
    """
    if epochs is None:
        return ray.get(result)
    with tqdm(total=cap, desc="NetB", unit="epoch") as bar:
        while True:
            done, _ = ray.wait([result], timeout=NETB_POLL_S)
            for row in epochs.get_nowait_batch(epochs.qsize()):
                bar.update(1)
                bar.set_postfix(frame_acc=f"{row['target_frame_acc']:.3f}",
                                video_acc=f"{row['target_video_acc']:.3f}")
            if done:
                return ray.get(result)


def run_netb_task(function: Any, resources: Resources, options: dict[str, Any],
                  *args: Any) -> Any:
    """``function`` (a Ray task training a NetB, whose last argument is the queue of its
    finished epochs) run on the study's NetB resources, with the driver's progress bar."""
    epochs = Queue(actor_options={"num_cpus": 0}) if resources.progress else None
    task = function.options(num_gpus=resources.task_gpus, num_cpus=options["threads"])
    result = _await_netb(task.remote(*args, epochs), epochs, options["epochs"])
    if epochs is not None:
        epochs.shutdown()
    return result


def netb_stage(layout: StudyLayout, data: StudyArrays, settings: NetworkSettings,
               options: dict[str, Any], backbone_state: dict[str, torch.Tensor] | None,
               resources: Resources) -> tuple[np.ndarray, np.ndarray | None]:
    """NetB's centroids Z and, in a valence-arousal study, its representations U of the
    target frames (each trial makes Z for its own grid from them): reused from the study
    folder, or trained in a Ray task and saved.

    ``summary.json`` is written last and marks a complete NetB.
    """
    representations_file = layout.netb_representations
    if layout.netb_summary.exists() and layout.centroids_file.exists():
        print(f"Reusing NetB from {layout.display_root}/netb")
        kept = np.load(representations_file) if representations_file.exists() else None
        return (np.asarray(read_json(layout.centroids_file)["centroids"], dtype=np.float32),
                kept)
    result = run_netb_task(_netb_task, resources, options, data, settings, options,
                           backbone_state)
    probe = {} if is_dimensional(data) else probe_accuracies(data, options["seed"])
    summary = {**result.summary, "probe": probe}
    layout.netb_dir.mkdir(parents=True, exist_ok=True)
    torch.save(result.state_dict, layout.netb_weights)
    if result.representations is not None:
        np.save(representations_file, result.representations.astype(np.float32))
    write_json(layout.centroids_file, result.centroids.to_dict())
    log_netb(layout.tensorboard_dir, result.history)
    write_json(layout.netb_summary, {**summary, "history": result.history})
    layout.push("netb", "tensorboard")
    print(netb_line(summary))
    return result.centroids.centroids, result.representations


def probe_accuracies(data: StudyArrays, seed: int) -> dict[str, float]:
    """The linear probe on NetB's data (fitted on the target part), or {} on frames."""
    if data.kind != "features":
        return {}
    others = {role: arrays for role, arrays in data.roles().items() if role != TARGET}
    return linear_probe(data.target, others, train_role=TARGET, seed=seed)


def netb_line(summary: dict[str, Any]) -> str:
    """NetB's accuracies against chance and the linear probe, in one line."""
    metrics, chance, probe = summary["metrics"], summary["chance"], summary.get("probe", {})
    if "va_grid" in summary:
        return va_netb_line(summary)
    parts = [f"NetB ({summary['epochs_run']} epochs, best {summary['best_epoch']}): "
             f"own split (target) video acc {metrics['target_video_acc']:.3f} "
             f"(chance {chance['target_video_acc']:.3f}"
             + (f", linear probe {probe['target_video_acc']:.3f})" if probe else ")"),
             f"cluster/label agreement {summary['cluster_agreement']:.3f} "
             f"(chance {chance['target_video_acc']:.3f})"]
    if f"{HELDOUT}_video_acc" in metrics:
        parts.append(f"held-out video acc {metrics['heldout_video_acc']:.3f}"
                     + (f" (probe {probe['heldout_video_acc']:.3f})" if probe else ""))
    parts.append(f"source video acc {metrics['source_video_acc']:.3f}")
    return ", ".join(parts)


def va_netb_line(summary: dict[str, Any]) -> str:
    """NetB of a valence-arousal study: its CCC and cell accuracy, and the dropped cells."""
    metrics, grid = summary["metrics"], summary["va_grid"]
    parts = [f"NetB ({summary['epochs_run']} epochs, best {summary['best_epoch']}): own split "
             f"(target) frame CCC {metrics['target_frame_ccc']:.3f} (valence "
             f"{metrics['target_frame_ccc_valence']:.3f}, arousal "
             f"{metrics['target_frame_ccc_arousal']:.3f}; chance 0), cell accuracy "
             f"{metrics['target_frame_acc']:.3f}"]
    if f"{HELDOUT}_frame_ccc" in metrics:
        parts.append(f"held-out frame CCC {metrics[f'{HELDOUT}_frame_ccc']:.3f}")
    parts.append(f"source frame CCC {metrics['source_frame_ccc']:.3f}")
    parts.append(f"Z: means of {grid * grid - summary['dropped_cells']} of the {grid * grid} "
                 f"cells; {summary['dropped_cells']} without target frames dropped")
    return ", ".join(parts)


def check_netb_learned(layout: StudyLayout, force: bool) -> None:
    """Stop before the trials when NetB has not learned: its centroids would be noise."""
    summary = read_json(layout.netb_summary)
    if summary.get("learned", True):
        return
    metrics, chance = summary["metrics"], summary["chance"]
    if "va_grid" in summary:
        message = (f"NetB has not learned its own split: target frame CCC "
                   f"{metrics['target_frame_ccc']:.3f} is below {VA_LEARNED_CCC:g}, so its "
                   f"centroids Z are meaningless")
    else:
        message = (f"NetB has not learned its own split: target video accuracy "
                   f"{metrics['target_video_acc']:.3f} is within {LEARNED_MARGIN:g} of chance "
                   f"({chance['target_video_acc']:.3f}), so its centroids Z are meaningless")
    if force:
        print(f"WARNING: {message}; going on because of --force.", flush=True)
        return
    raise UserInputError(f"{message}; check the data, raise --netb-epochs, or pass --force to "
                         f"run the trials anyway")
