"""The report's files: its sections, the folder every CSV and PNG goes to, markdown tables.

Also the one number format of every table cell (3 decimals) and of every lam the report
prints (:func:`format_lam`). Nothing here draws: a figure arrives drawn, as any object with
``savefig`` (a :class:`matplotlib.figure.Figure`), and is only written.
"""

from __future__ import annotations

import math
import numbers
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Each section's name (what the list of missing items calls it; the paper's table or figure
#: number) and its heading in report.md (the name, then what the section shows).
SECTION_NAMES = ("Floor: NetB and a linear probe", "Table II", "Valence and arousal",
                 "Methods", "Tables III/IV", "Table V", "Table VII", "t-SNE (Figures 5-9)",
                 "What the search learned", "Rounds")
SECTIONS = (SECTION_NAMES[0],
            "Table II: accuracy per λ on the target (selection, held-out) and the source",
            "Valence and arousal: CCC per configuration, predicted against true, Table VII "
            "per cell",
            "Methods: each method's best configuration against source_only and NetB "
            "(upper bound)",
            "Tables III/IV: per-class accuracy on the evaluation split and the source",
            "Table V: confusion matrix on the target",
            "Table VII: distance of NetA's class centroids from NetB's Z",
            "t-SNE (Figures 5-9): representations",
            SECTION_NAMES[8],
            "Rounds: block-component training (the paper's future work)")
#: Columns of this name hold lam, and are printed with :func:`format_lam`.
LAM_COLUMN = "lam"
#: Decimals of every number in a table, and at most of every lam.
DECIMALS = 3


def format_lam(lam: Any) -> str:
    """lam as every part of the report prints it: at most 3 decimals, no trailing zeros
    (0, 0.25, 0.945), so a grid point reads as the paper's and a sampled lam the same in
    every table, label and figure."""
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        return cell(lam)
    if not math.isfinite(lam):
        return "—"
    text = f"{float(lam):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass
class Section:
    title: str
    lines: list[str]


class ReportFolder:
    """The report folder; every CSV and PNG goes through here, and so does every gap."""

    def __init__(self, folder: Path, missing: list[str]) -> None:
        self.folder = folder
        self.missing = missing

    def reset(self) -> None:
        """Start empty, so no file from an earlier report outlives a section now skipped."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)

    def csv(self, name: str, frame: pd.DataFrame, index: bool = False) -> str:
        frame.to_csv(self.folder / name, index=index)
        return f"CSV: [{name}]({name})"

    def png(self, name: str, figure: Figure) -> str:
        """Write a drawn figure; its bounding box grows to every label, so none is clipped."""
        figure.savefig(self.folder / name, dpi=120, bbox_inches="tight")
        return f"![{name}]({name})"

    def gap(self, section: str, reason: str) -> str:
        """Record what a section lacks; return the sentence the section shows."""
        self.missing.append(f"{section}: {reason}")
        return f"_Missing: {reason}._"


def cell(value: Any) -> str:
    """A table cell: numbers to 3 decimals, "—" for what is missing."""
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{DECIMALS}f}"
    return "—" if value is None or value is pd.NA else str(value)


def markdown_table(frame: pd.DataFrame, bold: Sequence[str] = (),
                   top: dict[str, pd.Series] | None = None) -> str:
    """A pipe table; the largest value of each ``bold`` column in bold, as the paper does.

    ``top`` gives, for a column of text (``0.5 [0.4, 0.6]``), the numbers that decide which
    of its rows is bold. A ``lam`` column is printed with :func:`format_lam`.
    """
    text = frame.map(cell)
    if LAM_COLUMN in frame.columns:
        text[LAM_COLUMN] = frame[LAM_COLUMN].map(format_lam)
    for column in [*bold, *(top or {})]:
        values = (top or {}).get(column)
        values = pd.to_numeric(frame[column] if values is None else values, errors="coerce")
        if values.notna().any():
            best = (values == values.max()).to_numpy()
            text.loc[best, column] = "**" + text.loc[best, column] + "**"
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines)
