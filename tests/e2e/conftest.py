"""Everything in tests/e2e/ is end to end (subprocesses, kills, clusters, learning runs):
marked ``slow``, so ``python -m pytest -q -m "not slow"`` is the fast unit set."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
