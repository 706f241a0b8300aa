"""The frozen CNN's features, computed once per (frames, backbone weights, preprocessing).

The paper keeps the VGG conv layers fixed (Section IV-A), so a frame's CNN features
depend only on the frame and the weights: every trial would otherwise recompute them
every epoch. They are stored in float16 beside the frame cache and memory-mapped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainables.config import cache_root
from trainables.data import to_model_input
from trainables.io import atomic_path

FEATURE_BATCH = 256
FEATURES_VERSION = "features-v1"


def backbone_fingerprint(backbone: nn.Module, image_size: int) -> str:
    """Hex digest of the backbone's class, weights and input size."""
    digest = hashlib.sha256(f"{FEATURES_VERSION}:{type(backbone).__name__}:{image_size}".encode())
    for name, tensor in backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def feature_cache_path(frames_key: str, backbone_key: str, cache_dir: Path | None = None) -> Path:
    """Where the features of one decoded split under one backbone are stored."""
    base = Path(cache_dir) if cache_dir is not None else cache_root() / "features"
    return base / f"{frames_key[:20]}-{backbone_key[:20]}.npy"


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    frames: np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = FEATURE_BATCH,
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> np.ndarray:
    """Run the frozen backbone over (N, H, W, 3) uint8 frames -> (N, D) float16, batched."""
    device = device or torch.device("cpu")
    backbone = backbone.to(device).eval()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    chunks = []
    for start in progress(range(0, len(frames), batch_size)):
        batch = torch.from_numpy(np.array(frames[start:start + batch_size])).to(device)
        with autocast or torch.autocast("cpu", enabled=False):
            features = backbone(to_model_input(batch))
        chunks.append(features.float().cpu().numpy().astype(np.float16))
    return np.concatenate(chunks)


def save_features(path: Path, features: np.ndarray) -> None:
    """Store atomically: a killed run never leaves a half file that is later trusted."""
    with atomic_path(path, ".npy") as temporary:
        np.save(temporary, features)


def load_features(path: Path) -> np.ndarray | None:
    """The cached features as a read-only memory map, or None when absent."""
    return np.load(path, mmap_mode="r") if path.exists() else None
