"""How many trials run at once: what this run's resources allow, also after ``--resume``.

``Tuner.restore`` brings back the search algorithm as it was first built and its saved
state, the concurrency limit included: Ray treats a restore as fault tolerance under an
unchanged spec. A study resumed with other ``--gpus``, ``--gpus-per-trial`` or
``--cpus-per-trial`` should run as many trials at once as those flags now allow (trial
resources already follow the new trainable that the restore is given). So the study's
search algorithms are Ray's own, subclassed only to take their limit from
:data:`RUN_LIMIT`, which the driver sets for this run before it builds or restores a Tuner:
whether the algorithm comes back from ``tuner.pkl`` (pickle) or from the experiment's
searcher state (``set_state``), the limit is this run's.
"""

from __future__ import annotations

from typing import Any

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from study.cluster import Resources

#: This run's limit on trials at once (None until the driver sets it with ``set_run_limit``).
RUN_LIMIT: dict[str, int | None] = {"trials": None}


def max_concurrent(resources: Resources, cluster_cpus: float) -> int:
    """Trials at once: --gpus / --gpus-per-trial, or CPUs / --cpus-per-trial without GPUs."""
    if resources.gpus > 0:
        return max(1, int(resources.gpus / resources.gpus_per_trial + 1e-9))
    return max(1, int(cluster_cpus / resources.cpus_per_trial + 1e-9))


def set_run_limit(limit: int) -> int:
    """Make ``limit`` the concurrency of every search algorithm built or restored from now
    on in this process; returns it."""
    RUN_LIMIT["trials"] = limit
    return limit


class _FollowsRunLimit:
    """Re-applies :data:`RUN_LIMIT` after Ray restores the object's saved attributes."""

    def _follow_run_limit(self) -> None:
        if RUN_LIMIT["trials"] is not None:
            self.max_concurrent = RUN_LIMIT["trials"]

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickled from tuner.pkl
        self.__dict__.update(state)
        self._follow_run_limit()

    def set_state(self, state: dict[str, Any]) -> None:  # the experiment's searcher state
        super().set_state(state)
        self._follow_run_limit()


class RunConcurrencyLimiter(_FollowsRunLimit, ConcurrencyLimiter):
    """Ray's :class:`~ray.tune.search.ConcurrencyLimiter` around the study's searcher."""


class RunVariantGenerator(_FollowsRunLimit, BasicVariantGenerator):
    """Ray's :class:`~ray.tune.search.BasicVariantGenerator` (the confirmation grid)."""
