"""The settings that define a study, fixed when it starts and stored in ``study.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import search_spaces
from study import defaults
from trainables.config import BATCH_SIZE, DEFAULT_CLASSES, LEARNING_RATE, VA_GRID, VA_RULE
from trainables.errors import UserInputError


@dataclass(frozen=True)
class StudySettings:
    """What a study is: its data, search and model. Resources are not part of it."""

    data_root: str | None = None          # None: the embedded synthetic set
    manifest: str | None = None
    source_split: str = defaults.SOURCE_SPLIT
    target_split: str = defaults.TARGET_SPLIT
    test_split: str | None = None         # the held-out split; None: part of the target
    target_holdout: float = defaults.TARGET_HOLDOUT
    classes: tuple[str, ...] = DEFAULT_CLASSES
    trials: int = defaults.TRIALS
    epochs: int = defaults.EPOCHS
    netb_epochs: int = defaults.NETB_EPOCHS
    space: str = defaults.SPACE
    metric: str = defaults.METRIC
    objectives: tuple[str, ...] = ()      # two or more: a multi-objective search over them
    scheduler: str = defaults.SCHEDULER
    seed: int = defaults.SEED
    repeats: int = defaults.REPEATS
    confirm_top: int = defaults.CONFIRM_TOP
    rounds: int = defaults.ROUNDS         # block-component rounds (study.rounds); 1: the paper
    backbone: str = "small"
    backbone_weights: str | None = None
    input_norm: str = "paper"             # "vggface": VGG-Face's own input (trainables.backbones)
    train_backbone: bool = False
    batch_size: int = BATCH_SIZE
    lr: float = LEARNING_RATE
    paper_init: bool = False
    task: str = "classes"                 # "va": valence and arousal on a grid (issue #14)
    va_grid: int = VA_GRID                # G: a G x G grid of valence-arousal classes
    va_rule: str = VA_RULE                # scores -> (valence, arousal): expected or argmax

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> StudySettings:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in stored.items() if key in known}
        values["classes"] = tuple(values.get("classes", DEFAULT_CLASSES))
        values["objectives"] = tuple(values.get("objectives", ()))
        values.setdefault("target_holdout", 0.0)  # studies from before held-out videos
        return cls(**values)

    @property
    def objective(self) -> str:
        """What Optuna maximises: the best-so-far value of ``metric`` (with ``objectives``,
        the value Tune ranks trials and keeps checkpoints by)."""
        return f"best_{self.metric}"

    @property
    def optuna_metrics(self) -> list[str]:
        """What Optuna is told, all maximised: ``[objective]``, or the best-so-far value of
        each of ``objectives``."""
        return [f"best_{name}" for name in self.objectives] or [self.objective]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


def new_settings(typed: dict[str, Any]) -> StudySettings:
    """Settings of a new study: typed values over the defaults (the space's trial count).

    ``typed`` maps StudySettings fields to what the user typed (only those they typed).
    """
    given = dict(typed)
    check_task(given)
    space = search_spaces.load(given.get("space", defaults.SPACE))
    given.setdefault("trials", getattr(space, "DEFAULT_TRIALS", defaults.TRIALS))
    embedded = "data_root" not in given and "manifest" not in given
    if embedded and "test_split" not in given:
        given["test_split"] = defaults.EMBEDDED_TEST_SPLIT  # the embedded set's held-out split
    if "test_split" in given:
        if given.get("target_holdout"):
            raise UserInputError("--test-split and --target-holdout both choose the held-out "
                                 "videos; give one of them")
        given["target_holdout"] = 0.0  # the test split is the held-out set
    if len(given.get("classes", DEFAULT_CLASSES)) < 2:
        raise UserInputError("--classes needs at least two comma-separated class names")
    if given.get("input_norm", "paper") != "paper" and (
            given.get("backbone") != "vgg16" or not given.get("backbone_weights")):
        raise UserInputError(f"--input-norm {given['input_norm']} feeds frames as VGG-Face was "
                             f"trained on: it needs --backbone vgg16 and --backbone-weights "
                             f"with VGG-Face's weights")
    return StudySettings(**given)


def check_task(given: dict[str, Any]) -> None:
    """The valence-arousal flags go with ``--task va``, whose default metric is the mean CCC;
    a categorical study cannot select on a CCC it does not compute."""
    task = given.get("task", "classes")
    if task != "va":
        named = [f"--{key.replace('_', '-')}" for key in ("va_grid", "va_rule") if key in given]
        if named:
            raise UserInputError(f"{' and '.join(named)} only apply to valence-arousal studies; "
                                 f"add --task va")
        for key in ("metric", "objectives"):
            values = given.get(key, ())
            for name in (values,) if isinstance(values, str) else values:
                if name.endswith("_ccc"):
                    raise UserInputError(f"{name} is a valence-arousal figure; a study of "
                                         f"emotion categories selects on an accuracy (or add "
                                         f"--task va)")
        return
    if "classes" in given:
        raise UserInputError("--classes names emotion categories; a --task va study's classes "
                             "are the cells of its --va-grid")
    if given.get("rounds", 1) > 1:
        raise UserInputError("--rounds with --task va: the block-component rounds cluster "
                             "NetA's source representations by k-means, which is unstable with "
                             "one cluster per valence-arousal cell; run --task va with one round")
    given.setdefault("metric", defaults.VA_METRIC)


def resumed_settings(typed: dict[str, Any], stored: dict[str, Any]) -> StudySettings:
    """A resumed study keeps its settings; a typed value that differs is refused."""
    settings = StudySettings.from_dict(stored)
    current = settings.to_dict()
    for key, value in typed.items():
        if current[key] != value:
            flag = "--" + key.replace("_", "-")
            raise UserInputError(
                f"{flag} {value} differs from the study's {current[key]!r}; a resumed study "
                f"keeps its settings: drop {flag}, or start a new study under another --name")
    return settings


@dataclass(frozen=True)
class RunOptions:
    """How this run of a study goes: its folder, the cluster and what it may use of it, and
    the console. Unlike :class:`StudySettings`, these may change on ``--resume``."""

    name: str | None = None
    storage_path: str = defaults.STORAGE_PATH
    resume: bool = False
    address: str | None = None
    dashboard_host: str = defaults.DASHBOARD_HOST
    gpus: int | None = None
    gpus_per_trial: float = defaults.GPUS_PER_TRIAL
    cpus_per_trial: float = defaults.CPUS_PER_TRIAL
    max_failures: int = defaults.MAX_FAILURES
    progress: bool = True
    force: bool = False
    # An Optuna RDB storage URL (study.optuna_storage); it may hold a password: never stored.
    optuna_storage: str | None = field(default=None, repr=False)
