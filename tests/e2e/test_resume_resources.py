"""--resume follows the new resource flags (trials at once, CPUs per trial), and a resumed
study that is already complete says so and does nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.study_helpers import kill_when, run_cli, start_cli, study_args, trial_results

TRIALS, EPOCHS = 4, 3
#: Result timestamps are whole seconds: two trials count as running at once only when
#: their spans overlap by more than this.
TIMESTAMP_SLACK_S = 1.0


def spans(rows_by_trial: dict[str, list[dict]]) -> dict[str, tuple[float, float]]:
    """Each trial's (start, end) in wall-clock seconds, from the results it reported after
    its last (re)start."""
    out = {}
    for trial, rows in rows_by_trial.items():
        rows = [row for row in rows if row["iterations_since_restore"] >= 1]
        last_start = max(i for i, row in enumerate(rows) if row["iterations_since_restore"] == 1)
        first = rows[last_start]
        out[trial] = (first["timestamp"] - first["time_since_restore"], rows[-1]["timestamp"])
    return out


def overlapping(spans_by_trial: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    ordered = sorted(spans_by_trial.items(), key=lambda item: item[1][0])
    return [(a, b) for i, (a, (_, end_a)) in enumerate(ordered)
            for b, (start_b, _) in ordered[i + 1:] if start_b < end_a - TIMESTAMP_SLACK_S]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


def cluster_cpus() -> int:
    """The CPUs a local Ray cluster sees here (cgroup limits included), as the study's."""
    from ray._private.utils import get_num_cpus
    return int(get_num_cpus())


def test_resume_with_fewer_cpus_per_trial_runs_two_at_once(tiny_data: Path,
                                                            tmp_path: Path) -> None:
    cpus = cluster_cpus()
    if cpus < 2:
        pytest.skip("two trials at once need two CPUs")
    storage, name = tmp_path / "results", "resized"
    study = storage / name
    # Every CPU per trial: one trial at a time before the kill.
    first = study_args(tiny_data, storage, name, trials=TRIALS, epochs=EPOCHS,
                       extra=("--cpus-per-trial", str(cpus)))
    log = tmp_path / "first.log"
    assert kill_when(start_cli(first, log), lambda: any(trial_results(study).values())), \
        log.read_text()[-3000:]
    assert len([rows for rows in trial_results(study).values() if rows]) == 1

    # Half of them per trial on resume: two at once.
    resumed_args = study_args(tiny_data, storage, name, trials=TRIALS, epochs=EPOCHS,
                              extra=("--cpus-per-trial", str(cpus // 2), "--resume"))
    resumed = run_cli(resumed_args)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert f"({cpus // (cpus // 2)} trials at once)" in resumed.stdout  # 2 or 3
    results = trial_results(study)
    assert len(results) == TRIALS and all(rows[-1]["epoch"] == EPOCHS
                                          for rows in results.values())
    assert overlapping(spans(results)), spans(results)

    # Resumed again, the complete study says so: no Ray, nothing written.
    files = snapshot(study)
    again = run_cli(resumed_args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "is complete" in again.stdout and "Ray:" not in again.stdout
    assert snapshot(study) == files
