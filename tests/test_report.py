"""``python -m study.report`` on a tiny finished study, on bad input and on damaged copies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from study import report
from study.layout import StudyLayout
from study.settings import StudySettings
from tests.study_helpers import REPO, run_cli, study_args, trial_results
from trainables.config import DEFAULT_CLASSES

#: Three points of the table2 grid (seeded order): a finished study that still lacks some
#: lam values, so the report must say so.
TRIALS, EPOCHS = 3, 1
FIGURES = ("table_v.png", "tsne_centroids.png", "tsne_frames.png", "accuracy_vs_lam.png",
           "pareto.png")


def run_report(storage: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.report", "--name", name,
                           "--storage-path", str(storage)], cwd=REPO, env=os.environ.copy(),
                          text=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def study(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished table2 study and its report."""
    storage = tmp_path_factory.mktemp("report")
    result = run_cli(study_args(tiny_data, storage, "grid", trials=TRIALS, epochs=EPOCHS,
                                extra=("--space", "table2")))
    assert result.returncode == 0, result.stderr[-3000:]
    made = run_report(storage, "grid")
    assert made.returncode == 0, made.stderr[-3000:]
    return storage / "grid"


def best_rows(folder: Path) -> dict[str, dict]:
    """trial id -> its result at the best target_video_acc epoch (the last among ties)."""
    best = {}
    for trial, rows in trial_results(folder).items():
        top = max(row["target_video_acc"] for row in rows)
        best[trial] = [row for row in rows if row["target_video_acc"] == top][-1]
    return best


def headings(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def test_sections_in_the_issue_order(study: Path) -> None:
    text = (study / "report" / "report.md").read_text()
    assert headings(text) == list(report.SECTIONS)
    assert "(reference)" in text and "trials have not started" not in text


def test_table_ii_has_one_row_per_trial_sorted_by_lam(study: Path) -> None:
    table = pd.read_csv(study / "report" / "table_ii.csv", dtype={"trial_id": str})
    lams = sorted(json.loads(p.read_text())["lam"] for p in study.glob("trial_*/params.json"))
    assert len(lams) == TRIALS and list(table["lam"]) == lams
    best = best_rows(study)
    assert set(table["trial_id"]) == set(best)
    for row in table.itertuples():
        assert row.target_video_acc == pytest.approx(best[row.trial_id]["target_video_acc"])
        assert row.source_video_acc == pytest.approx(best[row.trial_id]["source_video_acc"])
        assert (row.paper_target_acc, row.paper_source_acc) == report.PAPER_TABLE_II[row.lam]
    text = (study / "report" / "report.md").read_text()
    # The paper's layout: one row per grid lam, the grid points not run said to be missing.
    assert "| Value of λ | Target (Val) | Source (Train) |" in text
    section = text.split("## Table II\n")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0] for row in rows] == ["| 0", "| 0.25", "| 0.5", "| 0.75", "| 1"]
    absent = sorted(set(report.PAPER_TABLE_II) - set(lams))
    assert f"no result yet for λ = {', '.join(f'{lam:g}' for lam in absent)}" in text


def test_per_class_tables_compare_with_the_lam_1_baseline(study: Path) -> None:
    best = best_rows(study)
    for name, role in (("table_iii.csv", "target"), ("table_iv.csv", "source")):
        table = pd.read_csv(study / "report" / name, dtype={"trial_id": str})
        assert list(table.columns) == ["row", "trial_id", "lam", *DEFAULT_CLASSES, "Total"]
        assert list(table["lam"])[-2:] == [0.0, 1.0]  # the paper's rows, as reference
        assert table["row"].iloc[-1].endswith("(reference)")
        values = table[list(DEFAULT_CLASSES)].to_numpy()
        assert ((values >= 0) & (values <= 1)).all(), name
        ours = table[table["trial_id"].notna()]
        assert 1 <= len(ours) <= 2
        for row in ours.itertuples():
            assert row.Total == pytest.approx(best[row.trial_id][f"{role}_video_acc"])


def record(lam: float, accuracy: float) -> report.TrialRecord:
    return report.TrialRecord(f"t{lam}", "TERMINATED", Path("."), {"lam": lam},
                              best={"target_video_acc": accuracy})


def comparison_of(*trials: tuple[float, float]) -> tuple[float | None, float | None]:
    study = report.Study(StudyLayout(Path(".")), StudySettings(), {},
                         [record(lam, accuracy) for lam, accuracy in trials])
    pair = report.comparison(study)
    return tuple(None if t is None else t.lam for t in (pair.low, pair.high))


def test_comparison_prefers_the_best_near_0_and_near_1_trials() -> None:
    assert comparison_of((0.0, 0.2), (0.05, 0.3), (0.5, 0.9), (0.95, 0.1),
                         (1.0, 0.4)) == (0.05, 1.0)
    # No lam near 0: the best trial against the best near 1 (the lam = 1 baseline).
    assert comparison_of((0.5, 0.9), (0.95, 0.1)) == (0.5, 0.95)
    # Neither end: the best trial alone; the paper's lam = 1 row is the baseline.
    assert comparison_of((0.3, 0.1), (0.5, 0.9)) == (0.5, None)


def test_pareto_front_keeps_ties_and_drops_dominated_points() -> None:
    front = report.pareto_front(np.array([1, 2, 3, 2, 1.0]), np.array([3, 2, 1, 1, 3.0]))
    assert front.tolist() == [True, True, True, False, True]


def test_confusion_matrix_counts_target_videos_of_the_best_checkpoint(study: Path,
                                                                      tiny_data: Path) -> None:
    matrix = pd.read_csv(study / "report" / "table_v.csv", index_col=0)
    assert list(matrix.index) == list(DEFAULT_CLASSES) == list(matrix.columns)
    videos = sum(1 for path in (tiny_data / "Val").glob("*/*") if path.is_dir())
    # The study selects by target_video_acc, so the matrix counts target videos.
    assert matrix.to_numpy().sum() == videos
    assert (matrix.sum(axis=1) == 1).all()  # one video per class in the tiny set
    # Re-evaluating the kept checkpoint reproduces what the trial reported at that epoch,
    # class by class (an untrained or wrong network would not).
    text = (study / "report" / "report.md").read_text()
    trial = re.search(r"Best trial λ=[\d.]+ \(trial (\w+)\), epoch", text).group(1)
    reported = best_rows(study)[trial]
    recall = np.diag(matrix.to_numpy()) / matrix.sum(axis=1).to_numpy()
    expected = [reported[f"class_acc/target_video/{name}"] for name in DEFAULT_CLASSES]
    assert recall.tolist() == pytest.approx(expected)
    assert reported["target_video_acc"] == max(r["target_video_acc"]
                                               for r in best_rows(study).values())


def test_table_vii_holds_the_reported_centroid_distances(study: Path) -> None:
    table = pd.read_csv(study / "report" / "table_vii.csv")
    assert list(table["class"]) == [*DEFAULT_CLASSES, "Mean"]
    best = best_rows(study)
    ours = [column for column in table.columns if "(trial " in column]
    assert 1 <= len(ours) <= 2 and table.shape[1] == 1 + len(ours) + 2  # + the paper's two
    for column in ours:
        trial = column.split("(trial ")[1].rstrip(")")
        expected = [best[trial][f"centroid_distance/{name}"] for name in DEFAULT_CLASSES]
        assert table[column][:7].tolist() == pytest.approx(expected)
        assert table[column].iloc[7] == pytest.approx(np.mean(expected))


def test_search_section_marks_a_true_pareto_front(study: Path) -> None:
    search = pd.read_csv(study / "report" / "search.csv")
    assert len(search) == TRIALS and search["pareto"].any()
    points = search[["source_video_acc", "target_video_acc"]].to_numpy()
    for point, on_front in zip(points, search["pareto"], strict=True):
        dominated = ((points >= point).all(axis=1) & (points > point).any(axis=1)).any()
        assert on_front == (not dominated)
    text = (study / "report" / "report.md").read_text()
    if (study / "report" / "importances.csv").exists():
        importances = pd.read_csv(study / "report" / "importances.csv")
        assert list(importances["parameter"]) == ["lam"]  # table2 searches lam only
    else:
        assert "Parameter importances need at least two trials" in text


def test_every_figure_is_a_valid_png(study: Path) -> None:
    # Importances exist only when the trials' objectives differ (else a sentence says why).
    ranked = (study / "report" / "importances.csv").exists()
    assert ranked == (study / "report" / "importances.png").exists()
    for name in FIGURES + (("importances.png",) if ranked else ()):
        with Image.open(study / "report" / name) as image:
            assert image.format == "PNG" and min(image.size) > 200, name
            image.verify()


@pytest.mark.parametrize(("name", "storage", "expected"), [
    ("no-such-study", None, "no study 'no-such-study' under"),
    ("grid", "study.json", "is a file"),
])
def test_bad_input_is_one_line_and_exit_2(study: Path, name: str, storage: str | None,
                                          expected: str,
                                          capsys: pytest.CaptureFixture) -> None:
    where = study.parent if storage is None else study / storage
    assert report.main(["--name", name, "--storage-path", str(where)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and expected in captured.err
    assert captured.err.startswith("study.report: error: ") and captured.out == ""
    if storage is None:
        assert "(studies there: grid)" in captured.err


def damaged_copy(study: Path, where: Path) -> Path:
    """A copy of the study without NetB's weights and TensorBoard logs (not read)."""
    copy = where / study.name
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("netb.pt", "tensorboard",
                                                               "report"))
    return copy


def test_partial_study_reports_what_is_missing(study: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    copy = damaged_copy(study, tmp_path)
    table = pd.read_csv(study / "report" / "table_ii.csv", dtype={"trial_id": str})
    # Every trial tied for the best loses its checkpoints, whichever the report picks.
    tied = table[table["target_video_acc"] == table["target_video_acc"].max()]["trial_id"]
    for trial in tied:
        for checkpoint in (copy / f"trial_{trial}").glob("checkpoint_*"):
            shutil.rmtree(checkpoint)
    best, other = tied.iloc[0], table["trial_id"].iloc[-1]
    (copy / f"trial_{other}" / "result.json").unlink()
    assert report.main(["--name", study.name, "--storage-path", str(tmp_path)]) == 0
    assert "missing" in capsys.readouterr().out
    text = (copy / "report" / "report.md").read_text()
    assert headings(text) == list(report.SECTIONS)
    assert f"trial {best}: the checkpoint of its best epoch" in text
    assert f"trial {other}: result.json is missing" in text
    assert "Table V: no checkpoint of the best epoch on disk" in text
    assert not (copy / "report" / "table_v.csv").exists()
    assert len(pd.read_csv(copy / "report" / "table_ii.csv")) == TRIALS


def test_changed_data_skips_only_the_sections_that_need_it(study: Path, tmp_path: Path) -> None:
    copy = damaged_copy(study, tmp_path)
    stored = json.loads((copy / "study.json").read_text())
    stored["fingerprint"]["backbone"] = "another backbone"
    (copy / "study.json").write_text(json.dumps(stored))
    assert report.main(["--name", study.name, "--storage-path", str(tmp_path)]) == 0
    text = (copy / "report" / "report.md").read_text()
    assert text.count("no longer match the study's fingerprint") == 4  # list + 2 sections
    assert (copy / "report" / "table_vii.csv").exists()
    assert not (copy / "report" / "tsne_frames.png").exists()
