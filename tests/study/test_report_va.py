"""``python -m study.report`` on a hand-made valence-arousal study (issue #14).

As tests/study/test_report.py: every ``result.json`` row, NetB's summary, Z and U and every
checkpoint is written here, so each number the report prints is known in advance. The best
configuration's checkpoints (lam = 0) map every frame to X = 0, whose nearest row of Z is the
cell at the centre of the grid: re-evaluated with the ``argmax`` rule, they predict (0, 0) for
every frame, and their source cell means are the origin, so the 2D histogram and the distance
per cell follow from the annotations and Z alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from scipy import stats

from study import report
from study.layout import StudyLayout
from study.report import va
from study.report.loading import load_study
from study.settings import StudySettings
from tests.study.test_report import (
    epoch_rows,
    fake_analysis,
    make_report,
    section,
)
from trainables.checkpoint import TrialState, save_final_state, save_selected
from trainables.dimensional import relabel
from trainables.engine import SplitArrays, StudyArrays
from trainables.network import NetworkSettings, build_network
from trainables.va import VAGrid

#: The classification study of the last test has lam = 0 checkpoints whose X is all zero
#: (tests/study/test_report.py): its k-means finds one distinct point, as there.
pytestmark = pytest.mark.filterwarnings("ignore:Number of distinct clusters")

G = 3
FEATURES, FRAMES, HIDDEN = 6, 4, 4
NETWORK = {"fc_units": 8, "rnn_hidden": HIDDEN, "seq_len": FRAMES, "batch_size": 4,
           "cell": "gru"}
#: The cell of the grid's centre, whose centroid in Z is the origin (valence bin 1, arousal 1).
CENTRE = 4
#: A cell with a source frame that no target frame fell in: dropped from Z (a NaN row).
DROPPED_CELL = 0
#: The highest-scoring cell of the lam = 1 checkpoints.
HIGH_CELL = 8
NAN = math.nan
#: Per-frame (valence, arousal) of each split, FRAMES rows a video; NaN: no annotation.
SOURCE_VA = [(-0.9, -0.9), (-0.8, 0.0), (-0.5, 0.5), (0.0, 0.0),       # valence bins 0, 1
             (0.1, -0.7), (0.2, 0.9), (-0.2, 0.2), (-0.95, 0.95)]
TARGET_VA = [(0.0, 0.1), (0.5, 0.5), (0.9, -0.9), (-0.5, 0.0),
             (0.3, -0.2), (0.7, 0.7), (-0.1, 0.6), (0.8, 0.0)]
HELDOUT_VA = [(0.6, -0.4), (NAN, NAN), (-0.7, 0.2), (0.1, 0.1),
              (0.9, 0.8), (-0.3, -0.9), (NAN, NAN), (0.0, 0.5),
              (0.4, 0.4), (-1.0, 1.0), (0.2, -0.1), (0.5, 0.3)]


def va_split(name: str, values: list[tuple[float, float]], seed: int) -> SplitArrays:
    """A split as the data loader gives it: no classes, every label -1, ``frame_va``."""
    rng = np.random.default_rng(seed)
    frames = len(values)
    return SplitArrays(name, "features", rng.normal(size=(frames, FEATURES)).astype(np.float16),
                       np.full(frames, -1, dtype=np.int64),
                       np.arange(0, frames + 1, FRAMES, dtype=np.int64),
                       np.full(frames // FRAMES, -1, dtype=np.int64), (),
                       np.asarray(values, dtype=np.float32))


DATA = StudyArrays(va_split("Train", SOURCE_VA, 0), va_split("Val", TARGET_VA, 1),
                   va_split("Test", HELDOUT_VA, 2))
Z = np.array([[NAN] * HIDDEN if c == DROPPED_CELL else [0.0] * HIDDEN if c == CENTRE
              else [2.0 + c, 1.0, 0.0, 0.0] for c in range(G * G)], dtype=np.float32)
#: NetB's U of the target frames (for a trial on another grid than the study's).
U = np.random.default_rng(5).normal(size=(len(TARGET_VA), HIDDEN)).astype(np.float32)
SETTINGS = StudySettings(task="va", va_grid=G, metric="target_frame_ccc", space="paper",
                         trials=2, repeats=2, epochs=3, test_split="Test")
SUMMARY_METRICS = {"target_frame_ccc": 0.81, "heldout_frame_ccc": 0.42,
                   "source_frame_ccc": 0.05, "target_frame_acc": 0.5}
#: Figures of each split and level a trial reports, as the trainable names them.
FIGURES = ("ccc", "ccc_valence", "ccc_arousal", "pcc_valence", "pcc_arousal", "rmse_valence",
           "rmse_arousal", "acc")

#: trial id -> (lam, va_rule, seed index, target frame CCC per epoch, held-out frame CCC per
#: epoch, learned). Epoch 2 is every trial's selected epoch (epoch 3 ties it on target CCC).
TRIALS = {
    "a0": (0.0, "argmax", 0, [0.30, 0.90, 0.90], [0.8, -0.20, 0.9]),
    "a1": (0.0, "argmax", 1, [0.20, 0.99, 0.99], [0.7, 0.10, 0.9]),
    "b0": (1.0, "expected", 0, [0.10, 0.30, 0.30], [0.5, 0.15, 0.6]),
    "b1": (1.0, "expected", 1, [0.05, 0.20, 0.20], [0.5, 0.25, 0.6]),
}
NOT_LEARNED = {"b1"}
SELECTED = 2
#: The cells NetA's source means and Z both have, as each trial's last row reports them.
CELLS_COMPARED = {"a0": 5.0, "a1": 6.0, "b0": 5.0, "b1": 5.0}


def trial_series(trial_id: str, target: list[float], heldout: list[float]
                 ) -> dict[str, list[float]]:
    """Every VA figure per epoch: the two given, the others drawn (seeded by the trial)."""
    rng = np.random.default_rng(sum(map(ord, trial_id)))
    values: dict[str, list[float]] = {}
    for role in ("target", "heldout", "source"):
        for level in ("frame", "video"):
            for figure in FIGURES:
                low = 0.0 if figure.startswith(("rmse", "acc")) else -1.0
                values[f"{role}_{level}_{figure}"] = [round(float(v), 3) for v in
                                                      rng.uniform(low, 1.0, size=3)]
    values["target_frame_ccc"], values["heldout_frame_ccc"] = target, heldout
    for name in ("mean", "median", "max"):
        values[f"centroid_distance_{name}"] = [round(float(v), 3)
                                               for v in rng.uniform(0.5, 3.0, size=3)]
    return values


def network_state(lam: float, config: dict[str, Any], grid: int = G
                  ) -> dict[str, torch.Tensor]:
    """lam = 0: X = 0 for every frame (its nearest centroid is the origin); lam = 1: a
    constant output, highest for HIGH_CELL."""
    torch.manual_seed(0)
    network = build_network(NetworkSettings.from_config(config),
                            relabel(DATA.source, VAGrid(grid)))
    with torch.no_grad():
        if lam == 0.0:
            for parameter in network.rnn.parameters():
                parameter.zero_()
        else:
            network.output.weight.zero_()
            network.output.bias.zero_()
            network.output.bias[HIGH_CELL % grid**2] = 5.0
    return network.state_dict()


def write_trial(root: Path, trial_id: str, config: dict[str, Any], rows: list[dict],
                lam: float) -> None:
    folder = root / f"trial_{trial_id}"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps(config))
    (folder / "result.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    checkpoint = folder / rows[-1]["checkpoint_dir_name"]
    checkpoint.mkdir()
    save_selected(checkpoint, network_state(lam, config, config["va_grid"]), SELECTED)
    save_final_state(checkpoint, TrialState(epoch=len(rows)))


def write_va_study(root: Path) -> StudyLayout:
    """A finished VA study: NetB's summary, Z (a null row for the dropped cell) and U, and
    the trials of :data:`TRIALS` with checkpoints of their selected epoch."""
    layout = StudyLayout(root)
    (root / "netb").mkdir(parents=True)
    (root / "study.json").write_text(json.dumps(
        {"settings": SETTINGS.to_dict(), "fingerprint": {"data": {}, "backbone": "fake"}}))
    rows_z = [[None if math.isnan(v) else v for v in row] for row in Z.astype(float).tolist()]
    (root / "netb" / "centroids.json").write_text(json.dumps({"centroids": rows_z}))
    np.save(root / "netb" / "target_representations.npy", U)
    (root / "netb" / "summary.json").write_text(json.dumps({
        "metrics": SUMMARY_METRICS, "chance": {"target_frame_ccc": 0.0}, "probe": {},
        "learned": True, "va_grid": G, "dropped_cells": 1}))
    for trial_id, (lam, rule, repeat, target, heldout) in TRIALS.items():
        config = {"lam": lam, "normalisation": "softmax", "epochs": 3, "seed": 0,
                  "metric": "target_frame_ccc", "va_grid": G, "va_rule": rule,
                  "__trial_index__": repeat, **NETWORK}
        rows = epoch_rows(trial_series(trial_id, target, heldout), [1, 2, 2],
                          0.0 if trial_id in NOT_LEARNED else 1.0)
        for row in rows:  # reported every epoch, never as selected_ (as the trainable does)
            row.update(centroid_cells=CELLS_COMPARED[trial_id], dropped_cells=1.0)
        write_trial(root, trial_id, config, rows, lam)
    return layout


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Figure]:
    """Every figure the report writes, by file name."""
    seen: dict[str, Figure] = {}
    original = report.ReportFolder.png

    def spy(self: report.ReportFolder, name: str, figure: Figure) -> str:
        seen[name] = figure
        return original(self, name, figure)

    monkeypatch.setattr(report.ReportFolder, "png", spy)
    return seen


@pytest.fixture
def va_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              drawn: dict[str, Figure]) -> tuple[Path, list[str]]:
    layout = write_va_study(tmp_path / "study")
    monkeypatch.setattr(report.loading, "load_analysis", fake_analysis)
    path, missing = report.write_report(layout, evaluator=report.Evaluator(None, data=DATA,
                                                                             z=Z))
    return path.parent, missing


def selected(trial_id: str, key: str) -> float:
    _, _, _, target, heldout = TRIALS[trial_id]
    return trial_series(trial_id, target, heldout)[key][SELECTED - 1]


def bounded_t_interval(values: list[float], low: float, high: float) -> tuple[float, float]:
    """The textbook Student t interval, written out, clipped to [low, high]."""
    mean, n = np.mean(values), len(values)
    half = stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)
    return max(low, mean - half), min(high, mean + half)


def bins(values: np.ndarray) -> np.ndarray:
    """Each value's bin of G equal bins over [-1, 1], the last one closed."""
    return np.minimum(np.floor((np.asarray(values) + 1.0) / 2.0 * G), G - 1).astype(int)


def test_ccc_table_is_each_configurations_mean_and_interval_over_seeds(
        va_report: tuple[Path, list[str]]) -> None:
    out, _ = va_report
    table = pd.read_csv(out / "va_ccc.csv", dtype={"configuration": str})
    assert list(table["configuration"]) == ["a0", "b0"]  # sorted by lam, as Table II
    assert list(table["va_grid"]) == [G, G] and list(table["va_rule"]) == ["argmax", "expected"]
    for row in table.itertuples(index=False):
        seeds = ["a0", "a1"] if row.configuration == "a0" else ["b0", "b1"]
        assert row.selected_epochs == "2,2" and row.seeds == 2
        for role in ("target", "heldout", "source"):
            for figure in FIGURES:
                key = f"{role}_frame_{figure}"
                values = [selected(t, key) for t in seeds]
                low, high = ((0.0, 1.0) if figure == "acc" else (0.0, math.inf)
                             if figure.startswith("rmse") else (-1.0, 1.0))
                assert getattr(row, f"{key}_mean") == pytest.approx(np.mean(values)), key
                assert (getattr(row, f"{key}_low"), getattr(row, f"{key}_high")) == \
                    pytest.approx(bounded_t_interval(values, low, high)), key
    best = table.iloc[0]
    # Target CCC 0.90 and 0.99 at the selected epoch: the t interval runs past 1, clipped.
    assert best["target_frame_ccc_mean"] == pytest.approx(0.945)
    assert best["target_frame_ccc_high"] == 1.0
    # Held-out CCC -0.20 and 0.10: clipped at -1, where an accuracy's would stop at 0.
    assert best["heldout_frame_ccc_mean"] == pytest.approx(-0.05)
    assert best["heldout_frame_ccc_low"] == -1.0
    assert table.set_index("configuration")["did_not_learn_seeds"].to_dict() == {"a0": 0,
                                                                                 "b0": 1}


def test_va_section_says_what_it_shows(va_report: tuple[Path, list[str]]) -> None:
    out, missing = va_report
    text = (out / "report.md").read_text()
    part = section(text, "Valence and arousal")
    assert "Lin's concordance correlation coefficient" in part and "Aff-Wild" in part
    assert "`best_target_frame_ccc` is the mean frame CCC of the selection split" in part
    assert f"{G}x{G} grid" in part and "`argmax` rule" in part and "`expected` rule" in part
    assert f"dropped 1 of the {G * G} cells" in part
    assert "target (Val): frame CCC (best epoch), mean [95% CI] over seeds" in part
    assert "held-out (Test): frame CCC (selected epoch)" in part
    assert "held-out valence CCC" in part and "source arousal CCC" in part
    assert "**0.945 [" in part  # the best mean target CCC, bold
    header = next(line for line in part.splitlines() if line.startswith("| configuration"))
    assert "| va_rule |" in header and "va_grid" not in header  # only what differs
    assert not missing, missing


def test_histogram_counts_every_annotated_held_out_frame(
        va_report: tuple[Path, list[str]], drawn: dict[str, Figure]) -> None:
    out, _ = va_report
    truth = np.asarray(HELDOUT_VA)
    truth = truth[~np.isnan(truth).any(axis=1)]
    # a0 predicts (0, 0) for every frame (argmax rule, nearest centroid the centre cell).
    edges = np.linspace(-1, 1, G + 1)
    expected = [np.histogram2d(truth[:, d], np.zeros(len(truth)), bins=(edges, edges))[0]
                for d in range(2)]
    figure = drawn["va_histogram.png"]
    panels = [axes for axes in figure.axes if axes.get_xlabel().startswith("true")]
    assert [axes.get_xlabel() for axes in panels] == ["true valence", "true arousal"]
    for axes, counts in zip(panels, expected, strict=True):
        shown = np.ma.filled(axes.collections[0].get_array(), 0).reshape(G, G)
        assert shown.sum() == len(truth) == 10
        assert (shown == counts.T).all()  # rows: predicted bins, columns: true bins
        assert shown[bins([0.0])[0]].sum() == len(truth)  # every prediction in the 0 bin
        title = axes.get_title()
        assert "held-out (Test)" in title and "frame level" in title
        assert "selected epoch" in title
    text = section((out / "report.md").read_text(), "Valence and arousal")
    assert "every annotated frame (10)" in text


def test_heat_map_is_the_distance_of_source_cell_means_from_z(
        va_report: tuple[Path, list[str]], drawn: dict[str, Figure]) -> None:
    out, _ = va_report
    source = np.asarray(SOURCE_VA)
    cells = set((bins(source[:, 0]) * G + bins(source[:, 1])).tolist())
    expected = np.full(G * G, np.nan)
    for cell in cells:  # a0's X is 0: the distance is the norm of Z's row
        expected[cell] = np.linalg.norm(Z[cell].astype(float))
    expected = expected.reshape(G, G)
    assert np.isnan(expected[0, 0]) and np.isnan(expected[2]).all()  # dropped; no source
    table = pd.read_csv(out / "va_cell_distances.csv", index_col=0)
    assert table.shape == (G, G)
    np.testing.assert_allclose(table.to_numpy(), expected, rtol=1e-6)
    mesh = drawn["va_distances.png"].axes[0].collections[0].get_array()
    assert mesh.size == G * G
    assert (np.ma.getmaskarray(mesh).reshape(G, G) == np.isnan(expected.T)).all()
    summary = pd.read_csv(out / "va_distances.csv", dtype={"configuration": str})
    best = summary.set_index("configuration").loc["a0"]
    assert best["centroid_distance_mean"] == pytest.approx(
        np.mean([selected(t, "centroid_distance_mean") for t in ("a0", "a1")]))
    assert best["centroid_distance_max"] == pytest.approx(
        np.mean([selected(t, "centroid_distance_max") for t in ("a0", "a1")]))
    assert best["centroid_cells"] == pytest.approx(5.5)  # as last reported: 5 and 6
    assert best["dropped_cells"] == 1


def test_class_sections_say_they_do_not_apply(va_report: tuple[Path, list[str]]) -> None:
    out, missing = va_report
    text = (out / "report.md").read_text()
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(report.SECTIONS)
    for title in ("Table II", "Tables III/IV", "Table V", "Table VII", "t-SNE (Figures 5-9)"):
        body = section(text, title).strip()
        assert len(body.splitlines()) == 1, title
        assert "does not apply" in body or "do not apply" in body, title
        assert "*Valence and arousal*" in body, title
    for name in ("table_ii.csv", "table_iii.csv", "table_v.csv", "table_vii.csv",
                 "tsne_frames.png"):
        assert not (out / name).exists(), name
    assert not any("Table" in item or "t-SNE" in item for item in missing)


def test_floor_and_methods_read_ccc(va_report: tuple[Path, list[str]]) -> None:
    out, _ = va_report
    floor = pd.read_csv(out / "floor.csv")
    assert list(floor["network"].str.split(",").str[0]) == [
        "NetB", "NetA", "chance (a constant or unrelated prediction)"]
    netb = floor.iloc[0]
    assert netb["own split frame CCC"] == 0.81 and netb["held-out (Test)"] == 0.42
    assert netb["source (Train)"] == 0.05 and netb["dropped cells"] == 1
    neta = floor.iloc[1]
    assert neta["own split frame CCC"] == pytest.approx(
        np.mean([selected(t, "source_frame_ccc") for t in ("a0", "a1")]))
    text = (out / "report.md").read_text()
    assert "linear probe" not in floor.to_string()
    assert "No linear probe" in section(text, "Floor: NetB and a linear probe")
    methods = pd.read_csv(out / "methods.csv").set_index("method")
    assert methods.loc["centroid", "heldout_frame_ccc_mean"] == pytest.approx(-0.05)
    assert methods.loc["NetB", "heldout_frame_ccc_mean"] == 0.42
    assert "held-out (Test): frame CCC (selected epoch)" in section(text, "Methods")
    assert "(best source frame CCC below 0.1): λ=1 (trial b1, seed #1)" in text


def test_every_va_figure_names_level_split_and_epoch_rule(
        va_report: tuple[Path, list[str]], drawn: dict[str, Figure]) -> None:
    assert {"va_histogram.png", "va_distances.png", "accuracy_vs_lam.png", "pareto.png",
            "methods.png"} <= set(drawn)
    for name, figure in drawn.items():
        texts = []
        for axes in figure.axes:
            texts += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
            legend = axes.get_legend()
            texts += [t.get_text() for t in legend.get_texts()] if legend else []
        text = " | ".join(texts)
        assert "video" in text or "frame" in text, name
        assert "selected epoch" in text or "best epoch" in text, name
        assert any(split in text for split in ("held-out", "target", "source")), name


def test_evaluator_builds_a_trial_on_its_own_grid(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial on a 2x2 grid in a 3x3 study: 4 classes, and Z from NetB's U (cell means of
    the target frames on the trial's grid), not the study's centroids.json."""
    layout = write_va_study(tmp_path / "study")
    config = {"lam": 0.5, "normalisation": "softmax", "epochs": 3, "seed": 0,
              "metric": "target_frame_ccc", "va_grid": 2, "va_rule": "expected", **NETWORK}
    rows = epoch_rows(trial_series("c0", [0.1, 0.2, 0.2], [0.1, 0.2, 0.2]), [1, 2, 2], 1.0)
    write_trial(layout.root, "c0", config, rows, 1.0)
    monkeypatch.setattr(report.loading, "load_analysis", fake_analysis)
    study = load_study(layout)
    trials = {t.trial_id: t for t in study.trials}
    evaluator = report.Evaluator(study, data=DATA)  # Z and U read from the study folder
    target = np.asarray(TARGET_VA)
    cells = (np.minimum(np.floor((target + 1) / 2 * 2), 1) @ np.array([2, 1])).astype(int)
    expected = np.full((4, HIDDEN), np.nan)
    for cell in set(cells.tolist()):
        expected[cell] = U[cells == cell].mean(axis=0)
    np.testing.assert_allclose(evaluator.z_for(trials["c0"]), expected, rtol=1e-6)
    np.testing.assert_allclose(evaluator.z_for(trials["a0"]), Z)  # the study's grid
    assert len(evaluator.arrays("source", trials["c0"]).classes) == 4
    scores = evaluator.evaluate(trials["c0"], "heldout").scores
    assert scores.shape == (len(HELDOUT_VA), 4)
    assert (scores.argmax(axis=1) == HIGH_CELL % 4).all()  # lam = 1 on its constant output
    found = va.predictions(evaluator, trials["c0"], "heldout")
    assert len(found.truth) == 10 and found.grid == VAGrid(2)


def test_classification_report_only_points_to_the_va_section(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = make_report(tmp_path, monkeypatch)
    text = (out / "report.md").read_text()
    body = section(text, "Valence and arousal").strip()
    assert body == ("Applies to valence-arousal studies (`--task va`); this study predicts "
                    "emotion classes.")
    assert not list(out.glob("va_*"))
    assert "Valence and arousal" not in text.split("## ")[0]  # not among the missing items


def test_without_checkpoint_data_the_tables_stay_and_the_figures_are_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = write_va_study(tmp_path / "study")
    monkeypatch.setattr(report.loading, "load_analysis", fake_analysis)
    evaluator = report.Evaluator(None)
    evaluator.__dict__["problem"] = "no data in this test"
    path, missing = report.write_report(layout, evaluator=evaluator)
    assert missing == ["Valence and arousal: predicted against true: no data in this test",
                       "Valence and arousal: distance per cell: no data in this test"]
    assert (path.parent / "va_ccc.csv").exists() and (path.parent / "va_distances.csv").exists()
    assert not (path.parent / "va_histogram.png").exists()
