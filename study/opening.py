"""Opening a study's folder: a new one (never over an existing one) or one to resume.

Everything here is cheap and runs before any data work: the name, the storage and, on
resume, the stored settings against what the user typed.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from study.layout import StudyLayout, read_json
from study.settings import RunOptions, StudySettings, new_settings, resumed_settings
from study.storage import is_uri
from trainables.errors import UserInputError


def open_study(options: RunOptions, typed: dict[str, Any]
               ) -> tuple[StudyLayout, StudySettings, dict[str, Any]]:
    """The study's folder, its settings and what ``study.json`` holds (``{}`` for a new
    study); refuses a clash between --name and --resume."""
    name = options.name or datetime.now().strftime("study-%Y%m%d-%H%M%S")
    if "/" in name or name in ("", ".", ".."):
        raise UserInputError(f"--name {name!r} must be a plain folder name")
    if not is_uri(options.storage_path):
        storage = Path(options.storage_path).expanduser().absolute()
        if storage.exists() and not storage.is_dir():
            raise UserInputError(f"--storage-path {storage} is a file; give a folder")
    layout = StudyLayout.create(options.storage_path, name)
    layout.clear_mirror()
    where = layout.display_storage
    if options.resume:
        if not layout.exists():
            raise UserInputError(f"no study {name!r} under {where} to resume; check --name "
                                 f"and --storage-path, or start it without --resume")
        layout.pull("study.json", "netb", "tensorboard", layout.optuna_journal.name)
        stored = read_json(layout.study_file)
        return layout, resumed_settings(typed, stored["settings"]), stored
    if layout.is_taken():
        raise UserInputError(f"a study named {name!r} already exists in {where}; add "
                             f"--resume to continue it, or pick another --name")
    if layout.remote:
        layout.remote.check_writable()
    else:
        check_writable(layout.storage_path)
    return layout, new_settings(typed), {}


def check_writable(storage: Path) -> None:
    """Fail now, not after NetB, if the study cannot be written.

    A real write is tried (and removed at once): permission bits alone say nothing to root
    and nothing about read-only mounts.
    """
    existing = storage
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserInputError(f"--storage-path {storage} lies inside the file {existing}; give "
                             f"a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserInputError(f"--storage-path {storage} is not writable ({error.strerror}); "
                             f"choose a folder you can write to") from None
