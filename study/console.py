"""The study's console: Ray Tune's trial table, pointing at the study folder.

Ray's :class:`~ray.tune.CLIReporter` heads every status block with "Result logdir:", Ray's
staging folder on the driver (``/tmp/ray/session_*/.../driver_artifacts``), while Tune writes
the trials to the study folder. A custom reporter (a subclass that overrides ``report``, as
Ray's docs show) prints the study folder there instead. Ray's own log lines are quieted where
Ray starts (:func:`study.cluster.start_ray`).
"""

from __future__ import annotations

from typing import Any

from ray.tune import CLIReporter

LOGDIR_LINE = "Result logdir: "


class StudyReporter(CLIReporter):
    """:class:`~ray.tune.CLIReporter` whose "Result logdir" line names ``results`` (the
    experiment's folder in the study, set by :func:`study.search.make_run_config`)."""

    results: str | None = None

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        self._print(self.progress(trials, done, *sys_info))

    def progress(self, trials: list[Any], done: bool, *sys_info: str) -> str:
        """The status block as Ray draws it, with the results line replaced."""
        text = self._progress_str(trials, done, *sys_info)
        if self.results is None:
            return text
        return "\n".join(f"Results: {self.results}" if line.startswith(LOGDIR_LINE) else line
                         for line in text.split("\n"))
