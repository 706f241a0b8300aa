"""``--task va`` end to end on a small set from the embedded valence-arousal generator: NetB's
cell-mean Z with its empty cells dropped, CCC figures in trials.csv and TensorBoard, a NetA
that learns its source (mean frame CCC well above 0, the chance level), and the report, whose
evaluator rebuilds the trial on its grid and re-scores its checkpoint to what it reported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.study_helpers import REPO, run_cli, trial_results
from trainables.synthetic_va import generate_va_dataset

GRID = 10
EPOCHS = 6
#: A trial "learned its source" when its best source frame CCC reaches this (chance is 0).
SOURCE_CCC = 0.3


@pytest.fixture(scope="module")
def va_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("va")
    data = generate_va_dataset(root / "data", seed=1, progress=False,
                               videos_per_split={"Train": 16, "Val": 10, "Test": 6},
                               frames_per_video=(16, 24))
    # table2's first grid point with --seed 5 is lam = 1 (E_a alone, the source's labels).
    result = run_cli(["--task", "va", "--va-grid", str(GRID), "--data-root", str(data),
                      "--test-split", "Test", "--storage-path", str(root / "results"),
                      "--name", "va", "--space", "table2", "--seed", "5", "--trials", "1",
                      "--epochs", str(EPOCHS), "--netb-epochs", "10", "--gpus", "0",
                      "--no-progress", "--force"])
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "results" / "va", result.stdout + result.stderr


def test_netb_makes_cell_means_and_drops_empty_cells(va_study: tuple[Path, str]) -> None:
    folder, console = va_study
    summary = json.loads((folder / "netb" / "summary.json").read_text())
    z = np.asarray(json.loads((folder / "netb" / "centroids.json").read_text())["centroids"],
                   dtype=np.float64)
    assert z.shape == (GRID * GRID, 128)
    empty = int(np.isnan(z).any(axis=1).sum())
    assert summary["dropped_cells"] == empty and 0 < empty < GRID * GRID
    assert summary["centroid_method"] == "mean" and summary["va_grid"] == GRID
    assert f"{empty} without target frames dropped" in console
    assert (folder / "netb" / "target_representations.npy").exists()
    assert "valence-arousal on a 10x10 grid" in console


def test_trials_report_ccc_and_learn_their_source(va_study: tuple[Path, str]) -> None:
    folder, _ = va_study
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 1 and trials["lam"].iloc[0] == 1.0
    for column in ("best_target_frame_ccc", "selected_heldout_frame_ccc",
                   "selected_heldout_video_ccc", "selected_source_frame_rmse_valence",
                   "selected_target_frame_acc", "dropped_cells"):
        assert column in trials, column
    rows = next(iter(trial_results(folder).values()))
    assert len(rows) == EPOCHS
    best_source = max(row["source_frame_ccc"] for row in rows)
    assert best_source >= SOURCE_CCC, [round(row["source_frame_ccc"], 3) for row in rows]
    assert rows[-1]["learned"] == 1.0
    # Selection on the target's mean frame CCC: the selected epoch is its first best.
    targets = [row["target_frame_ccc"] for row in rows]
    assert trials["selected_epoch"].iloc[0] == int(np.argmax(targets)) + 1
    best = json.loads((folder / "best.json").read_text())
    assert best["objective"] == "best_target_frame_ccc"


def test_tensorboard_has_the_ccc_scalars(va_study: tuple[Path, str]) -> None:
    folder, _ = va_study
    runs = [path.parent for path in (folder / "tensorboard").rglob("events.out.tfevents.*")
            if path.parent.name.startswith("trial_")]
    assert runs
    events = EventAccumulator(str(runs[0]))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"source_frame_ccc", "heldout_video_ccc", "target_frame_ccc_arousal"} <= tags


@pytest.fixture(scope="module")
def va_report(va_study: tuple[Path, str]) -> Path:
    folder, _ = va_study
    report = subprocess.run([sys.executable, "-m", "study.report", "--name", folder.name,
                             "--storage-path", str(folder.parent)], cwd=REPO, text=True,
                            capture_output=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    return folder


def last_result(folder: Path) -> dict:
    trial = next(folder.glob("trial_*"))
    return json.loads((trial / "result.json").read_text().splitlines()[-1])


def test_report_recomputes_what_the_trial_reported(va_report: Path) -> None:
    text = (va_report / "report" / "report.md").read_text()
    assert "Nothing is missing" in text
    part = text.split("\n## Valence and arousal")[1].split("\n## ")[0]
    result = last_result(va_report)
    annotated = int(json.loads((va_report / "netb" / "summary.json").read_text())
                    ["metrics"]["heldout_annotated_frames"])
    assert f"every annotated frame ({annotated})" in part
    numbers = re.search(r"CCC recomputed: valence (\S+), arousal (\S+); reported at the "
                        r"selected epoch: valence (\S+), arousal (\S+)\.", part)
    assert numbers is not None, part
    valence, arousal, *reported = (float(n) for n in numbers.groups())
    expected = [result[f"selected_heldout_frame_ccc_{d}"] for d in ("valence", "arousal")]
    assert reported == pytest.approx(expected, abs=5e-4)  # printed to 3 decimals
    assert [valence, arousal] == pytest.approx(expected, abs=1.1e-3)
    cells = pd.read_csv(va_report / "report" / "va_cell_distances.csv", index_col=0)
    assert cells.shape == (GRID, GRID)
    distances = cells.to_numpy()
    assert np.nanmean(distances) == pytest.approx(result["selected_centroid_distance_mean"],
                                                  rel=1e-4)
    assert np.isfinite(distances).sum() == result["centroid_cells"]
    for name in ("va_ccc.csv", "va_histogram.png", "va_distances.png", "floor.csv"):
        assert (va_report / "report" / name).exists(), name


def test_predict_refuses_a_va_study_in_one_line(va_study: tuple[Path, str]) -> None:
    folder, _ = va_study
    videos = folder.parent.parent / "data" / "Test"
    video = sorted(path for path in videos.iterdir() if path.is_dir())[0]
    result = subprocess.run([sys.executable, "-m", "study.predict", "--name", folder.name,
                             "--storage-path", str(folder.parent), str(video)], cwd=REPO,
                            text=True, capture_output=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "valence-arousal study" in lines[0], result.stderr
