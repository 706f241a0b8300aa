"""Optuna search spaces, one small module each.

A space module defines ``DESCRIPTION`` and ``define(trial) -> dict``: a define-by-run
function that suggests the searched parameters on an :class:`optuna.trial.Trial` and
returns the settings it holds fixed. It may also define ``sampler(seed)`` (default:
a seeded TPE sampler) and ``DEFAULT_TRIALS``. Adding a space is adding a file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import optuna

from trainables.errors import UserInputError


def available() -> list[str]:
    """Names of the space modules in this package."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.ispkg)


def load(name: str) -> ModuleType:
    """The space module called ``name``; an unknown name lists the known ones."""
    if name not in available():
        raise UserInputError(
            f"unknown search space {name!r}; choose one of: {', '.join(available())} "
            f"(or add search_spaces/{name}.py)")
    return importlib.import_module(f"{__name__}.{name}")


def sampler_for(space: ModuleType, seed: int) -> optuna.samplers.BaseSampler:
    """The space's own sampler, or TPE seeded for a reproducible search."""
    if hasattr(space, "sampler"):
        return space.sampler(seed)
    return optuna.samplers.TPESampler(seed=seed)
