"""Defaults of the study command line: the one place that defines each of them."""

from __future__ import annotations

STORAGE_PATH = "results"
SPACE = "paper"
METRIC = "target_video_acc"
#: What a valence-arousal study (--task va) maximises: the mean CCC of the selection split's
#: frames, the AVEC / Aff-Wild metric.
VA_METRIC = "target_frame_ccc"
#: Fraction of the target videos held out (stratified, seeded) when there is no --test-split.
TARGET_HOLDOUT = 0.3
#: The embedded data set's held-out split.
EMBEDDED_TEST_SPLIT = "Test"
REPEATS = 1       # seeds per configuration (separate Ray trials)
CONFIRM_TOP = 0   # configurations re-run with --repeats seeds after the search
ROUNDS = 1        # block-component rounds; 1 is the paper's NetB -> Z -> NetA
TRIALS = 8
EPOCHS = 3           # each epoch is frames/64 steps of random crops (trainables/sequences.py)
NETB_EPOCHS = 30     # a cap: NetB stops earlier once it fits its split (plateau)
SOURCE_SPLIT = "Train"
TARGET_SPLIT = "Val"
SEED = 0
CPUS_PER_TRIAL = 1.0
GPUS_PER_TRIAL = 1.0
SCHEDULERS = ("fifo", "asha")
SCHEDULER = "fifo"
MAX_FAILURES = 2
DASHBOARD_HOST = "127.0.0.1"
