"""``python -m study.report`` on hand-made study folders, against literal expectations.

Nothing here runs the study: every ``result.json`` row, NetB's summary and centroids and
every checkpoint is written by the test, so each number the report should print is known in
advance. The checkpoints are built to predict one known class whatever the input (a lam = 1
network whose output layer is a constant; a lam = 0 network whose representations are all
zero, so the nearest centroid is the zero row of Z): re-evaluating them must give a
confusion matrix and a paired comparison that follow from the labels alone, which an
untrained network or a wrong checkpoint would not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from study import report
from study.layout import StudyLayout
from study.settings import StudySettings
from study.statistics import paired_difference
from trainables.checkpoint import TrialState, save_final_state, save_selected
from trainables.config import DEFAULT_CLASSES
from trainables.engine import SplitArrays, StudyArrays
from trainables.network import NetworkSettings, build_network

#: The lam = 0 checkpoints map every frame to X = 0: NetA's k-means of X (Figures 5-9) then
#: finds one distinct point, which scikit-learn warns about; that is the fixture, not a bug.
pytestmark = pytest.mark.filterwarnings("ignore:Number of distinct clusters")

CLASSES = DEFAULT_CLASSES
FEATURES, FRAMES = 6, 4
#: Held-out video labels: 3 Fear (index 3) and 2 Sad (index 5) videos among 10.
HELDOUT_LABELS = [0, 1, 2, 3, 3, 3, 4, 5, 5, 6]
TARGET_LABELS = list(range(7))
SOURCE_LABELS = list(range(7)) * 2
LOW_CLASS, HIGH_CLASS = 3, 5      # what the lam = 0 and lam = 1 checkpoints always predict
NETWORK = {"fc_units": 8, "rnn_hidden": 4, "seq_len": FRAMES, "batch_size": 4, "cell": "gru"}


def split(name: str, labels: list[int], seed: int) -> SplitArrays:
    rng = np.random.default_rng(seed)
    return SplitArrays(name, "features", rng.normal(size=(len(labels) * FRAMES, FEATURES))
                       .astype(np.float16), np.repeat(labels, FRAMES).astype(np.int64),
                       np.arange(0, (len(labels) + 1) * FRAMES, FRAMES, dtype=np.int64),
                       np.asarray(labels, dtype=np.int64), CLASSES)


DATA = StudyArrays(split("Train", SOURCE_LABELS, 0), split("Val", TARGET_LABELS, 1),
                   split("Val (held out)", HELDOUT_LABELS, 2))
#: NetB's Z: class 3's centroid is the origin, the others are far from it.
Z = np.array([[0, 0, 0, 0] if c == LOW_CLASS else [2.0 + c, 1, 0, 0] for c in range(7)],
             dtype=np.float32)


def constant_network(lam: float, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A state dict that predicts LOW_CLASS everywhere at lam = 0, HIGH_CLASS at lam = 1."""
    torch.manual_seed(0)
    network = build_network(NetworkSettings.from_config(config), DATA.source)
    with torch.no_grad():
        if lam == 0.0:
            for parameter in network.rnn.parameters():  # X = 0 for every frame
                parameter.zero_()
        else:
            network.output.weight.zero_()
            network.output.bias.zero_()
            network.output.bias[HIGH_CLASS] = 5.0
    return network.state_dict()


def epoch_rows(values: dict[str, list[float]], selected_epochs: list[int],
               learned: float) -> list[dict[str, Any]]:
    """Tune's result rows: per-epoch values and, every epoch, the selected epoch's."""
    rows, best = [], {}
    for index, epoch in enumerate(range(1, len(selected_epochs) + 1)):
        row: dict[str, Any] = {"epoch": epoch, "training_iteration": epoch,
                               "checkpoint_dir_name": f"checkpoint_{epoch - 1:06d}",
                               "learned": learned, "chance_source_video_acc": 2 / 14,
                               "chance_target_video_acc": 1 / 7}
        for key, series in values.items():
            row[key] = series[index]
        for key in ("target_video_acc", "target_frame_acc", "source_video_acc",
                    "source_frame_acc"):
            best[key] = max(best.get(key, -1.0), row[key])
            row[f"best_{key}"] = best[key]
        chosen = selected_epochs[index] - 1
        row["selected_epoch"] = selected_epochs[index]
        for key, series in values.items():
            row[f"selected_{key}"] = series[chosen]
        rows.append(row)
    return rows


def trial_values(target: list[float], heldout: list[float], source: list[float],
                 distance: float) -> dict[str, list[float]]:
    values = {"target_video_acc": target, "target_frame_acc": [t - 0.1 for t in target],
              "heldout_video_acc": heldout, "heldout_frame_acc": [h - 0.1 for h in heldout],
              "source_video_acc": source, "source_frame_acc": [s - 0.1 for s in source]}
    for epoch_shift, name in enumerate(CLASSES):
        values[f"class_acc/heldout_video/{name}"] = [0.1 * epoch_shift + e / 100
                                                      for e in range(len(target))]
        values[f"class_acc/source_video/{name}"] = [0.05 * epoch_shift + e / 100
                                                     for e in range(len(target))]
        values[f"centroid_distance/{name}"] = [distance + epoch_shift + 10 * e
                                               for e in range(len(target))]
    values["centroid_distance_mean"] = [distance + 3 + 10 * e for e in range(len(target))]
    return values


#: trial id -> (lam, seed index, per-epoch target/held-out/source video acc, selected
#: epochs as the trainable reports them, learned, base centroid distance). Selected epoch
#: is 2 for every trial (epoch 3 ties it on target accuracy; held-out is higher at 3 and
#: source higher at 1, so a maximum over epochs would be caught).
TRIALS = {
    "a0": (0.0, 0, [0.5, 0.6, 0.6], [0.4, 0.45, 0.9], [0.95, 0.7, 0.8], 1.0),
    "a1": (0.0, 1, [0.5, 0.8, 0.8], [0.4, 0.55, 0.9], [0.95, 0.8, 0.8], 2.0),
    "b0": (1.0, 0, [0.3, 0.5, 0.5], [0.2, 0.35, 0.9], [0.95, 0.6, 0.7], 3.0),
    "b1": (1.0, 1, [0.3, 0.4, 0.4], [0.2, 0.30, 0.9], [0.95, 0.5, 0.6], 4.0),
}
NOT_LEARNED = {"b1"}
SELECTED = 2


def write_study(root: Path, *, settings: StudySettings, trials: dict = TRIALS,
                heldout: bool = True) -> StudyLayout:
    layout = StudyLayout(root)
    (root / "netb").mkdir(parents=True)
    (root / "study.json").write_text(json.dumps(
        {"settings": settings.to_dict(), "fingerprint": {"data": {}, "backbone": "fake"},
         "search": "grid over lam in {0, 0.25, 0.5, 0.75, 1} (5 points in a seeded order)"}))
    (root / "netb" / "centroids.json").write_text(json.dumps({"centroids": Z.tolist()}))
    (root / "netb" / "summary.json").write_text(json.dumps({
        "metrics": {"target_video_acc": 0.9, "heldout_video_acc": 0.5,
                    "source_video_acc": 0.3},
        "chance": {"target_video_acc": 1 / 7, "heldout_video_acc": 0.3,
                   "source_video_acc": 2 / 14},
        "probe": {"target_video_acc": 0.95, "heldout_video_acc": 0.6, "source_video_acc": 0.2},
        "learned": True}))
    for trial_id, (lam, repeat, target, held, source, distance) in trials.items():
        folder = root / f"trial_{trial_id}"
        folder.mkdir()
        config = {"lam": lam, "normalisation": "softmax", "epochs": 3, "seed": 0,
                  "metric": "target_video_acc", "__trial_index__": repeat, **NETWORK}
        (folder / "params.json").write_text(json.dumps(config))
        values = trial_values(target, held, source, distance)
        if not heldout:
            values = {k: v for k, v in values.items() if "heldout" not in k}
        rows = epoch_rows(values, [1, 2, 2], 0.0 if trial_id in NOT_LEARNED else 1.0)
        (folder / "result.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        # What a finished trial leaves: Tune kept the last epoch's checkpoint, which holds
        # the selected epoch's weights (trainables.neta).
        checkpoint = folder / rows[-1]["checkpoint_dir_name"]
        checkpoint.mkdir()
        save_selected(checkpoint, constant_network(lam, config), SELECTED)
        save_final_state(checkpoint, TrialState(epoch=len(rows)))
    return layout


def fake_analysis(layout: StudyLayout) -> SimpleNamespace:
    """What Tune's ExperimentAnalysis says of the hand-made trials: all finished."""
    trials = []
    for params in sorted(layout.root.glob("trial_*/params.json")):
        rows = report.read_results(params.parent)
        trials.append(SimpleNamespace(trial_id=params.parent.name.removeprefix("trial_"),
                                      status="TERMINATED", config=json.loads(params.read_text()),
                                      last_result=rows[-1] if rows else {},
                                      path=str(params.parent)))
    return SimpleNamespace(trials=trials)


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every figure's title, axis labels and legend, by file name."""
    seen: dict[str, str] = {}
    original = report.ReportFolder.png

    def spy(self: report.ReportFolder, name: str, figure: plt.Figure) -> str:
        texts = []
        for axes in figure.axes:
            texts += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
            legend = axes.get_legend()
            if legend is not None:
                texts += [t.get_text() for t in legend.get_texts()]
        seen[name] = " | ".join(texts)
        return original(self, name, figure)

    monkeypatch.setattr(report.ReportFolder, "png", spy)
    return seen


TABLE2 = StudySettings(space="table2", trials=2, repeats=2, epochs=3, target_holdout=0.3)


def make_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                settings: StudySettings = TABLE2, heldout: bool = True,
                evaluator: report.Evaluator | None = None, trials: dict = TRIALS) -> Path:
    layout = write_study(tmp_path / "study", settings=settings, heldout=heldout, trials=trials)
    monkeypatch.setattr(report.loading, "load_analysis", fake_analysis)
    if evaluator is None:
        evaluator = report.Evaluator(None, data=DATA if heldout else
                                     StudyArrays(DATA.source, DATA.target), z=Z)
    path, _ = report.write_report(layout, evaluator=evaluator)
    return path.parent


def section(text: str, title: str) -> str:
    """The body of the section whose heading is ``title`` (the paper's number), or starts with
    it and goes on to say what the section shows (``## Table V: confusion matrix ...``)."""
    heading = next(line for line in text.splitlines()
                   if line == f"## {title}" or line.startswith(f"## {title}: "))
    return text.split(f"{heading}\n")[1].split("\n## ")[0]


def t_interval(values: list[float]) -> tuple[float, float]:
    """The textbook Student t interval, written out."""
    mean, n = np.mean(values), len(values)
    half = stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)
    return max(0.0, mean - half), min(1.0, mean + half)


def test_table_ii_reads_every_split_at_the_selected_epoch(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    table = pd.read_csv(out / "table_ii.csv", dtype={"configuration": str})
    assert list(table["configuration"]) == ["a0", "b0"] and list(table["seeds"]) == [2, 2]
    low, high = table.iloc[0], table.iloc[1]
    # Seeds a0/a1 at epoch 2: target 0.6/0.8, held-out 0.45/0.55, source 0.7/0.8.
    assert low["target_video_acc_mean"] == pytest.approx(0.7)
    assert low["heldout_video_acc_mean"] == pytest.approx(0.5)   # never the 0.9 of epoch 3
    assert low["source_video_acc_mean"] == pytest.approx(0.75)   # never the 0.95 of epoch 1
    assert (low["heldout_video_acc_low"], low["heldout_video_acc_high"]) == pytest.approx(
        t_interval([0.45, 0.55]))
    assert high["heldout_video_acc_mean"] == pytest.approx(0.325)
    assert high["did_not_learn_seeds"] == 1 and low["did_not_learn_seeds"] == 0
    assert low["selected_epochs"] == "2,2"
    text = (out / "report.md").read_text()
    part = section(text, "Table II")
    assert "held-out (Val, 30% held out): video acc (selected epoch), mean [95% CI]" in part
    assert "target (Val, the other 70%): video acc (best epoch)" in part
    assert "source (Train): video acc (selected epoch)" in part
    lo, hi = t_interval([0.45, 0.55])
    assert f"**0.500 [{lo:.3f}, {hi:.3f}]**" in part  # bold: the best held-out mean
    assert "did not learn (1/2 seeds)" in part
    assert "no result yet for λ = 0.25, 0.5, 0.75" in part
    assert "optimistic" not in text


def test_paired_lam_comparison_counts_held_out_videos(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    paired = pd.read_csv(out / "paired_lam.csv").iloc[0]
    labels = np.asarray(HELDOUT_LABELS)
    # lam = 0 always says LOW_CLASS, lam = 1 always HIGH_CLASS, on every seed.
    low = (labels == LOW_CLASS).astype(float)
    high = (labels == HIGH_CLASS).astype(float)
    assert paired["n"] == len(labels)
    assert paired["difference"] == pytest.approx((3 - 2) / 10)
    expected = paired_difference(low, high, seed=0)
    assert paired["p_value"] == pytest.approx(expected["p_value"])
    assert (paired["low"], paired["high"]) == pytest.approx((expected["low"],
                                                             expected["high"]))
    # The exact permutation p-value: 5 discordant videos, 3 one way and 2 the other; every
    # sign flip of five +-1 sums to an odd number, as extreme as the observed +1: p = 1.
    assert paired["p_value"] == pytest.approx(1.0)
    text = (out / "report.md").read_text()
    assert "Paired comparison λ=0 − λ=1" in text and "10 held-out videos" in text


def test_paired_comparison_falls_back_to_seeds_without_checkpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: dict) -> None:
    evaluator = report.Evaluator(None)
    evaluator.__dict__["problem"] = "no data in this test"
    out = make_report(tmp_path, monkeypatch, evaluator=evaluator)
    paired = pd.read_csv(out / "paired_lam.csv").iloc[0]
    # Seed 0: 0.45 - 0.35; seed 1: 0.55 - 0.30.
    assert paired["n"] == 2 and paired["difference"] == pytest.approx((0.10 + 0.25) / 2)
    assert "2 seeds (paired by seed index" in paired["unit"]
    text = (out / "report.md").read_text()
    assert "Table V: no data in this test" in text


def test_confusion_matrix_comes_from_the_kept_checkpoints(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    matrix = pd.read_csv(out / "table_v.csv", index_col=0)
    assert list(matrix.index) == list(CLASSES) == list(matrix.columns)
    # The best configuration is lam = 0 (mean target 0.7): both seeds predict Fear, so every
    # held-out video (2 seeds x 10) lands in the Fear column, in its true class's row.
    expected = np.zeros((7, 7), dtype=int)
    for label in HELDOUT_LABELS:
        expected[label, LOW_CLASS] += 2
    assert (matrix.to_numpy() == expected).all()
    text = section((out / "report.md").read_text(), "Table V")
    assert "summed over its 2 seeds" in text and "Accuracy recomputed 0.300" in text
    assert "held-out (Val, 30% held out)" in text


def test_per_class_tables_and_table_vii_are_the_selected_epochs_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    iii = pd.read_csv(out / "table_iii.csv", dtype={"configuration": str})
    ours = iii[iii["configuration"].notna()]
    assert list(ours["configuration"]) == ["a0", "b0"]
    # class_acc/heldout_video/<c> is 0.1 * index + (epoch - 1) / 100: 0.1 * i + 0.01 at epoch 2.
    for index, name in enumerate(CLASSES):
        assert ours[name].tolist() == pytest.approx([0.1 * index + 0.01] * 2)
    assert ours["Total"].tolist() == pytest.approx([0.5, 0.325])
    iv = pd.read_csv(out / "table_iv.csv", dtype={"configuration": str})
    assert iv[iv["configuration"].notna()]["Total"].tolist() == pytest.approx([0.75, 0.55])
    vii = pd.read_csv(out / "table_vii.csv")
    assert list(vii["class"]) == [*CLASSES, "Mean"]
    column = next(c for c in vii.columns if "configuration a0" in c)
    # distance + index + 10 at epoch 2; a0/a1 have distance 1 and 2.
    expected = [1.5 + index + 10 for index in range(7)]
    assert vii[column][:7].tolist() == pytest.approx(expected)
    assert vii[column].iloc[7] == pytest.approx(np.mean(expected))
    text = (out / "report.md").read_text()
    assert "**Table III**: video-level accuracy per class on the held-out" in text


def test_floor_judges_netb_against_the_probes_held_out_accuracy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    floor = pd.read_csv(out / "floor.csv")
    netb = floor.iloc[0]
    assert netb["network"] == "NetB" and netb["own split video acc"] == 0.9
    # 0.9 on its own split is below the probe's own-split 1.0 (it fits every frame) but
    # above the probe's held-out 0.6, the floor (trainables.probe.learning_floor).
    assert netb["verdict"] == "learned"
    probe = floor[floor["network"].str.startswith("linear probe")].iloc[0]
    held = next(c for c in floor.columns if c.startswith("held-out"))
    assert probe[held] == 0.6 and netb[held] == 0.5
    neta = floor[floor["network"].str.startswith("NetA")].iloc[0]
    assert neta["own split video acc"] == pytest.approx(0.75) and neta[held] == \
        pytest.approx(0.5)
    assert neta["verdict"] == "learned"


def test_figures_name_level_split_and_epoch_rule(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 figures: dict) -> None:
    make_report(tmp_path, monkeypatch)
    assert set(figures) >= {"table_v.png", "tsne_centroids.png", "tsne_frames.png",
                            "accuracy_vs_lam.png", "pareto.png"}
    for name, text in figures.items():
        assert "video" in text or "frame" in text, name
        assert "selected epoch" in text or "best epoch" in text, name
        assert any(split in text for split in ("held-out", "target", "source")), name


def test_optimistic_study_says_so_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            figures: dict) -> None:
    settings = StudySettings(space="paper", trials=2, repeats=2, epochs=3, target_holdout=0.0)
    out = make_report(tmp_path, monkeypatch, settings=settings, heldout=False)
    text = (out / "report.md").read_text()
    assert "selected on the evaluation split (optimistic)" in section(text, "Table II")
    assert "Every target figure here was selected on the evaluation split" in text
    for name in ("accuracy_vs_lam.png", "pareto.png", "table_v.png"):
        assert "optimistic" in figures[name], name
    # Table V falls back to the target (the only evaluation split there is).
    matrix = pd.read_csv(out / "table_v.csv", index_col=0)
    assert matrix.to_numpy().sum() == 2 * len(TARGET_LABELS)


def test_importances_refuse_small_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    text = section((out / "report.md").read_text(), "What the search learned")
    assert ("Parameter importances need at least 10 finished configurations (each the mean "
            "of its seeds); this study has 2.") in text
    assert not (out / "importances.csv").exists()


def test_did_not_learn_is_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 figures: dict) -> None:
    out = make_report(tmp_path, monkeypatch)
    text = (out / "report.md").read_text()
    assert "**1 of 4 trials did not learn**" in text and "trial b1, seed #1" in text
    assert "did not learn (some seed)" in figures["accuracy_vs_lam.png"]
    search = pd.read_csv(out / "search.csv", dtype={"configuration": str})
    assert search.set_index("configuration")["did_not_learn_seeds"].to_dict() == {"a0": 0,
                                                                                  "b0": 1}


def test_sections_in_order_and_missing_checkpoint_is_said(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         figures: dict) -> None:
    layout = write_study(tmp_path / "study", settings=TABLE2)
    for checkpoint in (layout.root / "trial_a1").glob("checkpoint_*"):
        for file in checkpoint.iterdir():
            file.unlink()
        checkpoint.rmdir()
    monkeypatch.setattr(report.loading, "load_analysis", fake_analysis)
    path, missing = report.write_report(layout, evaluator=report.Evaluator(None, data=DATA, z=Z))
    text = path.read_text()
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == \
        list(report.SECTIONS)
    assert "trial a1: the checkpoint of its selected epoch (2) is not on disk" in text
    assert "Table V: no checkpoint of the selected epoch on disk for trial(s) a1" in text
    assert not (path.parent / "table_v.csv").exists()
    # The paired test then pairs seeds (a1's videos cannot be scored).
    paired = pd.read_csv(path.parent / "paired_lam.csv").iloc[0]
    assert paired["n"] == 2


def rows_for(epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"epoch": i + 1, "checkpoint_dir_name": f"checkpoint_{i:06d}", **row}
            for i, row in enumerate(epochs)]


def test_selected_epoch_of_old_results_is_the_first_best(tmp_path: Path) -> None:
    """Results without ``selected_*`` keys (older studies): the first epoch with the best
    metric, and every other value read at that epoch, missing keys left out."""
    rows = rows_for([{"target_video_acc": 0.5, "heldout_video_acc": 0.9},
                     {"target_video_acc": 0.7, "heldout_video_acc": 0.4},
                     {"target_video_acc": 0.7, "heldout_video_acc": 0.95}])
    (tmp_path / "checkpoint_000002").mkdir()
    (tmp_path / "checkpoint_000002" / "state.pt").write_bytes(b"x")
    selected, checkpoint, epoch = report.selected_epoch(rows, "target_video_acc", tmp_path)
    assert selected == {"target_video_acc": 0.7, "heldout_video_acc": 0.4, "epoch": 2}
    # Only epoch 3's checkpoint (tied on the metric) is on disk: its weights are not the
    # selected epoch's, so none is used.
    assert checkpoint is None and epoch is None
    # Such a study kept the selected epoch's own checkpoint (weights in state.pt).
    (tmp_path / "checkpoint_000001").mkdir()
    (tmp_path / "checkpoint_000001" / "state.pt").write_bytes(b"x")
    _, checkpoint, epoch = report.selected_epoch(rows, "target_video_acc", tmp_path)
    assert checkpoint == tmp_path / "checkpoint_000001" and epoch == 2
    assert report.selected_epoch([], "target_video_acc", tmp_path) == (None, None, None)


def test_the_latest_checkpoint_holds_the_selected_epochs_weights(tmp_path: Path) -> None:
    """Tune keeps the latest checkpoint; its best.pt holds the weights of the epoch selected
    when it was written, which the report uses only if that is the trial's selected epoch."""
    rows = rows_for([{"target_video_acc": 0.5, "selected_epoch": 1},
                     {"target_video_acc": 0.7, "selected_epoch": 2},
                     {"target_video_acc": 0.7, "selected_epoch": 2}])
    latest = tmp_path / "checkpoint_000002"
    latest.mkdir()
    (latest / "best.pt").write_bytes(b"x")
    _, checkpoint, epoch = report.selected_epoch(rows, "target_video_acc", tmp_path)
    assert checkpoint == latest and epoch == 2
    # Epoch 3 selected, but the last checkpoint on disk is epoch 2's, written when epoch 1
    # was selected: it holds epoch 1's weights, so none is used.
    rows = rows_for([{"target_video_acc": 0.5, "selected_epoch": 1},
                     {"target_video_acc": 0.4, "selected_epoch": 1},
                     {"target_video_acc": 0.7, "selected_epoch": 3}])
    latest.rename(tmp_path / "checkpoint_000001")
    assert report.selected_epoch(rows, "target_video_acc", tmp_path)[1:] == (None, None)


def test_selected_epoch_prefers_the_trainables_own_record(tmp_path: Path) -> None:
    rows = rows_for([{"target_video_acc": 0.5, "selected_epoch": 1,
                      "selected_target_video_acc": 0.5, "selected_heldout_video_acc": 0.2},
                     {"target_video_acc": 0.4, "selected_epoch": 1,
                      "selected_target_video_acc": 0.5, "selected_heldout_video_acc": 0.2}])
    selected, checkpoint, _ = report.selected_epoch(rows, "target_video_acc", tmp_path)
    assert selected == {"target_video_acc": 0.5, "heldout_video_acc": 0.2, "epoch": 1}
    assert checkpoint is None


def record(lam: float, accuracy: float) -> report.TrialRecord:
    return report.TrialRecord(f"t{lam}", "TERMINATED", Path("."), {"lam": lam},
                              selected={"target_video_acc": accuracy, "epoch": 1},
                              configuration=f"t{lam}")


def comparison_of(*trials: tuple[float, float]) -> tuple[float | None, float | None]:
    study = report.Study(StudyLayout(Path(".")), StudySettings(), {},
                         [record(lam, accuracy) for lam, accuracy in trials])
    pair = report.comparison(study)
    return tuple(None if c is None else c.lam for c in (pair.low, pair.high))


def test_comparison_prefers_the_best_near_0_and_near_1_configurations() -> None:
    assert comparison_of((0.0, 0.2), (0.05, 0.3), (0.5, 0.9), (0.95, 0.1),
                         (1.0, 0.4)) == (0.05, 1.0)
    # No lam near 0: the best configuration against the best near 1 (the lam = 1 baseline).
    assert comparison_of((0.5, 0.9), (0.95, 0.1)) == (0.5, 0.95)
    # Neither end: the best alone; the paper's lam = 1 row is the baseline.
    assert comparison_of((0.3, 0.1), (0.5, 0.9)) == (0.5, None)


def test_pareto_front_keeps_ties_and_drops_dominated_points() -> None:
    front = report.pareto_front(np.array([1, 2, 3, 2, 1.0]), np.array([3, 2, 1, 1, 3.0]))
    assert front.tolist() == [True, True, True, False, True]


@pytest.mark.parametrize(("name", "storage", "expected"), [
    ("no-such-study", None, "no study 'no-such-study' under"),
    ("study", "study.json", "is a file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, name: str, storage: str | None,
                                          expected: str,
                                          capsys: pytest.CaptureFixture) -> None:
    folder = write_study(tmp_path / "study", settings=TABLE2).root
    where = folder.parent if storage is None else folder / storage
    assert report.main(["--name", name, "--storage-path", str(where)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and expected in captured.err
    assert captured.err.startswith("study.report: error: ") and captured.out == ""
    if storage is None:
        assert "(studies there: study)" in captured.err
