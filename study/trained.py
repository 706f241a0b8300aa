"""A study's trained NetA, opened to be applied: ``python -m study.predict`` and
``python -m study.export``.

The study is found and read as the report reads it (:mod:`study.report.loading`); the trial is
the one named, or the best configuration's (``best.json``; with ``--repeats``, its first
seed); its kept checkpoint holds the weights of its selected epoch; Z is NetB's; the frozen CNN
is the study's own (:meth:`study.inputs.Backbone.for_study`), refused if it no longer matches
the fingerprint in ``study.json``. Everything that can be wrong is found here, before any
frame is decoded, and said in one line (:class:`~trainables.errors.UserInputError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from study import defaults
from study.cli import OneLineParser
from study.inputs import Backbone
from study.layout import read_json, relative
from study.report.evaluator import Evaluator
from study.report.loading import find_study, load_study
from study.report.records import Study, TrialRecord
from trainables.config import DEFAULT_METHOD
from trainables.errors import UserInputError
from trainables.neta import trial_lam, trial_method, trial_normalisation, trial_tau
from trainables.network import NetworkSettings


def add_study_flags(parser: OneLineParser) -> None:
    """``--name``, ``--storage-path`` and ``--trial``: which study and trial to apply."""
    parser.add_argument("--name", required=True, help="the study's name (its folder)")
    parser.add_argument("--storage-path", default=defaults.STORAGE_PATH,
                        help=f"folder or URI holding the study [{defaults.STORAGE_PATH}]")
    parser.add_argument("--trial", help="a trial id [the best configuration's trial, "
                                        "best.json; with --repeats its first seed]")


def check_output(parser: OneLineParser, flag: str, path: Path) -> None:
    """A file to (over)write: its folder must exist, and it must not be a folder itself."""
    if path.is_dir():
        parser.error(f"{flag} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        parser.error(f"{flag} {path}: its folder {path.parent} does not exist")


@dataclass
class TrainedTrial:
    """A trial's kept checkpoint with what scoring it needs; ``choice`` says which and why."""

    study: Study
    trial: TrialRecord
    choice: str
    backbone: Backbone
    evaluator: Evaluator

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.study.settings.classes)

    @property
    def network_settings(self) -> NetworkSettings:
        return NetworkSettings.from_config(self.trial.config)

    @property
    def lam(self) -> float:
        """lam of eq. (9) in the trial's predictions (1 for a method other than the paper's)."""
        return trial_lam(self.trial.config)

    @property
    def normalisation(self) -> str:
        return trial_normalisation(self.trial.config)

    @property
    def tau(self) -> float:
        return trial_tau(self.trial.config)

    def describe(self) -> str:
        """One line: the trial, its loss settings and window length."""
        return (f"{self.choice}; selected epoch {self.trial.selected_epoch}, lam "
                f"{self.lam:.4g}, {self.normalisation} f, tau {self.tau:g}, windows of "
                f"{self.network_settings.seq_len} frames")


def _best_trial(study: Study) -> tuple[str, str]:
    """(trial id, why) of best.json's configuration: its first seed when it has several."""
    best_file = study.layout.best_file
    if not best_file.exists():
        raise UserInputError(f"study {study.layout.name!r} has no best trial yet "
                             f"({relative(best_file)} is missing: no trial has finished an "
                             f"epoch); wait for it, or name a trial with --trial")
    best = read_json(best_file)
    trial_ids = list(best.get("trial_ids") or [best.get("trial_id")])
    if not trial_ids or trial_ids[0] is None:
        raise UserInputError(f"{relative(best_file)} names no trial; name one with --trial")
    if len(trial_ids) == 1:
        return trial_ids[0], f"trial {trial_ids[0]}, the best configuration (best.json)"
    return trial_ids[0], (f"trial {trial_ids[0]}, the first of the {len(trial_ids)} seeds of "
                          f"the best configuration {best.get('configuration')} (best.json: "
                          f"{', '.join(trial_ids)}; --trial picks another seed)")


def choose_trial(study: Study, trial_id: str | None) -> tuple[TrialRecord, str]:
    """The trial named by ``--trial`` (its id, or its folder ``trial_<id>``), else the best."""
    why = ""
    if trial_id is None:
        trial_id, why = _best_trial(study)
    wanted = trial_id.removeprefix("trial_")
    trial = next((t for t in study.trials if t.trial_id == wanted), None)
    if trial is None:
        known = ", ".join(t.trial_id for t in study.trials) or "none yet"
        raise UserInputError(f"study {study.layout.name!r} has no trial {trial_id!r} (its "
                             f"trials: {known}); pick one of them with --trial")
    if trial.checkpoint is None:
        state = ("it has not finished an epoch yet" if trial.selected is None else
                 f"the checkpoint of its selected epoch ({trial.selected_epoch}) is not on disk")
        raise UserInputError(f"trial {trial.trial_id} ({trial.status}) has no checkpoint to "
                             f"apply: {state}; pick another with --trial")
    if trial_method(trial.config) == DEFAULT_METHOD and (
            "lam" not in trial.config or "normalisation" not in trial.config):
        raise UserInputError(f"trial {trial.trial_id}'s config ({relative(trial.path)}/"
                             f"params.json) lacks lam or normalisation")
    return trial, why or f"trial {trial.trial_id} (--trial)"


def open_trained(storage_path: str, name: str, trial_id: str | None) -> TrainedTrial:
    """The study's trained NetA (see the module's docstring); one-line errors."""
    study = load_study(find_study(storage_path, name))
    if study.settings.task == "va":  # their outputs are cells and (valence, arousal) rows
        raise UserInputError(f"study {name!r} is a valence-arousal study (--task va): predict "
                             f"and export handle emotion-class studies only so far; its report "
                             f"(python -m study.report) re-scores its checkpoints")
    trial, why = choose_trial(study, trial_id)
    centroids = study.layout.centroids_file
    if not centroids.exists():
        raise UserInputError(f"NetB's centroids Z ({relative(centroids)}) are missing: the "
                             f"study's NetB never finished")
    backbone = Backbone.for_study(study.settings)
    if backbone.key != study.stored.get("fingerprint", {}).get("backbone"):
        raise UserInputError(f"the backbone weights {study.settings.backbone_weights or ''} "
                             f"are not those study {name!r} was trained with (its study.json "
                             f"fingerprint); restore them")
    evaluator = Evaluator(study, backbone_state=backbone.state if backbone.trainable else None)
    return TrainedTrial(study, trial, f"Study {name!r}: {why}", backbone, evaluator)
