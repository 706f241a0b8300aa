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
BATCH_SIZE = 16            # sequences (windows) per optimisation step
#: A training epoch takes one random temporal crop per this many frames of each video
#: (trainables/sequences.py crop_windows), so long windows do not starve training of steps:
#: with BATCH_SIZE windows a step, an epoch has frames / 64 steps, as many as a per-frame
#: epoch at batch 64 (issue #9 measured the tiled windows at a third of that, and slower).
FRAMES_PER_CROP = 4
#: A network has learned its training split only if its video accuracy beats chance (the
#: majority class's share of videos) by at least this much.
LEARNED_MARGIN = 0.1
#: NetB stops when its own-split frame accuracy has not improved by MIN_DELTA for PATIENCE
#: epochs (or reaches FITTED), within its epoch cap, and keeps its best epoch.
NETB_PATIENCE = 2
NETB_MIN_DELTA = 0.005
NETB_FITTED = 0.99
#: Table VII's k-means on NetA's representations runs every this many epochs (and at the
#: last and at every newly selected epoch), not every epoch: it costs more than an epoch.
CENTROID_EVERY = 3
#: Seeds of a configuration's repeats are ``seed + REPEAT_SEED_STRIDE * repeat``.
REPEAT_SEED_STRIDE = 1000
#: Config key of a repeat's index: the key ray.tune.search.Repeater sets (its TRIAL_INDEX,
#: spelled out here so that the library needs no Ray; tests/study/test_search.py checks it).
REPEAT_KEY = "__trial_index__"
NORMALISATIONS: tuple[str, ...] = ("softmax", "linear")
#: tau of f = softmax(V / tau) (trainables.loss); 1 is the paper's eq. (8). Larger values keep
#: the softmax of 128-d squared distances (tens to a hundred) from saturating to one-hot.
DISTANCE_TEMPERATURE = 1.0
CELLS: tuple[str, ...] = ("gru", "blstm")
BACKBONES: tuple[str, ...] = ("small", "vgg16")
#: How frames reach the backbone: "paper" feeds [-1, 1] (Section IV-B); "vggface" feeds what
#: VGG-Face was trained on, 0-255 RGB pixels minus VGGFACE_MEAN_RGB (trainables.backbones).
INPUT_NORMS: tuple[str, ...] = ("paper", "vggface")
#: VGG-Face's training-set mean per colour (R, G, B), as its MatConvNet release records it.
VGGFACE_MEAN_RGB: tuple[float, float, float] = (129.1863, 104.7624, 93.5940)


def cache_root() -> Path:
    """Where decoded frames, features and the embedded data set live.

    ``EMOTION_STUDY_CACHE`` overrides the default (``$XDG_CACHE_HOME/emotion-study``).
    """
    explicit = os.environ.get("EMOTION_STUDY_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emotion-study"

#: Roles of the splits in a study (also metric prefixes): NetA's training split, the target
#: part that NetB trains on and trials are selected on, and the held-out target videos.
SOURCE, TARGET, HELDOUT = "source", "target", "heldout"
ROLES: tuple[str, ...] = (SOURCE, TARGET, HELDOUT)
#: Accuracies reported every epoch, at both levels.
TRACKED_ACCURACIES = tuple(
    f"{role}_{level}_acc" for role in ROLES for level in ("video", "frame")
)
#: Accuracies that may select an epoch or a trial (``best_<name>`` running maxima).
SELECTION_ACCURACIES = tuple(name for name in TRACKED_ACCURACIES if not name.startswith(HELDOUT))

#: How NetA is trained across the two data sets (``config["method"]``; absent = the paper's):
#: ``centroid`` is E_tot of eq. (9); ``source_only`` is E_a alone (eq. 5, lam = 1); the
#: others add to E_a an unsupervised alignment of source and target representations X
#: (trainables.alignment): Deep CORAL, multi-kernel MMD, or a domain classifier through
#: gradient reversal (DANN).
METHODS: tuple[str, ...] = ("centroid", "source_only", "coral", "mmd", "dann")
DEFAULT_METHOD = "centroid"
#: Methods that align source and target X with an extra loss, each with a weight (config
#: key ``<method>_weight``). Defaults are the published trade-offs: Deep CORAL (Sun & Saenko,
#: ECCV-W 2016) and DAN's MK-MMD (Long et al., ICML 2015) weight their loss 1 against the
#: classification loss; DANN (Ganin et al., JMLR 2016) weights the domain loss 1 and ramps
#: the reversed gradient's coefficient from 0 to 1 (trainables.alignment.dann_coefficient).
ALIGNMENT_WEIGHTS: dict[str, float] = {"coral": 1.0, "mmd": 1.0, "dann": 1.0}

#: What a study predicts: the paper's emotion categories, or valence and arousal per frame
#: (issue #14; the paper's Section V), discretised into a VA_GRID x VA_GRID grid of classes.
TASKS: tuple[str, ...] = ("classes", "va")
VA_GRID = 20
#: A trial's predicted (valence, arousal): the score-weighted mean of the cell centres
#: (``expected``) or the centre of the best cell (``argmax``); trainables.va.
VA_RULE = "expected"
#: The per-epoch figures of valence-arousal studies (trainables.va.va_metrics), by suffix:
#: Lin's concordance (CCC, the AVEC / Aff-Wild metric; ``ccc`` is the mean of the two
#: dimensions'), Pearson's correlation, RMSE, and cell accuracy (``acc``).
VA_SUFFIXES: tuple[str, ...] = (
    "ccc", "ccc_valence", "ccc_arousal", "pcc_valence", "pcc_arousal", "rmse_valence",
    "rmse_arousal")
TRACKED_VA = tuple(f"{role}_{level}_{suffix}" for role in ROLES for level in ("video", "frame")
                   for suffix in VA_SUFFIXES)
#: What may select in a VA study, besides the cell accuracies: the mean CCC (never held out).
SELECTION_VA = tuple(f"{role}_{level}_ccc" for role in (SOURCE, TARGET)
                     for level in ("frame", "video"))
SELECTION_METRICS = (*SELECTION_ACCURACIES, *SELECTION_VA)
#: A valence-arousal network has learned its training split only if its mean frame CCC there
#: is at least this (chance, a constant or unrelated prediction, has CCC 0).
VA_LEARNED_CCC = 0.1
