"""The study's data in its three roles: source, target (selection) and held-out target.

Held-out videos come from ``--test-split`` when there is one (the embedded set's Test
split by default), or else from ``--target-holdout`` of the target videos, stratified by class
and seeded by the study's seed. NetB trains and clusters on the target part; trials are
selected on it; the held-out videos are scored every epoch and never used for any choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import train_test_split

from study.settings import StudySettings
from trainables.config import HELDOUT, SOURCE, TARGET
from trainables.data import SplitData, load_split, load_va_split
from trainables.engine import SplitArrays, StudyArrays
from trainables.errors import UserInputError
from trainables.synthetic import DEFAULT_SPLITS, embedded_dataset
from trainables.synthetic_va import embedded_va_dataset
from trainables.va_annotations import read_va_manifest, scan_va_split
from trainables.video_listing import VideoRecord, read_manifest, scan_split

if TYPE_CHECKING:  # study.inputs imports torch; the type is all that is needed here
    from study.inputs import Backbone

EMBEDDED_DATA_SEED = 0
SPLIT_FLAGS = {SOURCE: "--source-split", TARGET: "--target-split", HELDOUT: "--test-split"}


def data_root(settings: StudySettings) -> Path:
    """The folder the splits are read from (the embedded set is generated on first use)."""
    if _is_embedded(settings):
        if settings.task == "va":
            return embedded_va_dataset(seed=EMBEDDED_DATA_SEED)
        return embedded_dataset(seed=EMBEDDED_DATA_SEED)
    return Path(settings.data_root or Path(settings.manifest).parent)


def split_names(settings: StudySettings) -> dict[str, str]:
    """Role -> split name, for the splits the study reads."""
    names = {SOURCE: settings.source_split, TARGET: settings.target_split,
             HELDOUT: settings.test_split}
    return {role: name for role, name in names.items() if name is not None}


def _is_embedded(settings: StudySettings) -> bool:
    return settings.data_root is None and settings.manifest is None


def check_split_names(settings: StudySettings) -> None:
    """Costs nothing: one split per role, and for the embedded set (not generated yet,
    perhaps) only the splits it has."""
    names = split_names(settings)
    seen_split: dict[str, str] = {}
    for role, name in names.items():
        if name.lower() in seen_split:
            other = seen_split[name.lower()]
            raise UserInputError(f"{SPLIT_FLAGS[other]} and {SPLIT_FLAGS[role]} both name the "
                                 f"split {name!r}: a video may have one role only; pick "
                                 f"different splits")
        seen_split[name.lower()] = role
        if _is_embedded(settings) and name not in DEFAULT_SPLITS:
            raise UserInputError(f"{SPLIT_FLAGS[role]} {name!r}: the embedded data set has the "
                                 f"splits {', '.join(DEFAULT_SPLITS)}; pick one, or pass "
                                 f"--data-root")


def check_splits(settings: StudySettings) -> None:
    """Before any data work: the split names, and with --data-root or --manifest the
    folders and roles of every video (a directory listing, no decoding)."""
    check_split_names(settings)
    if not _is_embedded(settings):
        check_roles(settings, data_root(settings))


def check_roles(settings: StudySettings, root: Path) -> None:
    """Before decoding anything: refuse a video in two roles (a repeated split name, or a
    manifest listing it twice), since a held-out or selection figure on training videos is
    not held out; and a --target-holdout the target split is too small for."""
    check_split_names(settings)
    names = split_names(settings)
    owner: dict[Path, str] = {}
    for role, name in names.items():
        records = list_videos(settings, root, name)
        if (role == TARGET and HELDOUT not in names and settings.target_holdout > 0
                and settings.task != "va"):
            labels = np.array([record.label for record in records], dtype=np.int64)
            check_holdout_possible(labels, settings.target_holdout, settings.classes)
        for record in records:
            folder = record.directory.resolve()
            if folder in owner:
                raise UserInputError(f"video {folder} is in both the {owner[folder]} split "
                                     f"{names[owner[folder]]!r} and the {role} split {name!r}; "
                                     f"a video may have one role only: fix the data")
            owner[folder] = role


def list_videos(settings: StudySettings, root: Path, split: str) -> list[VideoRecord]:
    """A split's videos (a directory listing; valence-arousal annotations are read and
    checked too, a cheap step before any decoding)."""
    if settings.task == "va":
        if settings.manifest is not None:
            return read_va_manifest(Path(settings.manifest), split)
        return scan_va_split(root, split)
    if settings.manifest is not None:
        return read_manifest(settings.manifest, split, settings.classes)
    return scan_split(root, split, settings.classes)


def load_data(settings: StudySettings, progress: bool) -> dict[str, SplitData]:
    """Decode (or read from the frame cache) the splits, after checking their roles."""
    root = data_root(settings)
    check_roles(settings, root)
    if settings.task == "va":
        return {role: load_va_split(root, name, manifest=settings.manifest, progress=progress)
                for role, name in split_names(settings).items()}
    return {role: load_split(root, name, settings.classes, manifest=settings.manifest,
                             progress=progress)
            for role, name in split_names(settings).items()}


def check_holdout_possible(video_labels: np.ndarray, fraction: float,
                           classes: tuple[str, ...]) -> None:
    """Stratified hold-out needs two videos of every class (one kept, one held out)."""
    counts = np.bincount(video_labels, minlength=len(classes))
    if counts.min() < 2:
        scarce = classes[int(np.argmin(counts))]
        raise UserInputError(f"--target-holdout {fraction:g} needs at least 2 target videos of "
                             f"every class, but {scarce} has {counts.min()}; pass "
                             f"--test-split, or --target-holdout 0 (the paper's protocol)")


def holdout_videos(video_labels: np.ndarray, fraction: float, seed: int,
                   classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) video indices: ``fraction`` of the videos, stratified by class."""
    check_holdout_possible(video_labels, fraction, classes)
    kept, held = train_test_split(np.arange(len(video_labels)), test_size=fraction,
                                  random_state=seed, stratify=video_labels)
    if len(np.unique(video_labels[kept])) < len(classes):
        raise UserInputError(f"--target-holdout {fraction:g} leaves a class without target "
                             f"videos to train NetB on; lower it")
    return np.sort(kept), np.sort(held)


def study_arrays(splits: dict[str, SplitData], features: dict[str, np.ndarray | None],
                 settings: StudySettings) -> StudyArrays:
    """Splits as trials consume them (cached CNN features, or frames if the CNN trains),
    with the held-out videos taken out of the target split when there is no test split."""
    arrays = {role: SplitArrays.from_split(split, features[role])
              for role, split in splits.items()}
    if HELDOUT not in arrays and settings.target_holdout > 0:
        target = arrays[TARGET]
        if settings.task == "va":  # continuous labels: a seeded split, not stratified
            kept, held = train_test_split(np.arange(len(target.video_labels)),
                                          test_size=settings.target_holdout,
                                          random_state=settings.seed)
            kept, held = np.sort(kept), np.sort(held)
        else:
            kept, held = holdout_videos(target.video_labels, settings.target_holdout,
                                        settings.seed, target.classes)
        arrays[TARGET] = target.subset(kept, target.name)
        arrays[HELDOUT] = target.subset(held, f"{target.name} (held out)")
    return StudyArrays(**arrays)


def protocol(settings: StudySettings) -> str:
    """One line saying where selection and held-out figures come from (and, for valence and
    arousal, how they become classes and centroids)."""
    where = _where(settings)
    if settings.task != "va":
        return where
    grid = settings.va_grid
    return (f"{where}; valence-arousal on a {grid}x{grid} grid ({grid * grid} classes), "
            f"Z = cell means of NetB's representations (k-means with k = {grid * grid} is "
            f"unstable on sparse cells), cells without target frames dropped, predictions by "
            f"the {settings.va_rule} rule, selection on {settings.metric}")


def _where(settings: StudySettings) -> str:
    if settings.test_split is not None:
        return (f"selection on {settings.target_split!r}, held-out figures on the test split "
                f"{settings.test_split!r}")
    if settings.target_holdout > 0:
        return (f"selection on {1 - settings.target_holdout:.0%} of {settings.target_split!r}, "
                f"held-out figures on the other {settings.target_holdout:.0%} (stratified, "
                f"seed {settings.seed})")
    return (f"selection and figures on {settings.target_split!r} itself: selected on the "
            f"evaluation split (optimistic), the paper's protocol")


def fingerprint(splits: dict[str, SplitData], backbone: Backbone) -> dict[str, Any]:
    """What must not change under a study: the decoded data and the CNN's weights."""
    return {"data": {role: split.cache_key for role, split in splits.items()},
            "backbone": backbone.key}


def check_unchanged(stored: dict[str, Any], current: dict[str, Any]) -> None:
    old = stored.get("fingerprint", {})
    for role, key in current["data"].items():
        if old.get("data", {}).get(role) != key:
            raise UserInputError(f"the {role} data changed since this study started; restore "
                                 f"it, or start a new study under another --name")
    if old.get("backbone") != current["backbone"]:
        raise UserInputError("the backbone weights changed since this study started; restore "
                             "them, or start a new study under another --name")
