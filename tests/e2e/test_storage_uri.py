"""A study stored at a URI through pyarrow.fs: ``file://`` here, the path s3:// and gs:// take.

Ray Tune writes its trial folders to the URI; the study's own files (NetB, TensorBoard,
trials.csv, best.json, the report) are uploaded there from a local mirror, and a resume or a
report on another machine downloads them again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.e2e.test_faults import EPOCHS, Killed, assert_complete
from tests.e2e.test_optuna_storage import assert_optuna_matches_trials_csv
from tests.study_helpers import REPO, kill_when, run_cli, start_cli, study_args, trial_results
from trainables.config import cache_root


def test_study_at_a_uri_keeps_everything_there_and_resumes(tiny_data: Path,
                                                           tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    uri = f"file://{bucket}/studies"
    args = study_args(tiny_data, uri, "at-uri", trials=2, epochs=1)
    first = run_cli(args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    study = bucket / "studies" / "at-uri"
    for name in ("study.json", "netb/netb.pt", "netb/centroids.json", "netb/summary.json",
                 "trials.csv", "best.json"):
        assert (study / name).is_file(), name
    runs = {path.parent.name for path in (study / "tensorboard").rglob("events.out.tfevents.*")}
    frame = pd.read_csv(study / "trials.csv")
    assert runs == {"netb", *(f"trial_{trial}" for trial in frame["trial_id"])}
    assert list(frame["status"]) == ["TERMINATED", "TERMINATED"]
    assert len(list(study.glob("trial_*/checkpoint_*"))) >= 2
    assert f"{uri}/at-uri/trials.csv" in first.stdout

    # Another machine has no mirror: everything must come from the URI. The study is
    # complete, which study.json at the URI says: the resume does nothing else (issue #11;
    # the killed-mid-trial test below resumes an unfinished study from the URI).
    shutil.rmtree(cache_root() / "remote-studies")
    resumed = run_cli([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "'at-uri' is complete" in resumed.stdout and "Ray:" not in resumed.stdout
    assert list(pd.read_csv(study / "trials.csv")["trial_id"]) == list(frame["trial_id"])

    report = subprocess.run([sys.executable, "-m", "study.report", "--name", "at-uri",
                             "--storage-path", uri], cwd=REPO, text=True, capture_output=True,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (study / "report" / "report.md").read_text().startswith("# Report: at-uri")
    assert list((study / "report").glob("*.png"))


def test_uri_study_killed_mid_trial_resumes_from_the_uri(tiny_data: Path, tmp_path: Path) -> None:
    uri = f"file://{tmp_path / 'bucket'}/studies"
    study = tmp_path / "bucket" / "studies" / "killed"
    args = study_args(tiny_data, uri, "killed", trials=2, epochs=EPOCHS)
    first = start_cli(args, tmp_path / "first.log")
    assert kill_when(first, lambda: any(trial_results(study).values())), \
        (tmp_path / "first.log").read_text()[-3000:]
    interrupted = {trial: rows for trial, rows in trial_results(study).items() if rows}
    shutil.rmtree(cache_root() / "remote-studies")
    resumed = run_cli([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "Reusing NetB" in resumed.stdout
    finished = {trial: rows for trial, rows in interrupted.items() if len(rows) == EPOCHS}
    assert_complete(Killed(study, finished, {t: r for t, r in interrupted.items()
                                             if t not in finished}, resumed.stdout))
    # The Optuna journal was uploaded with Ray's snapshots and downloaded on resume.
    assert_optuna_matches_trials_csv(study, "killed", trials=2)
