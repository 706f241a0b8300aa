"""Where a study keeps its files under ``STORAGE/NAME``.

Ray Tune owns the experiment files (``tuner.pkl``, experiment state, one folder per
trial with its ``params.json``, ``result.json`` and checkpoints); this module names the
study's own files beside them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StudyLayout:
    """Paths of one study."""

    root: Path

    @classmethod
    def create(cls, storage_path: str | Path, name: str) -> StudyLayout:
        return cls(Path(storage_path).expanduser().resolve() / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def storage_path(self) -> Path:
        return self.root.parent

    @property
    def study_file(self) -> Path:
        return self.root / "study.json"

    @property
    def netb_dir(self) -> Path:
        return self.root / "netb"

    @property
    def netb_weights(self) -> Path:
        return self.netb_dir / "netb.pt"

    @property
    def netb_summary(self) -> Path:
        return self.netb_dir / "summary.json"

    @property
    def centroids_file(self) -> Path:
        return self.netb_dir / "centroids.json"

    @property
    def tensorboard_dir(self) -> Path:
        return self.root / "tensorboard"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def best_file(self) -> Path:
        return self.root / "best.json"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def exists(self) -> bool:
        return self.study_file.exists()


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically, so a killed driver never leaves a half file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
        json.dump(payload, f, indent=2, sort_keys=True, default=str)
        temporary = f.name
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
