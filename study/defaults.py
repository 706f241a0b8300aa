"""Defaults of the study command line: the one place that defines each of them."""

from __future__ import annotations

STORAGE_PATH = "results"
SPACE = "paper"
METRIC = "target_video_acc"
TRIALS = 8
EPOCHS = 6
NETB_EPOCHS = 6
SOURCE_SPLIT = "Train"
TARGET_SPLIT = "Val"
SEED = 0
CPUS_PER_TRIAL = 1.0
GPUS_PER_TRIAL = 1.0
SCHEDULERS = ("fifo", "asha")
SCHEDULER = "fifo"
MAX_FAILURES = 2
DASHBOARD_HOST = "127.0.0.1"
CENTROID_METHODS = ("kmeans", "mean")
