"""Tests for trainables.va_annotations and data.load_va_split: per-frame valence and arousal
in the Aff-Wild style layout and in a manifest, masking, alignment with skipped frames and
one-line errors (issue #14)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables.config import DEFAULT_CLASSES
from trainables.data import SplitData, load_va_split, load_videos
from trainables.errors import DataError
from trainables.va_annotations import (
    INVALID_VALUE,
    read_annotation_file,
    read_va_manifest,
    scan_va_split,
)
from trainables.video_listing import UNLABELLED, VideoRecord

SIZE = 8


def write_frames(directory: Path, n_frames: int, start: int = 10) -> Path:
    """Frames 1..n as PNGs; frame n is grey level ``start + 10 * n``, so decode order shows."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, n_frames + 1):
        Image.new("RGB", (4, 4), (start + 10 * n,) * 3).save(directory / f"{n}.png")
    return directory


def write_annotation(path: Path, rows: list[tuple[float, float]] | list[str],
                     header: str | None = "valence,arousal", trailing: str = "\n") -> Path:
    lines = ([header] if header is not None else []) + \
        [row if isinstance(row, str) else f"{row[0]},{row[1]}" for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + trailing)
    return path


def rows_for(n_frames: int, seed: int) -> list[tuple[float, float]]:
    values = np.random.default_rng(seed).uniform(-1, 1, size=(n_frames, 2)).round(4)
    return [(float(v), float(a)) for v, a in values]


def load(root: Path, split: str = "Train", **kwargs) -> SplitData:
    cache = kwargs.pop("cache_dir", root.parent / f"{root.name}-cache")
    return load_va_split(root, split, cache_dir=cache, image_size=SIZE, num_workers=2,
                         progress=False, **kwargs)


def assert_one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message


# ----------------------------------------------------------------------------- valid data

@pytest.mark.parametrize("header", ["valence,arousal", "Valence, Arousal", None])
def test_layout_loads_values_and_masks_invalid_frames(tmp_path: Path, header: str | None) -> None:
    root = tmp_path / "data"
    rows = {"vid2": rows_for(3, seed=1), "vid10": rows_for(4, seed=2)}
    rows["vid2"][1] = (INVALID_VALUE, 0.5)   # one value -5 masks the whole frame
    rows["vid10"][3] = (-5, -5)
    for name, values in rows.items():
        write_frames(root / "Train" / name, len(values), start=100 if name == "vid10" else 0)
        write_annotation(root / "Train" / f"{name}.txt", values, header, trailing="\n\n \n")
    split = load(root)
    assert split.video_ids == ["vid2", "vid10"]  # natural order
    assert split.classes == () and split.report.videos_per_class == {}
    assert (split.video_labels == UNLABELLED).all() and (split.frame_labels == UNLABELLED).all()
    # Frames and rows line up: vid2's frames first, in frame order.
    assert split.frames[:, 0, 0, 0].tolist() == [10, 20, 30, 110, 120, 130, 140]
    expected = np.array(rows["vid2"] + rows["vid10"], dtype=np.float32)
    expected[[1, 6]] = np.nan
    assert split.frame_va.dtype == np.float32 and split.frame_va.shape == (7, 2)
    np.testing.assert_array_equal(split.frame_va, expected)  # NaN == NaN here
    assert np.isnan(split.frame_va[[1, 6]]).all() and not np.isnan(split.frame_va[[0, 2]]).any()
    assert split.report.masked_frames == 2 and split.report.to_dict()["masked_frames"] == 2
    records = scan_va_split(root, "train")
    assert [r.annotation for r in records] == [root / "Train" / "vid2.txt",
                                               root / "Train" / "vid10.txt"]


def test_read_annotation_file_values(tmp_path: Path) -> None:
    path = write_annotation(tmp_path / "v.txt", [(1, -1), (0.25, -0.125), (-5, 0.3)])
    values = read_annotation_file(path, 3)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, [[1, -1], [0.25, -0.125], [np.nan, np.nan]])


def test_classification_records_and_cache_are_unchanged(tmp_path: Path) -> None:
    assert VideoRecord("v", tmp_path, 0, ()).annotation is None
    root = tmp_path / "data"
    write_frames(root / "Train" / "v", 2)
    write_annotation(root / "Train" / "v.txt", rows_for(2, seed=3))
    split = load(root)
    records = [VideoRecord("v", root / "Train" / "v", UNLABELLED,
                           scan_va_split(root, "Train")[0].frame_paths)]
    classified = load_videos(records, root, "Train", DEFAULT_CLASSES,
                             cache_dir=tmp_path / "data-cache", image_size=SIZE, progress=False)
    assert classified.frame_va is None and classified.report.masked_frames == 0
    assert classified.cache_key != split.cache_key  # no collision with a classification load
    np.testing.assert_array_equal(classified.frames, split.frames)


# ----------------------------------------------------------------------------- bad files

@pytest.mark.parametrize(("rows", "frames", "expected"), [
    ([(0.1, 0.2)] * 5, 4, "5 annotation rows for 4 frames"),
    ([(0.1, 0.2)] * 3, 4, "3 annotation rows for 4 frames"),
    ([(0.1, 0.2), (1.5, 0.0), (0.1, 0.2)], 3, "line 3 (frame 2): valence 1.5 is outside"),
    ([(0.1, 0.2), (0.1, -1.01)], 2, "line 3 (frame 2): arousal -1.01 is outside"),
    ([(0.1, 0.2), "0.1,nan"], 2, "arousal nan is outside"),
    (["0.1,0.2", "high,0.2"], 2, "line 3 (frame 2): 'high,0.2' is not two numbers"),
    (["0.1,0.2,0.3", "0.1,0.2"], 2, "line 2 (frame 1): has 3 values"),
    (["0.1;0.2"], 1, "has 1 values"),
    (["0.1,0.2", "", "0.1,0.2"], 3, "line 3 (frame 2): is blank"),
])
def test_bad_annotation_file(tmp_path: Path, rows: list, frames: int, expected: str) -> None:
    path = write_annotation(tmp_path / "Train" / "vid1.txt", rows)
    with pytest.raises(DataError) as exc:
        read_annotation_file(path, frames)
    assert_one_line_naming(exc, path)
    assert expected in str(exc.value)


def test_file_without_header_counts_from_line_one(tmp_path: Path) -> None:
    path = write_annotation(tmp_path / "v.txt", ["0.1,0.2", "2,0"], header=None)
    with pytest.raises(DataError, match=r"line 2 \(frame 2\): valence 2 is outside"):
        read_annotation_file(path, 2)
    path = write_annotation(tmp_path / "v.txt", ["v,a", "0.1,0.2"], header=None)
    with pytest.raises(DataError, match="line 1 'v,a' is neither the header") as exc:
        read_annotation_file(path, 1)
    assert_one_line_naming(exc, path)


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        read_annotation_file(tmp_path / "nope.txt", 3)
    assert_one_line_naming(exc, tmp_path / "nope.txt")


def test_layout_errors_come_before_decoding(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_frames(root / "Train" / "vid1", 3)
    write_annotation(root / "Train" / "vid1.txt", rows_for(3, seed=4))
    write_frames(root / "Train" / "vid2", 2)
    bad = write_annotation(root / "Train" / "vid2.txt", rows_for(3, seed=5))
    with pytest.raises(DataError, match="3 annotation rows for 2 frames") as exc:
        load(root)
    assert_one_line_naming(exc, bad)
    assert not list((tmp_path / "data-cache").glob("*.npy"))  # nothing was decoded
    bad.unlink()
    with pytest.raises(DataError, match="is missing") as exc:
        scan_va_split(root, "Train")
    assert_one_line_naming(exc, bad)
    write_annotation(root / "Train" / "vid2.txt", rows_for(2, seed=5))
    orphan = write_annotation(root / "Train" / "vid3.txt", rows_for(2, seed=6))
    with pytest.raises(DataError, match="no frames folder") as exc:
        scan_va_split(root, "Train")
    assert_one_line_naming(exc, orphan)
    orphan.unlink()
    assert len(scan_va_split(root, "Train")) == 2


def test_missing_or_empty_split(tmp_path: Path) -> None:
    (tmp_path / "Train").mkdir()
    with pytest.raises(DataError, match="split folder 'Val' is missing") as exc:
        scan_va_split(tmp_path, "Val")
    assert_one_line_naming(exc, tmp_path)
    with pytest.raises(DataError, match="holds no video folder") as exc:
        scan_va_split(tmp_path, "Train")
    assert_one_line_naming(exc, tmp_path / "Train")


# ----------------------------------------------------------------------------- manifest

def test_manifest_relative_and_absolute_paths(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    write_frames(frames / "a", 2)
    write_frames(frames / "b", 3, start=100)
    write_frames(frames / "c", 1)
    rows_a, rows_b = rows_for(2, seed=7), rows_for(3, seed=8)
    write_annotation(tmp_path / "ann" / "a.txt", rows_a)
    ann_b = write_annotation(tmp_path / "elsewhere" / "b.txt", rows_b, header=None)
    manifest = tmp_path / "lists" / "va.csv"
    manifest.parent.mkdir()
    manifest.write_text("Video_Dir, Split ,annotation_file\n"
                        "../frames/a,train,../ann/a.txt\n"
                        f"{frames / 'b'},Train,{ann_b}\n"
                        "../frames/c,Val,../ann/missing.txt\n")  # other split: ignored
    records = read_va_manifest(manifest, "Train")
    assert [r.video_id for r in records] == ["../frames/a", str(frames / "b")]
    assert records[1].annotation == ann_b and records[0].label == UNLABELLED
    split = load_va_split(tmp_path / "unused", "Train", manifest=manifest,
                          cache_dir=tmp_path / "cache", image_size=SIZE, progress=False)
    np.testing.assert_array_equal(split.frame_va, np.array(rows_a + rows_b, dtype=np.float32))
    assert split.frames[:, 0, 0, 0].tolist() == [20, 30, 110, 120, 130]
    with pytest.raises(DataError, match="line 4: annotation file") as exc:
        read_va_manifest(manifest, "val")
    assert_one_line_naming(exc, tmp_path / "lists" / "../ann/missing.txt")


def test_manifest_errors(tmp_path: Path) -> None:
    write_frames(tmp_path / "a", 1)
    write_annotation(tmp_path / "a.txt", [(0.0, 0.0)])
    manifest = tmp_path / "va.csv"
    manifest.write_text("video_dir,split\na,Train\n")
    with pytest.raises(DataError, match="lacks the header video_dir,split,annotation_file") as exc:
        read_va_manifest(manifest, "Train")
    assert_one_line_naming(exc, manifest)
    manifest.write_text("video_dir,split,annotation_file\na,Train,a.txt\n")
    with pytest.raises(DataError, match="no row with split 'Test'") as exc:
        read_va_manifest(manifest, "Test")
    assert_one_line_naming(exc, manifest)
    manifest.write_text("video_dir,split,annotation_file\na,Train,a.txt\na,Train,a.txt\n")
    with pytest.raises(DataError, match="line 3: .* is listed twice") as exc:
        read_va_manifest(manifest, "Train")
    assert_one_line_naming(exc, manifest)
    manifest.write_text("video_dir,split,annotation_file\na,Train,\n")
    with pytest.raises(DataError, match="annotation_file is empty") as exc:
        read_va_manifest(manifest, "Train")
    assert_one_line_naming(exc, manifest)
    with pytest.raises(DataError) as exc:
        read_va_manifest(tmp_path / "missing.csv", "Train")
    assert_one_line_naming(exc, tmp_path / "missing.csv")


# ----------------------------------------------------------------------------- skipped frames

def make_partly_corrupt(root: Path) -> list[tuple[float, float]]:
    """vid1: 2 frames; vid2: frames 1..4 with 3.png empty (unreadable). Returns the rows."""
    write_frames(root / "Train" / "vid1", 2)
    video = write_frames(root / "Train" / "vid2", 4, start=100)
    (video / "3.png").write_bytes(b"")
    rows1, rows2 = rows_for(2, seed=9), rows_for(4, seed=10)
    rows2[3] = (INVALID_VALUE, INVALID_VALUE)
    write_annotation(root / "Train" / "vid1.txt", rows1)
    write_annotation(root / "Train" / "vid2.txt", rows2)
    return rows1 + rows2


def expected_without_frame_5(rows: list[tuple[float, float]]) -> np.ndarray:
    expected = np.array(rows[:4] + rows[5:], dtype=np.float32)  # vid2's frame 3 dropped
    expected[-1] = np.nan
    return expected


def test_skipped_frame_drops_its_annotation_row(tmp_path: Path) -> None:
    root = tmp_path / "data"
    rows = make_partly_corrupt(root)
    with pytest.warns(UserWarning, match="skipping unreadable frame"):
        split = load(root)
    assert len(split.report.skipped_frames) == 1
    assert split.frames[:, 0, 0, 0].tolist() == [20, 30, 110, 120, 140]
    np.testing.assert_array_equal(split.frame_va, expected_without_frame_5(rows))
    assert split.report.masked_frames == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = load(root)  # from the cache: the same alignment
    assert cached.cache_key == split.cache_key
    np.testing.assert_array_equal(cached.frame_va, split.frame_va)


def test_skipped_frame_after_the_data_moved(tmp_path: Path) -> None:
    root = tmp_path / "data"
    rows = make_partly_corrupt(root)
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match="skipping unreadable frame"):
        split = load(root, cache_dir=cache)
    moved = tmp_path / "moved"
    os.rename(root, moved)  # keeps names, sizes and mtimes: the same cache key
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no decoding, so no new warning
        again = load(moved, cache_dir=cache)
    assert again.cache_key == split.cache_key and str(root) in again.report.skipped_frames[0]
    np.testing.assert_array_equal(again.frame_va, expected_without_frame_5(rows))
