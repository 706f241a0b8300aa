"""``python -m study.bench`` as users run it: its table and one JSON line at the end (no
speed asserted), and a bad flag as one line."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.study_helpers import REPO

REQUIRED = ("speedup_cached", "frames_per_s_cached", "frames_per_s_uncached",
            "trial_overhead_s", "device")


def test_quick_bench_reports_every_measurement() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "study.bench", "--quick", "--frames", "48",
         "--trivial-trials", "2"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert set(REQUIRED) <= set(summary)
    assert summary["frames"] == 48 and summary["quick"] is True
    assert summary["frames_per_s_cached"] > 0 and summary["frames_per_s_uncached"] > 0
    assert summary["device"].startswith(("CPU", "NVIDIA")) or "GPU" in summary["device"]
    table = "\n".join(lines[:-1])
    for measurement in ("(a) NetA epoch from frames", "(b) NetA epoch from cached features",
                        "(c) Ray Tune overhead per trial", summary["device"]):
        assert measurement in table


def test_bad_flag_is_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "study.bench", "--frames", "-3"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
