"""A tiny real valence-arousal study (issue #14), then its report: the evaluator rebuilds
each trial on its grid and re-scores its kept checkpoint to the numbers the trial reported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.study_helpers import REPO, run_cli
from trainables.synthetic_va import generate_va_dataset

GRID = 6


@pytest.fixture(scope="module")
def va_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("va")
    data = generate_va_dataset(root / "data", seed=0, progress=False, frames_per_video=(8, 12),
                               videos_per_split={"Train": 3, "Val": 3, "Test": 2})
    result = run_cli(["--task", "va", "--va-grid", str(GRID), "--data-root", str(data),
                      "--test-split", "Test", "--trials", "1", "--epochs", "1",
                      "--netb-epochs", "1", "--gpus", "0", "--no-progress", "--force",
                      "--name", "va", "--storage-path", str(root / "store")])
    assert result.returncode == 0, result.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "study.report", "--name", "va",
                             "--storage-path", str(root / "store")], cwd=REPO, text=True,
                            capture_output=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    return root / "store" / "va"


def last_result(folder: Path) -> dict:
    trial = next(folder.glob("trial_*"))
    return json.loads((trial / "result.json").read_text().splitlines()[-1])


def test_report_recomputes_what_the_trial_reported(va_study: Path) -> None:
    text = (va_study / "report" / "report.md").read_text()
    assert "Nothing is missing" in text
    part = text.split("\n## Valence and arousal")[1].split("\n## ")[0]
    result = last_result(va_study)
    annotated = int(json.loads((va_study / "netb" / "summary.json").read_text())
                    ["metrics"]["heldout_annotated_frames"])
    assert f"every annotated frame ({annotated})" in part
    numbers = re.search(r"CCC recomputed: valence (\S+), arousal (\S+); reported at the "
                        r"selected epoch: valence (\S+), arousal (\S+)\.", part)
    assert numbers is not None, part
    valence, arousal, *reported = (float(n) for n in numbers.groups())
    expected = [result[f"selected_heldout_frame_ccc_{d}"] for d in ("valence", "arousal")]
    assert reported == pytest.approx(expected, abs=5e-4)  # printed to 3 decimals
    assert [valence, arousal] == pytest.approx(expected, abs=1.1e-3)
    cells = pd.read_csv(va_study / "report" / "va_cell_distances.csv", index_col=0)
    assert cells.shape == (GRID, GRID)
    distances = cells.to_numpy()
    assert np.nanmean(distances) == pytest.approx(result["selected_centroid_distance_mean"],
                                                  rel=1e-4)
    assert np.isfinite(distances).sum() == result["centroid_cells"]
    for name in ("va_ccc.csv", "va_histogram.png", "va_distances.png", "floor.csv"):
        assert (va_study / "report" / name).exists(), name
