"""The layers point one way: ``trainables/`` (the library) below ``search_spaces/`` below
``study/``; and the library runs without Ray (only ``study/`` talks to Ray Tune)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import search_spaces
import trainables
from tests.study_helpers import REPO

LIBRARY = sorted(f"trainables.{m.name}" for m in pkgutil.iter_modules(trainables.__path__))
SPACES = sorted(f"search_spaces.{m.name}" for m in pkgutil.iter_modules(search_spaces.__path__))


def loaded_after_import(modules: list[str]) -> set[str]:
    """Top-level packages in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    return set(done.stdout.split())


def test_the_library_loads_neither_ray_nor_the_layers_above() -> None:
    assert len(LIBRARY) > 10  # every module of the library, found on disk
    loaded = loaded_after_import(LIBRARY)
    assert "torch" in loaded  # the check sees what the library does import
    assert not {"ray", "study", "search_spaces"} & loaded


@pytest.mark.parametrize("space", SPACES)
def test_search_spaces_sit_below_the_study(space: str) -> None:
    assert "study" not in loaded_after_import([space])
