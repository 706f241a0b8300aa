"""The report's figures draw what the numbers say, and nothing more: accuracy against lam
joins only configurations that differ in lam alone, and no Pareto label leaves its axes.
Also every lam in a written report reads the same (0.945 in Table II, III, VII and labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from study.report import figures, search
from study.settings import StudySettings
from tests.study.test_report import TRIALS, make_report, section
from tests.study.test_report_tables import synthetic_study

pytestmark = pytest.mark.filterwarnings("ignore:Number of distinct clusters")


def drawn_lines(axes) -> list[np.ndarray]:
    """x data of every line drawn with a visible line style (not markers alone)."""
    return [np.asarray(line.get_xdata(), float) for line in axes.lines
            if line.get_linestyle() not in ("None", "none", " ", "")]


def test_accuracy_against_lam_joins_only_configurations_differing_in_lam() -> None:
    study = synthetic_study(configurations=30)
    frame = search.search_frame(study)
    series = search.lam_series(study, frame)
    assert any(len(group) > 1 for group in series) and len(series) > 1
    figure = figures.lam_figure(study, frame, series)
    joined = [sorted(group["lam"]) for group in series if len(group) > 1]
    lines = drawn_lines(figure.axes[0])
    assert len(lines) == len(joined) * len(study.roles)
    for xdata in lines:
        assert sorted(xdata.tolist()) in joined


def test_pareto_labels_stay_inside_the_axes() -> None:
    study = synthetic_study(configurations=30, seed=3)
    figure = figures.pareto_figure(study, search.search_frame(study))
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    axes = figure.axes[0]
    box = axes.get_window_extent(renderer)
    labels = [text for text in axes.texts if text.get_text().startswith("λ=")]
    assert labels
    for label in labels:
        extent = label.get_window_extent(renderer)
        assert (box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1
                and box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1), label.get_text()


def test_a_sampled_lam_reads_the_same_in_every_section(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    trials = {name: (0.945 if lam == 1.0 else lam, *rest)
              for name, (lam, *rest) in TRIALS.items()}
    settings = StudySettings(space="paper", trials=2, repeats=2, epochs=3, target_holdout=0.3)
    text = (make_report(tmp_path, monkeypatch, settings=settings, trials=trials)
            / "report.md").read_text()
    assert "| b0 | 0.945 |" in section(text, "Table II")
    for title in ("Tables III/IV", "Table VII", "t-SNE (Figures 5-9)"):
        assert "λ=0.945 (" in section(text, title), title
    assert "b1 (λ=0.945)" in text or "λ=0.945 (trial b1, seed #1)" in text
    assert "0.94 " not in text and "λ=0.94," not in text and "λ=0.94)" not in text
