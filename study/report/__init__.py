"""``python -m study.report``: a study's tables and figures, laid out as in Section IV.

It reads what is on disk under ``STORAGE/NAME`` (Tune's trial folders and experiment
state, NetB's summary and centroids Z, ``study.json``, ``confirm.csv``) and writes
``STORAGE/NAME/report/``: ``report.md``, one CSV per table and one PNG per figure. A running
or interrupted study is reported as far as it got; what is missing is said in the report,
not raised.

Every number names its level (video or frame), its split and its epoch rule. Each trial is
read at its *selected epoch*: the first epoch that reached its best selection metric
(``selected_epoch``, reported by the trainable with every accuracy at that epoch as
``selected_<name>``). Held-out and source accuracies are only ever taken there, never as a
maximum over epochs. When the study has no held-out videos (``--target-holdout 0`` and no
``--test-split``), its target figures were selected on the split they are measured on and
are labelled "selected on the evaluation split (optimistic)".

With ``--repeats N`` the unit is the *configuration* (one suggestion of the sampler, run
with N seeds): tables show the mean and 95% interval over its seeds
(:func:`study.statistics.mean_ci`).

Sections, in order: NetB's floor (NetB and a linear probe beside NetA), Table II (accuracy
per lam; with ``--space table2`` a paired lam = 0 against lam = 1 test on the held-out
videos; the ``--confirm-top`` runs), Valence and arousal (``--task va`` studies, issue #14:
CCC per configuration, predicted against true as 2D histograms, Table VII per grid cell;
there, the sections made for emotion classes are one line each pointing to it), Methods
(each training method's best configuration by the selection metric: held-out accuracy over
seeds against source_only and NetB, the in-domain upper bound), Tables III/IV (per-class
accuracy on the evaluation split and the source), Table V (the best configuration's
confusion matrix on the evaluation split, recomputed from its kept checkpoints), Table VII
(distance of NetA's class centroids from Z), t-SNE (Figures 5-9, plus the frame
representations X of eq. 4), and what the search learned (Optuna's parameter importances,
accuracy against lam, the source/target Pareto front).

Modules: ``records`` (trials, configurations, the study), ``loading`` (reading them from
disk), ``evaluator`` (re-evaluating kept checkpoints), ``reference`` (the paper's figures),
``files`` (report folder, markdown, number formats, section headings); the numbers of the
sections, without matplotlib: ``tables``, ``methods``, ``compare``, ``embedding``,
``search``, ``va``; the figures: ``figures``, ``figures_va``; the markdown of each
section: ``sections``, ``sections_va``;
``document`` (report.md) and ``cli``. Importing this package does not import matplotlib:
``write_report``, ``main`` and ``build_parser``, which draw, are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from study.report.compare import Comparison, comparison, paired_comparison
from study.report.evaluator import Evaluator
from study.report.files import SECTIONS, ReportFolder, Section, format_lam, markdown_table
from study.report.loading import find_study, load_study, read_results, selected_epoch
from study.report.records import Configuration, Study, TrialRecord
from study.report.search import importances, pareto_front, search_frame
from study.report.tables import table_ii_frame

if TYPE_CHECKING:
    from study.report.cli import build_parser, main
    from study.report.document import write_report

#: Names whose modules draw (matplotlib), imported when first asked for, as Optuna imports
#: ``optuna.visualization``: ``import study.report.tables`` stays free of matplotlib.
_DRAWING = {"write_report": "study.report.document", "main": "study.report.cli",
            "build_parser": "study.report.cli"}

__all__ = ["SECTIONS", "Comparison", "Configuration", "Evaluator", "ReportFolder", "Section",
           "Study", "TrialRecord", "build_parser", "comparison", "find_study", "format_lam",
           "importances", "load_study", "main", "markdown_table", "paired_comparison",
           "pareto_front", "read_results", "search_frame", "selected_epoch", "table_ii_frame",
           "write_report"]


def __getattr__(name: str) -> Any:
    if name in _DRAWING:
        return getattr(importlib.import_module(_DRAWING[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
