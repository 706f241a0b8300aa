"""Which parameters a study's tables show: its search space's own.

A space suggests some parameters (the *searched* ones) and may hold others *fixed* (the
settings its ``define()`` returns); :func:`search_spaces.space_parameters` finds both. Every
table of trials or configurations (``trials.csv``, ``best.json``, TensorBoard's HParams, the
printed summary, Ray's trial table, the report's tables and search CSV) shows the searched
ones, then the fixed ones: the fixed values are what every trial shared, so a row reads whole.
What tells configurations of one study apart (the did-not-learn warning, the Pareto front's
labels, Optuna's importances) names the searched ones only. So a new space file's parameters
appear everywhere, with no other file edited.

A frame of trials carries its space's parameters in ``frame.attrs`` (as it carries its
objective), from :func:`study.outputs.trials_frame` to every table made from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from search_spaces import SpaceParameters, space_parameters
from study.settings import StudySettings
from trainables.config import REPEAT_KEY
from trainables.errors import UserInputError

#: Config key that tells the ``--confirm-top`` runs of one configuration apart.
CONFIRM_KEY = "confirm_configuration"
#: Config keys that tell seeds (and confirmation runs) of one configuration apart.
NOT_CONFIGURATION = (REPEAT_KEY, CONFIRM_KEY)
#: Where a frame keeps its :class:`SpaceParameters`.
ATTRS_KEY = "parameters"


def study_keys() -> frozenset[str]:
    """Config keys a trial gets from the study, not from its space: the settings every trial
    shares (:func:`study.search.fixed_config`) and the seed and confirmation indices."""
    from study.search import fixed_config  # imported here: study.search sits above outputs

    return frozenset([*fixed_config(StudySettings(), train_backbone=False, autocast=False),
                      *NOT_CONFIGURATION])


def from_configs(configs: Iterable[Mapping[str, Any]]) -> SpaceParameters:
    """The parameters as the trials' configs hold them, when the space is unknown (its file
    is gone, or the trials were made by hand): every key the study did not set, in the order
    first seen (a define-by-run config lists the suggested keys first), all taken as searched."""
    study = study_keys()
    names = dict.fromkeys(key for config in configs for key in config if key not in study)
    return SpaceParameters(tuple(names))


def of_space(space: str | None, configs: Iterable[Mapping[str, Any]] = ()) -> SpaceParameters:
    """The parameters of the space called ``space``; from ``configs`` when ``space`` is None
    or its module is no longer in ``search_spaces/``."""
    if space is not None:
        try:
            return space_parameters(space)
        except UserInputError:
            pass
    return from_configs(configs)


def attach(frame: pd.DataFrame, parameters: SpaceParameters) -> pd.DataFrame:
    """``frame``, carrying ``parameters`` (pandas keeps ``attrs`` through copies, sorts,
    selections and concatenations)."""
    frame.attrs[ATTRS_KEY] = parameters
    return frame


def of_frame(frame: pd.DataFrame) -> SpaceParameters:
    """The parameters ``frame`` carries (none when it was not made from trials)."""
    return frame.attrs.get(ATTRS_KEY) or SpaceParameters()

