"""What code produced a study: the package version and, from a git checkout, its commit.

Recorded in ``study.json`` (as powerful-benchmarker records the code beside its results),
so a figure can be traced back to the code that made it.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "emotion-crossdata-study"
GIT_TIMEOUT_S = 10
SOURCE_TREE = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(SOURCE_TREE), *args], capture_output=True,
                              text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None  # no git on this machine
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict[str, str | bool | None]:
    """``{"package": version, "git_commit": sha or None, "git_dirty": bool or None}``.

    The commit is None when the package does not run from a git checkout (an installed
    wheel); ``git_dirty`` says whether tracked files differed from that commit.
    """
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"package": version, "git_commit": commit,
            "git_dirty": None if status is None else bool(status)}
