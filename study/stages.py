"""The driver's two preparatory stages, run as Ray tasks so that on a cluster they land
on GPU nodes: frozen-CNN feature extraction (sharded over the study's GPUs) and NetB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import ray
import torch
from ray.experimental import tqdm_ray
from tqdm.auto import tqdm

from study.layout import StudyLayout, read_json, write_json
from study.tensorboard import log_netb
from trainables.backbones import build_backbone
from trainables.config import HELDOUT, LEARNED_MARGIN, TARGET
from trainables.data import SplitData
from trainables.engine import StudyArrays
from trainables.errors import UserInputError
from trainables.features import (
    backbone_fingerprint,
    extract_features,
    feature_cache_path,
    load_features,
    save_features,
)
from trainables.netb import NetBResult, train_netb
from trainables.network import NetworkSettings
from trainables.probe import linear_probe


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


@dataclass
class Backbone:
    """The frozen CNN, its weights (shipped to tasks through the object store) and key."""

    name: str
    state: dict[str, torch.Tensor]
    key: str
    trainable: bool
    image_size: int

    @classmethod
    def build(cls, name: str, weights: str | None, trainable: bool, seed: int,
              image_size: int) -> Backbone:
        torch.manual_seed(seed)  # an un-pretrained backbone is still the same in every run
        module = build_backbone(name, weights, trainable=trainable or None)
        state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
        return cls(name, state, backbone_fingerprint(module, image_size), trainable, image_size)

    def module(self) -> torch.nn.Module:
        module = build_backbone(self.name, trainable=None)
        module.load_state_dict(self.state)
        return module


@ray.remote
def _extract_shard(backbone: Backbone, frames: np.ndarray, label: str) -> np.ndarray:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return extract_features(backbone.module(), frames, device=device,
                            progress=partial(tqdm_ray.tqdm, desc=label))


def split_features(split: SplitData, backbone: Backbone, resources: Resources) -> np.ndarray:
    """Features of one split: from the cache, else computed and cached (fp16, memory-mapped).

    With GPUs the frames are sharded over one Ray task per GPU; on CPUs the driver
    computes them itself, with a progress bar.
    """
    path = feature_cache_path(split.cache_key, backbone.key)
    cached = load_features(path)
    if cached is not None:
        return cached
    label = f"CNN features ({split.split})"
    if resources.gpus > 0:
        shards = np.array_split(np.arange(split.num_frames), resources.gpus)
        backbone_ref = ray.put(backbone)
        refs = [_extract_shard.options(num_gpus=1, num_cpus=1).remote(
            backbone_ref, np.asarray(split.frames[s[0]:s[-1] + 1]), f"{label} {i}")
            for i, s in enumerate(shards) if len(s)]
        features = np.concatenate(ray.get(refs))
    else:
        bar = partial(tqdm, desc=label, unit="batch", disable=not resources.progress)
        features = extract_features(backbone.module(), split.frames, progress=bar)
    save_features(path, features)
    return load_features(path)


def features_by_role(splits: dict[str, SplitData], backbone: Backbone,
                     resources: Resources) -> dict[str, np.ndarray | None]:
    """Cached CNN features of every split, or None for each when the CNN trains."""
    return {role: None if backbone.trainable else split_features(split, backbone, resources)
            for role, split in splits.items()}


def _epoch_bar(epochs: int, desc: str) -> Iterator[int]:
    """Epoch numbers, with a bar on the driver's console that is closed when done."""
    bar = tqdm_ray.tqdm(total=epochs, desc=desc)
    try:
        for epoch in range(epochs):
            yield epoch
            bar.update(1)
    finally:
        bar.close()


@ray.remote
def _netb_task(data: StudyArrays, settings: NetworkSettings, options: dict[str, Any],
               backbone_state: dict[str, torch.Tensor] | None, show_progress: bool) -> NetBResult:
    progress = partial(_epoch_bar, desc="NetB epochs") if show_progress else range
    return train_netb(data, settings, backbone_state=backbone_state, progress=progress, **options)


def netb_stage(layout: StudyLayout, data: StudyArrays, settings: NetworkSettings,
               options: dict[str, Any], backbone_state: dict[str, torch.Tensor] | None,
               resources: Resources) -> np.ndarray:
    """NetB's centroids Z: reused from the study folder, or trained in a Ray task and saved.

    ``summary.json`` is written last and marks a complete NetB.
    """
    if layout.netb_summary.exists() and layout.centroids_file.exists():
        print(f"Reusing NetB from {layout.display_root}/netb")
        return np.asarray(read_json(layout.centroids_file)["centroids"], dtype=np.float32)
    task = _netb_task.options(num_gpus=resources.task_gpus, num_cpus=options["threads"])
    result: NetBResult = ray.get(task.remote(data, settings, options, backbone_state,
                                             resources.progress))
    summary = {**result.summary, "probe": probe_accuracies(data, options["seed"])}
    layout.netb_dir.mkdir(parents=True, exist_ok=True)
    torch.save(result.state_dict, layout.netb_weights)
    write_json(layout.centroids_file, result.centroids.to_dict())
    log_netb(layout.tensorboard_dir, result.history)
    write_json(layout.netb_summary, {**summary, "history": result.history})
    layout.push("netb", "tensorboard")
    print(netb_line(summary))
    return result.centroids.centroids


def probe_accuracies(data: StudyArrays, seed: int) -> dict[str, float]:
    """The linear probe on NetB's data (fitted on the target part), or {} on frames."""
    if data.kind != "features":
        return {}
    others = {role: arrays for role, arrays in data.roles().items() if role != TARGET}
    return linear_probe(data.target, others, train_role=TARGET, seed=seed)


def netb_line(summary: dict[str, Any]) -> str:
    """NetB's accuracies against chance and the linear probe, in one line."""
    metrics, chance, probe = summary["metrics"], summary["chance"], summary.get("probe", {})
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


def check_netb_learned(layout: StudyLayout, force: bool) -> None:
    """Stop before the trials when NetB has not learned: its centroids would be noise."""
    summary = read_json(layout.netb_summary)
    if summary.get("learned", True):
        return
    metrics, chance = summary["metrics"], summary["chance"]
    message = (f"NetB has not learned its own split: target video accuracy "
               f"{metrics['target_video_acc']:.3f} is within {LEARNED_MARGIN:g} of chance "
               f"({chance['target_video_acc']:.3f}), so its centroids Z are meaningless")
    if force:
        print(f"WARNING: {message}; going on because of --force.", flush=True)
        return
    raise UserInputError(f"{message}; check the data, raise --netb-epochs, or pass --force to "
                         f"run the trials anyway")
