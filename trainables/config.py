"""Library-wide defaults: the one place that defines each of them.

Figures follow Section IV-A and Table I of Kollias & Zafeiriou (IJCNN 2018).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The paper's seven categories, in the class-index order used everywhere.
DEFAULT_CLASSES: tuple[str, ...] = (
    "Neutral", "Anger", "Disgust", "Fear", "Happy", "Sad", "Surprise",
)

IMAGE_SIZE = 96            # frames are resized to 96x96x3 (Section IV-B)
SEQUENCE_LENGTH = 80       # consecutive frames seen by the RNN (Section IV-A)
FC_UNITS = 4096            # block 6 of Table I
RNN_HIDDEN = 128           # blocks 7-8 of Table I; X is 128-d
DROPOUT = 0.5
LEARNING_RATE = 1e-3       # "a constant learning rate of 0.001"
PAPER_INIT_STD = 0.1 ** 0.5  # "Truncated Normal ... variance equal to 0.1"
PAPER_INIT_BIAS = 1.0
BATCH_SIZE = 8             # sequences per optimisation step
NORMALISATIONS: tuple[str, ...] = ("softmax", "linear")
CELLS: tuple[str, ...] = ("gru", "blstm")
BACKBONES: tuple[str, ...] = ("small", "vgg16")


def cache_root() -> Path:
    """Where decoded frames, features and the embedded data set live.

    ``EMOTION_STUDY_CACHE`` overrides the default (``$XDG_CACHE_HOME/emotion-study``).
    """
    explicit = os.environ.get("EMOTION_STUDY_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emotion-study"

#: Accuracies whose best-so-far value is reported as ``best_<name>``.
TRACKED_ACCURACIES = tuple(
    f"{role}_{level}_acc" for role in ("source", "target", "test") for level in ("video", "frame")
)
