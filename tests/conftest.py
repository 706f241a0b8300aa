"""Shared fixtures: a private cache folder for the whole session, a tiny data set, and a
local Ray for the tests that run a real Tuner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from tests.study_helpers import make_tiny_dataset


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frame and feature caches go to a temp folder, never the user's cache."""
    folder = tmp_path_factory.mktemp("cache")
    os.environ["EMOTION_STUDY_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short synthetic video per class in Train, Val and Test."""
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A private local Ray (2 CPUs, no dashboard) for one test module."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()
