"""Optuna search spaces, one small module each.

A space module defines ``DESCRIPTION`` and ``define(trial) -> dict``: a define-by-run
function that suggests the searched parameters on an :class:`optuna.trial.Trial` and
returns the settings it holds fixed. It may also define ``sampler(seed)`` (default:
a seeded TPE sampler whose random start-up is sized to the study's trials) and
``DEFAULT_TRIALS``. Adding a space is adding a file here: the parameters it suggests, then
those it holds fixed (:func:`space_parameters`), are the parameter columns of every output.

What a trial's config may hold (``trainables.neta``): ``method`` (one of
``trainables.config.METHODS``; absent: ``centroid``, the paper's), with ``lam`` and
``normalisation`` for ``centroid`` (and an optional ``tau``) or an optional
``<method>_weight`` for ``coral``, ``mmd`` and ``dann``; ``cell`` and ``seq_len`` always. A
parameter that a space suggests only on some branches is None in the other trials' configs.
"""

from __future__ import annotations

import functools
import importlib
import math
import pkgutil
from dataclasses import dataclass, field
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


#: Optuna's TPE samples its first ``n_startup_trials`` at random (10 unless told), so a
#: study of 8 trials with the default would be a pure random search.
TPE_DEFAULT_STARTUP = 10
TPE_MIN_STARTUP = 2


def startup_trials(trials: int) -> int:
    """TPE's random start-up for a budget of ``trials`` configurations: a third of them,
    at least 2 (TPE needs some history to model) and at most Optuna's default 10."""
    return max(TPE_MIN_STARTUP, min(TPE_DEFAULT_STARTUP, trials // 3))


def sampler_for(space: ModuleType, seed: int,
                trials: int | None = None) -> optuna.samplers.BaseSampler:
    """The space's own sampler, or TPE seeded for a reproducible search, its random
    start-up sized to ``trials`` (the configurations the study asks for; None: Optuna's
    default of 10)."""
    if hasattr(space, "sampler"):
        return space.sampler(seed)
    startup = TPE_DEFAULT_STARTUP if trials is None else startup_trials(trials)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def describe_search(space_name: str, trials: int, seed: int, repeats: int = 1,
                    objectives: tuple[str, ...] = ()) -> str:
    """One line on what drives the search of ``space_name`` over ``trials`` configurations,
    e.g. "TPE (seed 0): 2 random start-up trials, then TPE for the remaining 6"."""
    sampler = sampler_for(load(space_name), seed, trials)
    if isinstance(sampler, optuna.samplers.GridSampler):
        grid = getattr(sampler, "_search_space", {})
        points = [f"{name} in {{{', '.join(_value(v) for v in values)}}}"
                  for name, values in grid.items()]
        size = math.prod(len(values) for values in grid.values())
        if trials < size:
            extent = f"; only {trials} of them run"
        elif trials > size:
            extent = f"; trials beyond {size} repeat grid points"
        else:
            extent = ""
        text = (f"grid over {', '.join(points) or 'the space'} ({size} points in a seeded "
                f"order{extent})")
    elif isinstance(sampler, optuna.samplers.TPESampler):
        startup = startup_trials(trials)
        if trials <= startup:
            text = (f"random search (seed {seed}): {'all ' * (trials > 1)}{trials} "
                    f"trial{'s are' if trials > 1 else ' is'} TPE's random start-up; TPE "
                    f"models results only after {startup}")
        else:
            text = (f"TPE (seed {seed}): {startup} random start-up trials, then TPE for the "
                    f"remaining {trials - startup}")
    elif isinstance(sampler, optuna.samplers.RandomSampler):
        text = f"random search (seed {seed})"
    else:
        text = f"{type(sampler).__name__} (seed {seed})"
    if repeats > 1:
        text += (f"; each configuration runs with {repeats} seeds and the sampler learns "
                 f"from their mean")
    if len(objectives) > 1:
        text += (f"; multi-objective over {', '.join(objectives)} (the sampler in "
                 f"multi-objective mode; the Pareto front is reported)")
    return text


def _value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


#: Throw-away trials a space is probed with: a define-by-run space may suggest a parameter
#: only on some branches (say ``tau`` when ``normalisation`` is the softmax).
PROBE_TRIALS = 16


@dataclass(frozen=True)
class SpaceParameters:
    """The parameters a space sets: ``searched`` (those it suggests, with their Optuna
    ``distributions``), then ``fixed`` (the settings its define() returns), each in the order
    the space first sets them."""

    searched: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    distributions: dict[str, optuna.distributions.BaseDistribution] = field(
        default_factory=dict, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.searched, *self.fixed)


@functools.cache
def space_parameters(name: str) -> SpaceParameters:
    """What the space ``name`` suggests and holds fixed, from :data:`PROBE_TRIALS` random
    throw-away trials of its define() (the union over them, so a branch's parameter counts)."""
    module = load(name)
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line
    try:
        scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    finally:
        optuna.logging.set_verbosity(previous)
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    fixed: dict[str, None] = {}
    for _ in range(PROBE_TRIALS):
        trial = scratch.ask()
        held = module.define(trial) or {}
        for key, distribution in trial.distributions.items():
            distributions.setdefault(key, distribution)
        fixed.update(dict.fromkeys(held))
    return SpaceParameters(tuple(distributions),
                           tuple(key for key in fixed if key not in distributions),
                           distributions)


def parameters(name: str) -> list[str]:
    """The parameters a space sets: those it suggests, then those it holds fixed."""
    return list(space_parameters(name).names)
