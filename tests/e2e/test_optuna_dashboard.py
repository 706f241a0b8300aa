"""optuna-dashboard on a study's journal, as a browser shows it: a headless Chromium renders
the trials page (a JavaScript app) and its text must list every trial. Skipped where
optuna-dashboard (pip install -e ".[dashboard]") or Chromium is not installed."""

from __future__ import annotations

import html
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from study import optuna_storage
from study.optuna_storage import OptunaTarget, attach
from study.search import fixed_config, make_searcher
from study.settings import StudySettings

DASHBOARD = shutil.which("optuna-dashboard")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
SETTINGS = StudySettings(space="paper", trials=3, seed=0)


def write_journal(journal: Path) -> None:
    """Three trials through the study's searcher, as Ray would ask for and end them."""
    attach(OptunaTarget("watched", journal=journal))
    try:
        searcher = make_searcher(SETTINGS, fixed_config(SETTINGS, False, False))
        for index, value in enumerate((0.25, 0.5, 0.75)):
            searcher.suggest(f"ray{index}")
            searcher.on_trial_complete(f"ray{index}", {SETTINGS.objective: value,
                                                       "training_iteration": 1})
    finally:
        optuna_storage.detach()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_text(url: str, profile: Path) -> str:
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    dom = re.sub(r"<(style|script)\b.*?</\1>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


@pytest.mark.skipif(DASHBOARD is None or CHROMIUM is None,
                    reason="needs optuna-dashboard and Chromium")
def test_optuna_dashboard_lists_the_trials(tmp_path: Path) -> None:
    journal = tmp_path / "optuna.journal"
    write_journal(journal)
    port = free_port()
    server = subprocess.Popen([DASHBOARD, str(journal), "--port", str(port),
                               "--host", "127.0.0.1", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
        text = page_text(f"http://127.0.0.1:{port}/dashboard/studies/0/trials",
                         tmp_path / "chromium")
    finally:
        server.terminate()  # the server this test started, by its own handle
        server.wait(timeout=30)
    assert "watched" in text and "3 Trials" in text, text[:2000]
    for number in range(3):
        assert f"Trial {number} Complete" in text, text[:2000]
    assert "ray_trial_id ray" in text  # the selected trial's user attribute
