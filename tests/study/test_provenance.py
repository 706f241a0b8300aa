"""study.json records the code that produced a study: the package version and git commit."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from study import provenance
from tests.study_helpers import REPO


def test_code_version_names_this_checkout() -> None:
    code = provenance.code_version()
    assert code["package"] == metadata.version("emotion-crossdata-study")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert code["git_commit"] == head.stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD"]).returncode != 0
    assert code["git_dirty"] is dirty


def test_outside_a_checkout_there_is_no_commit(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "SOURCE_TREE", tmp_path)  # an installed wheel's folder
    code = provenance.code_version()
    assert code["git_commit"] is None and code["git_dirty"] is None
