"""The one atomic write (trainables/io.py): content, permissions, and no trace on failure."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from study.layout import write_json
from trainables.features import save_features
from trainables.io import atomic_path, atomic_write_text


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_get_the_mode_of_a_normally_created_file(tmp_path: Path,
                                                                umask: int) -> None:
    expected = 0o666 & ~umask
    (tmp_path / "plain").write_text("x")
    assert _mode(tmp_path / "plain") == expected, "the folder changes modes (default ACL?)"
    atomic_write_text(tmp_path / "a.txt", "hello")
    write_json(tmp_path / "b.json", {"b": 1})
    save_features(tmp_path / "c.npy", np.ones((2, 3), dtype=np.float16))
    for name in ("a.txt", "b.json", "c.npy"):
        assert _mode(tmp_path / name) == expected, name


def test_content_is_written(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "sub" / "a.txt", "hello\n")
    assert (tmp_path / "sub" / "a.txt").read_text() == "hello\n"
    write_json(tmp_path / "b.json", {"z": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "b.json").read_text()) == {"z": 1, "a": [1, 2]}
    assert (tmp_path / "b.json").read_text() == json.dumps({"a": [1, 2], "z": 1}, indent=2)
    features = np.arange(6, dtype=np.float16).reshape(2, 3)
    save_features(tmp_path / "c.npy", features)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), features)
    with atomic_path(tmp_path / "d.bin", ".bin") as temp:
        assert temp.parent == tmp_path and temp.name.endswith(".bin") and temp.exists()
        temp.write_bytes(b"\x00\x01")
    assert (tmp_path / "d.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "c.npy", "d.bin", "sub"]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.txt"]


def test_replacing_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_leaves_no_temp_file_and_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target, ".tmp") as temp:
        temp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "a.npy", ".npy") as temp:
        temp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_failed_replace_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "folder"
    (target / "inside").mkdir(parents=True)  # os.replace cannot put a file over a folder
    with pytest.raises(OSError), atomic_path(target) as temp:
        temp.write_text("x")
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]
