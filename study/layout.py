"""Where a study keeps its files under ``STORAGE/NAME``.

Ray Tune owns the experiment files (``tuner.pkl``, experiment state, one folder per
trial with its ``params.json``, ``result.json`` and checkpoints); this module names the
study's own files beside them. When ``STORAGE`` is a URI, the study's own files live in a
local mirror and are pushed to (and pulled from) the URI; see :mod:`study.storage`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.storage import RemoteFolder, is_uri, mirror_folder
from trainables.io import atomic_write_text


@dataclass(frozen=True)
class StudyLayout:
    """Paths of one study: ``root`` on this machine, and ``remote`` when stored at a URI."""

    root: Path
    remote: RemoteFolder | None = None
    # Set from root (see __post_init__): the study's name, the folder it is in, its own files.
    name: str = field(init=False)
    storage_path: Path = field(init=False)
    study_file: Path = field(init=False)      # settings, fingerprint, protocol, code
    trials_csv: Path = field(init=False)      # one row per trial (study.outputs)
    best_file: Path = field(init=False)       # the best configuration
    tensorboard_dir: Path = field(init=False)
    report_dir: Path = field(init=False)      # python -m study.report
    netb_dir: Path = field(init=False)        # NetB: its weights, summary and centroids Z
    netb_weights: Path = field(init=False)
    netb_summary: Path = field(init=False)    # written last: marks a complete NetB
    centroids_file: Path = field(init=False)
    netb_representations: Path = field(init=False)  # --task va: NetB's U of the target frames
    optuna_journal: Path = field(init=False)  # the Optuna study (study.optuna_storage)
    rounds_dir: Path = field(init=False)      # --rounds K: rounds/<r>/ for r = 2..K
    rounds_csv: Path = field(init=False)      # one row per round (study.rounds)

    def __post_init__(self) -> None:
        netb = self.root / "netb"
        paths = dict(name=self.root.name, storage_path=self.root.parent,
                     study_file=self.root / "study.json", trials_csv=self.root / "trials.csv",
                     best_file=self.root / "best.json", report_dir=self.root / "report",
                     tensorboard_dir=self.root / "tensorboard", netb_dir=netb,
                     netb_weights=netb / "netb.pt", netb_summary=netb / "summary.json",
                     centroids_file=netb / "centroids.json",
                     netb_representations=netb / "target_representations.npy",
                     optuna_journal=self.root / "optuna.journal",
                     rounds_dir=self.root / "rounds", rounds_csv=self.root / "rounds.csv")
        for key, value in paths.items():
            object.__setattr__(self, key, value)  # how a frozen dataclass sets derived fields

    def round_folder(self, round_number: int) -> Path:
        """Round ``r``'s own files (its NetB and chosen configuration); round 1's are the
        study's ``netb/``."""
        return self.root if round_number == 1 else self.rounds_dir / str(round_number)

    @classmethod
    def create(cls, storage_path: str | Path, name: str) -> StudyLayout:
        if is_uri(str(storage_path)):
            storage = RemoteFolder.open(str(storage_path))
            return cls(mirror_folder(storage.uri) / name, storage.child(name))
        return cls(Path(storage_path).expanduser().resolve() / name)

    @property
    def tune_storage(self) -> str:
        """Ray Tune's ``storage_path``: the URI itself, or the local folder."""
        return self.remote.uri.rpartition("/")[0] if self.remote else str(self.storage_path)

    @property
    def tune_path(self) -> str:
        """The experiment folder as Ray Tune names it (for restore and analysis)."""
        return self.remote.uri if self.remote else str(self.root)

    @property
    def display_storage(self) -> str:
        """``--storage-path`` as the user should type it again."""
        return self.tune_storage if self.remote else relative(self.storage_path)

    @property
    def display_root(self) -> str:
        return self.remote.uri if self.remote else relative(self.root)

    def exists(self) -> bool:
        if self.remote:
            return self.remote.has(self.study_file.name)
        return self.study_file.exists()

    def is_taken(self) -> bool:
        """Something is already stored under this study's name."""
        if self.remote:
            return not self.remote.is_empty()
        return self.root.exists() and any(self.root.iterdir())

    def clear_mirror(self) -> None:
        """Empty the local mirror of a URI study: the URI is the truth, stale copies are not."""
        if self.remote:
            shutil.rmtree(self.root, ignore_errors=True)

    def push(self, *names: str) -> None:
        """Upload the study's own files or folders ``names`` to the URI; no-op when local."""
        if self.remote:
            for name in names:
                self.remote.upload(self.root / name, name)

    def pull(self, *names: str) -> None:
        """Download the study's own files or folders ``names`` from the URI; no-op when local."""
        if self.remote:
            for name in names:
                self.remote.download(name, self.root / name)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically, so a killed driver never leaves a half file behind."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def relative(path: Path) -> str:
    """``path`` relative to the working directory when below it, for shorter messages."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
