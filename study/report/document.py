"""report.md: the header, the list of what is missing, then the sections in order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from study.layout import StudyLayout
from study.report import sections, sections_va
from study.report.compare import comparison
from study.report.evaluator import Evaluator
from study.report.files import ReportFolder
from study.report.loading import load_study
from study.report.records import OPTIMISTIC, Study
from trainables.config import HELDOUT, TARGET


def header(study: Study) -> list[str]:
    """Title, what the study is, and how far it got."""
    settings = study.settings
    statuses = pd.Series([t.status for t in study.trials], dtype=object).value_counts()
    counts = ", ".join(f"{n} {s.lower()}" for s, n in statuses.items()) or "none"
    early = sum(t.status == "TERMINATED" and t.epochs_done < settings.epochs
                for t in study.trials)
    if early:
        counts += f" ({early} stopped early by {settings.scheduler.upper()})"
    failed = [t for t in study.trials if t.did_not_learn]
    seeds = (f", each with {settings.repeats} seeds" if settings.repeats > 1 else "")
    unit = "configurations" if settings.repeats > 1 else "trials"
    lines = [f"# Report: {study.layout.name}", "",
             f"Space `{settings.space}`, {settings.trials} {unit}{seeds} of "
             f"{settings.epochs} epochs, {settings.scheduler.upper()} scheduler; source "
             f"`{settings.source_split}`, selection on `{study.split_name(TARGET)}`, "
             + (f"held-out figures on `{study.split_name(HELDOUT)}`; "
                if not study.optimistic else "no held-out videos; ")
             + f"trials are selected by `{settings.objective}`. Trials found: {counts}."]
    search = study.stored.get("search")
    if search:
        lines += ["", f"Search: {search}."]
    if study.optimistic:
        lines += ["", f"**Every target figure here was {OPTIMISTIC}**: the study has no "
                      f"held-out videos (`--target-holdout 0` and no `--test-split`), as in "
                      f"the paper's protocol."]
    if study.is_va:
        size = settings.va_grid
        lines += ["", f"**Valence and arousal** (`--task va`): each frame's valence and arousal "
                      f"as the cells of a {size}x{size} grid ({size**2} classes), scored by "
                      f"CCC; the sections made for emotion classes say so and point to "
                      f"*Valence and arousal*."]
    if failed:
        lines += ["", f"**{len(failed)} of {len(study.trials)} trials did not learn** "
                      f"({study.learning_rule}): " + ", ".join(t.label for t in failed) + "."]
    return lines


def missing_list(missing: Sequence[str]) -> list[str]:
    if not missing:
        return ["Nothing is missing: every trial has results and a kept checkpoint."]
    return ["**Missing from this report** (the study is running, was interrupted, or files "
            "were removed):", "", *[f"- {item}" for item in missing]]


def write_report(layout: StudyLayout, evaluator: Evaluator | None = None
                 ) -> tuple[Path, list[str]]:
    """Write ``report/`` for the study; returns report.md and what was missing."""
    study = load_study(layout)
    out = ReportFolder(layout.report_dir, study.missing)
    out.reset()
    evaluator = Evaluator(study) if evaluator is None else evaluator
    evaluator.study = study
    pair = comparison(study)
    parts = [sections.floor_section(study, out), sections.table_ii(study, evaluator, out),
             sections_va.va_section(study, evaluator, out),
             sections.methods_section(study, out), sections.tables_iii_iv(study, pair, out),
             sections.table_v(study, evaluator, out), sections.table_vii(study, pair, out),
             sections.tsne_section(study, evaluator, pair, out),
             sections.search_section(study, out), sections.rounds_section(study, out)]
    lines = [*header(study), "", *missing_list(study.missing)]
    for section in parts:
        lines += ["", f"## {section.title}", "", *section.lines]
    path = out.folder / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path, study.missing
