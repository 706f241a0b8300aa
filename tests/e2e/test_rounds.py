"""``--space baselines --rounds 2`` end to end on tiny data: every method runs in the same
trainable with the same seeds and the report compares them; round 2's NetB gives a new Z,
round 2's NetA trials train towards it, and a resumed study continues in round 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.study_helpers import REPO, run_cli, study_args, trial_results
from trainables.config import METHODS, REPEAT_KEY

REPEATS = 2


@pytest.fixture(scope="module")
def rounds_study(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[Path, list[str], str]:
    storage = tmp_path_factory.mktemp("results")
    args = study_args(tiny_data, storage, "k2", trials=len(METHODS), epochs=1,
                      extra=("--rounds", "2", "--repeats", str(REPEATS), "--space",
                             "baselines"))
    result = run_cli(args)
    assert result.returncode == 0, result.stderr[-3000:]
    return storage / "k2", args, result.stdout + result.stderr


def _centroids(path: Path) -> np.ndarray:
    return np.asarray(json.loads(path.read_text())["centroids"], dtype=np.float32)


def _norm(z: np.ndarray) -> float:
    return float(np.linalg.norm(z.astype(np.float64)))


def test_round_two_trains_towards_a_new_z(rounds_study: tuple[Path, list[str], str]) -> None:
    folder, _, console = rounds_study
    first = _centroids(folder / "netb" / "centroids.json")
    second = _centroids(folder / "rounds" / "2" / "netb" / "centroids.json")
    assert first.shape == second.shape and not np.allclose(first, second)
    # NetB of round 2 was trained towards NetA's source centroids, which differ from Z.
    neta = _centroids(folder / "rounds" / "2" / "netb" / "neta_centroids.json")
    assert not np.allclose(neta, first)
    chosen = json.loads((folder / "rounds" / "chosen.json").read_text())
    search = pd.read_csv(folder / "trials.csv", dtype={"configuration": str})
    assert chosen["configuration"] in set(search["configuration"])
    rows = trial_results(folder / "round_2")
    assert len(rows) == REPEATS
    seeds = set()
    for reported in rows.values():
        config = reported[-1]["config"]
        assert config["round"] == 2 and config["lam"] == chosen["config"]["lam"]
        seeds.add(config[REPEAT_KEY])
        assert all(row["round"] == 2 for row in reported)
        # Every epoch of round 2 saw round 2's Z, not round 1's.
        assert all(row["centroids_norm"] == pytest.approx(_norm(second), rel=1e-12)
                   for row in reported)
        assert _norm(first) != pytest.approx(_norm(second), rel=1e-6)
    assert seeds == set(range(REPEATS))
    for reported in trial_results(folder).values():
        assert all(row["round"] == 1 and row["centroids_norm"] == pytest.approx(
            _norm(first), rel=1e-12) for row in reported)
    assert "Round 2 NetB" in console


def test_the_rounds_table_has_a_row_per_round(
        rounds_study: tuple[Path, list[str], str]) -> None:
    folder, _, console = rounds_study
    table = pd.read_csv(folder / "rounds.csv")
    assert list(table["round"]) == [1, 2]
    assert list(table["seeds"]) == [REPEATS, REPEATS]
    netb = json.loads((folder / "rounds" / "2" / "netb" / "summary.json").read_text())
    assert table.loc[1, "netb_heldout_video_acc"] == pytest.approx(
        netb["metrics"]["heldout_video_acc"])
    moved = np.linalg.norm(_centroids(folder / "rounds" / "2" / "netb" / "centroids.json")
                           - _centroids(folder / "netb" / "centroids.json"))
    assert table.loc[1, "z_moved"] == pytest.approx(moved, rel=1e-6)
    second = pd.read_csv(folder / "rounds" / "2" / "trials.csv")
    assert table.loc[1, "selected_heldout_video_acc_mean"] == pytest.approx(
        second["selected_heldout_video_acc"].mean())
    assert "Rounds (the chosen configuration's seeds" in console
    assert json.loads((folder / "study.json").read_text()).get("completed")


def test_a_resumed_study_continues_in_round_two(
        rounds_study: tuple[Path, list[str], str], tmp_path: Path) -> None:
    """Round 2's NetA gone (as if killed before it ran), the study not complete: --resume
    keeps round 1 and round 2's NetB, and runs round 2's NetA."""
    folder, _, _ = rounds_study
    copy = tmp_path / "k2"
    shutil.copytree(folder, copy)
    shutil.rmtree(copy / "round_2")
    (copy / "rounds" / "2" / "trials.csv").unlink()
    record = json.loads((copy / "study.json").read_text())
    record.pop("completed")
    (copy / "study.json").write_text(json.dumps(record))
    z_before = (copy / "rounds" / "2" / "netb" / "centroids.json").read_bytes()
    resumed = ["--storage-path", str(tmp_path), "--name", "k2", "--resume", "--gpus", "0",
               "--no-progress", "--force"]
    result = run_cli(resumed)
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    assert "Reusing NetB" in console and "Reusing round 2's NetB" in console
    assert (copy / "rounds" / "2" / "netb" / "centroids.json").read_bytes() == z_before
    assert len(trial_results(copy / "round_2")) == REPEATS
    assert trial_results(copy) == trial_results(folder)  # round 1 was not run again
    assert json.loads((copy / "study.json").read_text()).get("completed")


def test_every_method_ran_with_the_same_seeds_and_the_report_compares_them(
        rounds_study: tuple[Path, list[str], str]) -> None:
    folder, _, console = rounds_study
    trials = pd.read_csv(folder / "trials.csv", dtype={"configuration": str})
    assert sorted(trials["method"]) == sorted(list(METHODS) * REPEATS)
    assert all(sorted(group) == list(range(REPEATS))
               for _, group in trials.groupby("method")["repeat"])
    assert trials.loc[trials["method"] != "centroid", "lam"].isna().all()
    weights = trials.filter(like="_weight")
    assert [trials.loc[weights[f"{m}_weight"].notna(), "method"].unique().tolist()
            for m in ("coral", "mmd", "dann")] == [["coral"], ["mmd"], ["dann"]]
    for reported in trial_results(folder).values():
        config = reported[-1]["config"]
        assert ("E_align" in reported[-1]) == (config["method"] in ("coral", "mmd", "dann"))
    report = subprocess.run([sys.executable, "-m", "study.report", "--name", folder.name,
                             "--storage-path", str(folder.parent)], cwd=REPO, text=True,
                            capture_output=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    methods = pd.read_csv(folder / "report" / "methods.csv")
    assert list(methods["method"][:-1]).count("centroid") == 1
    assert sorted(methods["method"][:-1]) == sorted(METHODS)
    assert methods["method"].iloc[-1] == "NetB"
    netb = json.loads((folder / "netb" / "summary.json").read_text())["metrics"]
    assert methods["heldout_video_acc_mean"].iloc[-1] == pytest.approx(
        netb["heldout_video_acc"])
    text = (folder / "report" / "report.md").read_text()
    assert "## Methods" in text and "## Rounds" in text
    assert (folder / "report" / "methods.png").stat().st_size > 0
    assert (folder / "report" / "rounds.csv").exists()
