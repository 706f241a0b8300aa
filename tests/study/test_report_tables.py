"""The report's numbers without its figures: tables and the search frame from a synthetic
study, checked against computations written out here, and without importing matplotlib.

The study is built in memory (:func:`synthetic_study`): TrialRecords whose values at the
selected epoch are drawn at random on a coarse grid, so ties (on the Pareto front, in the
ordering) are common.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from study.layout import StudyLayout
from study.report import compare, files, search, tables
from study.report.records import Study, TrialRecord
from study.settings import StudySettings
from trainables.config import DEFAULT_CLASSES, REPEAT_KEY

ROLES = ("target", "heldout", "source")
LAMS = (0.0, 0.25, 0.5, 0.945, 1.0)


def synthetic_study(configurations: int = 14, seeds: int = 2, seed: int = 0) -> Study:
    """``configurations`` x ``seeds`` finished trials of the ``paper`` space; accuracies in
    tenths, lam from :data:`LAMS`, one seed of every fifth configuration did not learn."""
    rng = np.random.default_rng(seed)
    trials = []
    for index in range(configurations):
        config = {"lam": float(rng.choice(LAMS)),
                  "normalisation": str(rng.choice(["softmax", "linear"])),
                  "cell": str(rng.choice(["gru", "blstm"])), "seq_len": 80}
        for repeat in range(seeds):
            selected = {"epoch": int(rng.integers(1, 4))}
            for role in ROLES:
                for level in ("video", "frame"):
                    selected[f"{role}_{level}_acc"] = int(rng.integers(0, 11)) / 10
            for name in DEFAULT_CLASSES:
                selected[f"centroid_distance/{name}"] = float(rng.uniform(0, 5))
            learned = 0.0 if index % 5 == 0 and repeat == 1 else 1.0
            trials.append(TrialRecord(
                f"t{index:02d}s{repeat}", "TERMINATED", Path("."),
                {**config, REPEAT_KEY: repeat}, selected=selected,
                last={"learned": learned}, configuration=f"c{index:02d}"))
    settings = StudySettings(space="paper", trials=configurations, repeats=seeds, epochs=3,
                             target_holdout=0.3)
    return Study(StudyLayout(Path("no-such-study")), settings, {}, trials)


def by_configuration(study: Study) -> dict[str, list[TrialRecord]]:
    found: dict[str, list[TrialRecord]] = {}
    for trial in study.trials:
        found.setdefault(trial.configuration, []).append(trial)
    return found


def dominated(points: np.ndarray) -> list[bool]:
    """Brute force: a point is dominated when another is >= on both and > on one."""
    return [any((q >= p).all() and (q > p).any() for q in points) for p in points]


def test_compute_modules_do_not_import_matplotlib() -> None:
    code = ("import sys\n"
            "from tests.study.test_report_tables import synthetic_study\n"
            "from study.report import compare, search, tables, embedding, files, loading\n"
            "from study.report import methods, va\n"
            "study = synthetic_study()\n"
            "tables.table_ii_frame(study)\n"
            "methods.methods_shown(study, methods.methods_frame(study))\n"
            "frame = search.search_frame(study)\n"
            "search.lam_series(study, frame)\n"
            "tables.table_vii_frame(study, compare.comparison(study))\n"
            "va.ccc_frame(study)\n"
            "va.distance_frame(study)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')\n"
            "assert not loaded, loaded\n")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_table_ii_frame_is_each_configurations_mean_and_t_interval() -> None:
    study = synthetic_study()
    frame = tables.table_ii_frame(study)
    groups = by_configuration(study)
    assert sorted(frame["configuration"]) == sorted(groups)
    assert list(frame["lam"]) == sorted(frame["lam"])  # rows in order of lam
    for row in frame.itertuples(index=False):
        trials = groups[row.configuration]
        assert row.seeds == len(trials) and row.lam == trials[0].lam
        assert row.selected_epochs == ",".join(str(t.selected["epoch"]) for t in trials)
        assert row.did_not_learn_seeds == sum(t.last["learned"] == 0.0 for t in trials)
        for role in ROLES:
            values = [t.selected[f"{role}_video_acc"] for t in trials]
            mean, spread = np.mean(values), np.std(values, ddof=1)
            half = stats.t.ppf(0.975, len(values) - 1) * spread / math.sqrt(len(values))
            record = row._asdict()
            assert record[f"{role}_video_acc_mean"] == pytest.approx(mean)
            assert record[f"{role}_video_acc_low"] == pytest.approx(max(0.0, mean - half))
            assert record[f"{role}_video_acc_high"] == pytest.approx(min(1.0, mean + half))


def test_pareto_front_matches_brute_force_dominance() -> None:
    rng = np.random.default_rng(1)
    for size in (1, 2, 5, 40, 200):
        points = rng.integers(0, 8, size=(size, 2)).astype(float)  # many ties
        front = search.pareto_front(points[:, 0], points[:, 1])
        assert front.tolist() == [not d for d in dominated(points)], size


def test_search_frame_marks_the_front_of_the_configurations_means() -> None:
    study = synthetic_study()
    frame = search.search_frame(study)
    groups = by_configuration(study)
    points = np.array([[np.mean([t.selected[f"{role}_video_acc"] for t in groups[c]])
                        for role in ("source", "target")] for c in frame["configuration"]])
    assert frame["pareto"].tolist() == [not d for d in dominated(points)]
    objective = frame[study.settings.objective]
    assert objective.tolist() == pytest.approx(points[:, 1].tolist())
    assert objective.is_monotonic_decreasing  # best mean objective first


def test_lam_series_groups_only_configurations_that_differ_in_lam_alone() -> None:
    study = synthetic_study(configurations=30)
    frame = search.search_frame(study)
    series = search.lam_series(study, frame)
    others = ["normalisation", "cell", "seq_len"]
    assert sorted(c for group in series for c in group["configuration"]) == \
        sorted(frame["configuration"])
    keys = [tuple(group[others].iloc[0]) for group in series]
    assert len(set(keys)) == len(series)  # a group per combination of the other parameters
    for group in series:
        assert (group[others].nunique() == 1).all()
        assert list(group["lam"]) == sorted(group["lam"])


def test_table_vii_mean_row_is_the_mean_over_classes() -> None:
    study = synthetic_study()
    pair = compare.comparison(study)
    frame = tables.table_vii_frame(study, pair)
    assert list(frame["class"]) == [*DEFAULT_CLASSES, "Mean"]
    for config in pair.configurations:
        expected = [np.mean([t.selected[f"centroid_distance/{name}"] for t in config.trials])
                    for name in DEFAULT_CLASSES]
        column = frame[config.label]
        assert column[:-1].tolist() == pytest.approx(expected)
        assert column.iloc[-1] == pytest.approx(np.mean(expected))


def test_floor_frame_is_none_without_netb() -> None:
    assert tables.floor_frame(synthetic_study()) is None


@pytest.mark.parametrize(("lam", "text"), [(0.0, "0"), (1.0, "1"), (0.25, "0.25"),
                                           (0.945, "0.945"), (0.94449, "0.944"),
                                           (np.float32(0.5), "0.5"), (math.nan, "—"),
                                           (None, "—")])
def test_one_lam_format(lam: float, text: str) -> None:
    assert files.format_lam(lam) == text


def test_every_lam_of_the_tables_uses_the_one_format() -> None:
    study = synthetic_study()
    shown, _ = tables.table_ii_shown(study, tables.table_ii_frame(study))
    table = files.markdown_table(shown)
    assert "| 0.945 |" in table and "| 0.940 |" not in table and "| 0.000 |" not in table
    sampled = next(c for c in study.configurations if c.lam == 0.945)
    pair = compare.Comparison(study.best_configuration(), sampled, "")
    assert sampled.label.startswith("λ=0.945 (configuration ")
    assert f"{sampled.label} |" in files.markdown_table(tables.table_vii_frame(study, pair))
    iii = tables.per_class_frame(study, pair, "heldout", {})
    assert sampled.label in files.markdown_table(iii.drop(columns=["configuration", "lam"]))


def test_headings_keep_the_papers_number_and_say_what_they_show() -> None:
    for name, title in zip(files.SECTION_NAMES, files.SECTIONS, strict=True):
        assert title.startswith(name)
        assert title == name or title.startswith(f"{name}: ")
    # Every section but the floor and the search (whose names say it all) says what it shows.
    described = [title for name, title in zip(files.SECTION_NAMES, files.SECTIONS, strict=True)
                 if name not in (files.SECTION_NAMES[0], "What the search learned")]
    assert len(described) == len(files.SECTIONS) - 2
    assert all(title.count(":") == 1 for title in described)
