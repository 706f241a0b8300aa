"""Tests for trainables.data, trainables.video_listing and trainables.frame_cache: discovery,
preprocessing, caching and error messages."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainables import data, frame_cache
from trainables.config import DEFAULT_CLASSES
from trainables.data import load_split, to_model_input
from trainables.errors import DataError, UserInputError
from trainables.video_listing import read_manifest, scan_split

SIZE = 16


def write_frame(path: Path, value: int = 128, mode: str = "RGB", size=(8, 8)) -> Path:
    """One solid-colour image file (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode in ("L", "P") else (value,) * len(mode)).save(path)
    return path


def write_video(directory: Path, n_frames: int = 2, value: int = 128) -> Path:
    for n in range(1, n_frames + 1):
        write_frame(directory / f"{n}.png", value)
    return directory


def make_layout(root: Path, folders: dict[str, int], split: str = "Train") -> Path:
    """``folders`` maps emotion folder name -> number of two-frame videos."""
    for emotion, count in folders.items():
        for v in range(count):
            write_video(root / split / emotion / f"vid{v}", value=40 * v)
    return root


def load(root: Path, split: str = "Train", cache: Path | None = None, **kwargs) -> data.SplitData:
    cache = cache or root.parent / f"{root.name}-cache"
    return load_split(root, split, cache_dir=cache, image_size=SIZE, num_workers=2,
                      progress=False, **kwargs)


def assert_one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message


def test_error_hierarchy() -> None:
    assert issubclass(DataError, UserInputError) and issubclass(UserInputError, ValueError)


# ----------------------------------------------------------------------------- discovery

def test_frames_are_naturally_sorted(tmp_path: Path) -> None:
    video = tmp_path / "Train" / "Happy" / "v"
    for n in (10, 2, 1, 33):
        write_frame(video / f"{n}.png", n)
    write_frame(video / ".hidden.png")
    (video / "notes.txt").write_text("not a frame")
    records = scan_split(tmp_path, "Train", ["Happy"])
    assert [p.name for p in records[0].frame_paths] == ["1.png", "2.png", "10.png", "33.png"]
    frames = load(tmp_path, classes=["Happy"]).frames
    # Frame n was written with grey level n, so decode order follows the natural order too.
    assert frames[:, 0, 0, 0].tolist() == [1, 2, 10, 33]


def test_aliases_and_case_insensitive_folders(tmp_path: Path) -> None:
    make_layout(tmp_path, {"ANGRY": 1, "happiness": 2, "Neutral": 1}, split="train")
    write_frame(tmp_path / "train" / "Fearful" / "x" / "1.JPG")
    classes = ("Neutral", "Anger", "Fear", "Happy")
    records = scan_split(tmp_path, "TRAIN", classes)
    assert sorted((r.video_id, r.label) for r in records) == [
        ("ANGRY/vid0", 1), ("Fearful/x", 2), ("Neutral/vid0", 0),
        ("happiness/vid0", 3), ("happiness/vid1", 3)]
    split = load(tmp_path, "Train", classes=classes)
    assert split.report.videos_per_class == {"Neutral": 1, "Anger": 1, "Fear": 1, "Happy": 2}


def test_custom_class_list(tmp_path: Path) -> None:
    make_layout(tmp_path, {"positive": 2, "NEGATIVE": 1, "Mixed": 1})
    split = load(tmp_path, classes=["Negative", "Positive", "Mixed"])
    assert split.classes == ("Negative", "Positive", "Mixed")
    assert sorted(split.video_labels.tolist()) == [0, 1, 1, 2]
    assert split.num_videos == 4 and split.num_frames == 8


def test_split_arrays_are_consistent(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 2, "Sad": 1})
    write_video(tmp_path / "Train" / "Sad" / "long", n_frames=5)
    split = load(tmp_path, classes=["Happy", "Sad"])
    counts = np.diff(split.video_offsets)
    assert counts.sum() == split.num_frames == 11
    assert sorted(counts.tolist()) == [2, 2, 2, 5]
    assert np.array_equal(split.frame_video, np.repeat(np.arange(4), counts))
    assert np.array_equal(split.frame_labels, split.video_labels[split.frame_video])
    assert split.frames.dtype == np.uint8 and split.frame_labels.dtype == np.int64


def test_manifest(tmp_path: Path) -> None:
    write_video(tmp_path / "clips" / "a")
    write_video(tmp_path / "clips" / "b", n_frames=3)
    absolute = write_video(tmp_path / "elsewhere" / "c")
    manifest = tmp_path / "lists" / "all.csv"
    manifest.parent.mkdir()
    manifest.write_text("video_dir,label,split\n"
                        "../clips/a,angry,train\n"
                        f"{absolute},HAPPINESS,Train\n"
                        "../clips/b,sad,val\n")
    records = read_manifest(manifest, "Train", ["Anger", "Happy"])
    assert [(r.directory.resolve(), r.label) for r in records] == [
        ((tmp_path / "clips" / "a").resolve(), 0), (absolute.resolve(), 1)]
    split = load(tmp_path, "Val", classes=["Sad"], manifest=manifest)
    assert split.num_frames == 3 and split.video_ids == ["../clips/b"]


# ----------------------------------------------------------------------------- preprocessing

def test_modes_and_sizes_are_converted(tmp_path: Path) -> None:
    video = tmp_path / "Train" / "Happy" / "v"
    write_frame(video / "1.png", 255, mode="L", size=(30, 50))
    write_frame(video / "2.png", 0, mode="RGBA", size=(7, 7))
    write_frame(video / "3.png", 9, mode="P", size=(16, 16))
    write_frame(video / "4.jpeg", 200, size=(33, 21))
    split = load(tmp_path, classes=["Happy"])
    assert split.frames.shape == (4, SIZE, SIZE, 3)
    assert split.frames[0].min() == 255 and split.frames[1].max() == 0
    model_input = to_model_input(split.frames)
    assert model_input.shape == (4, 3, SIZE, SIZE) and model_input.dtype == torch.float32
    assert model_input[0].min() == 1.0 and model_input[1].max() == -1.0


def test_to_model_input_matches_numpy_formula_on_known_pixels() -> None:
    pixels = np.array([0, 127, 255, 1, 128, 254], dtype=np.uint8)
    frames = np.stack([np.broadcast_to(pixels[i:i + 3], (4, 5, 3)) for i in (0, 3)])
    reference = frames.astype(np.float64) / 127.5 - 1.0  # independent of the code under test
    out = to_model_input(frames)
    assert out.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(out.movedim(1, -1).numpy(), reference, rtol=0, atol=1e-7)
    # The three values the range rests on, written out: 0 -> -1, 127 -> -1/255, 255 -> 1.
    assert out[0, :, 0, 0].tolist() == pytest.approx([-1.0, -1.0 / 255.0, 1.0], abs=1e-7)


def test_to_model_input_on_tensors() -> None:
    frames = torch.tensor([[[[0, 255, 51]]]], dtype=torch.uint8)  # (1, 1, 1, 3)
    out = to_model_input(frames)
    assert out.shape == (1, 3, 1, 1)
    assert torch.allclose(out.flatten(), torch.tensor([-1.0, 1.0, 51 / 127.5 - 1]))
    with pytest.raises(ValueError, match="uint8"):
        to_model_input(frames.float())


# ----------------------------------------------------------------------------- cache

def test_second_load_hits_cache_without_decoding(tmp_path: Path, monkeypatch) -> None:
    root = make_layout(tmp_path / "d", {"Happy": 2, "Sad": 2})
    first = load(root, classes=["Happy", "Sad"])
    calls = []
    frames_file = root.parent / f"{root.name}-cache" / f"{first.cache_key}.npy"
    written = frames_file.stat().st_mtime_ns
    monkeypatch.setattr(frame_cache, "decode_frame", lambda *a: calls.append(a) or 1 / 0)
    second = load(root, classes=["Happy", "Sad"])
    assert calls == []
    assert frames_file.stat().st_mtime_ns == written  # read back, not written again
    assert second.cache_key == first.cache_key
    assert not second.frames.flags.writeable
    assert np.array_equal(first.frames, second.frames)
    # The cached values are the solid colours that were written (40 * v for video v).
    for v in range(2):
        for emotion in ("Happy", "Sad"):
            index = second.video_ids.index(f"{emotion}/vid{v}")
            start, stop = second.video_offsets[index:index + 2]
            assert (second.frames[start:stop] == 40 * v).all()


def test_cache_invalidated_when_a_file_changes(tmp_path: Path) -> None:
    root = make_layout(tmp_path / "d", {"Happy": 1, "Sad": 1})
    first = load(root, classes=["Happy", "Sad"])
    frame = root / "Train" / "Sad" / "vid0" / "1.png"
    write_frame(frame, 250)
    os.utime(frame, ns=(frame.stat().st_atime_ns, frame.stat().st_mtime_ns + 10**9))
    second = load(root, classes=["Happy", "Sad"])
    assert second.cache_key != first.cache_key
    assert second.frames.max() == 250
    smaller = load_split(root, "Train", ["Happy", "Sad"], cache_dir=tmp_path / "d-cache",
                         image_size=8, progress=False)
    assert smaller.cache_key != second.cache_key and smaller.frames.shape[1:] == (8, 8, 3)


def test_half_written_cache_is_rebuilt(tmp_path: Path) -> None:
    root = make_layout(tmp_path / "d", {"Happy": 2})
    cache = tmp_path / "cache"
    first = load(root, classes=["Happy"], cache=cache)
    frames_file = cache / f"{first.cache_key}.npy"
    del first
    with open(frames_file, "r+b") as handle:
        handle.truncate(200)  # as if killed mid-write
    again = load(root, classes=["Happy"], cache=cache)
    assert again.num_frames == 4 and again.frames.shape == (4, SIZE, SIZE, 3)


# ----------------------------------------------------------------------------- errors

def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load(tmp_path / "nope")
    assert_one_line_naming(exc, tmp_path / "nope")


def test_missing_split_lists_existing(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 1}, split="Train")
    make_layout(tmp_path, {"Happy": 1}, split="Val")
    with pytest.raises(DataError) as exc:
        load(tmp_path, "Test", classes=["Happy"])
    assert_one_line_naming(exc, tmp_path)
    assert "Train, Val" in str(exc.value)


def test_unknown_emotion_folder_lists_accepted_names(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 1, "Contempt": 1})
    with pytest.raises(DataError) as exc:
        load(tmp_path, classes=DEFAULT_CLASSES)
    assert_one_line_naming(exc, tmp_path / "Train" / "Contempt")
    assert all(cls in str(exc.value) for cls in DEFAULT_CLASSES) and "angry" in str(exc.value)


def test_empty_video_folder(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 1})
    empty = tmp_path / "Train" / "Happy" / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no frames")
    with pytest.raises(DataError) as exc:
        load(tmp_path, classes=["Happy"])
    assert_one_line_naming(exc, empty)


def test_class_without_video(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 1})
    (tmp_path / "Train" / "Sad").mkdir()
    with pytest.raises(DataError) as exc:
        load(tmp_path, classes=["Happy", "Sad"])
    assert_one_line_naming(exc, tmp_path / "Train")
    assert "Sad" in str(exc.value)


def test_video_with_only_corrupt_frames(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 1})
    broken = tmp_path / "Train" / "Happy" / "broken"
    broken.mkdir()
    (broken / "1.png").write_bytes(b"")
    (broken / "2.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError) as exc:
        load(tmp_path, classes=["Happy"])
    assert_one_line_naming(exc, broken)
    assert not list((tmp_path / "Train-cache").glob("*.json"))  # nothing trusted was written


def test_corrupt_frame_is_skipped_with_warning(tmp_path: Path) -> None:
    make_layout(tmp_path, {"Happy": 1})
    video = write_video(tmp_path / "Train" / "Happy" / "partly", n_frames=3)
    (video / "4.png").write_bytes(b"")
    good = write_frame(tmp_path / "tmp.png")
    (video / "5.png").write_bytes(good.read_bytes()[:40])  # truncated PNG
    good.unlink()
    with pytest.warns(UserWarning, match="skipping unreadable frame") as record:
        split = load(tmp_path, classes=["Happy"])
    assert len(record) == 2
    assert len(split.report.skipped_frames) == 2
    assert str(video / "4.png") in split.report.skipped_frames[0] or \
        str(video / "4.png") in split.report.skipped_frames[1]
    assert split.num_frames == 5 and sorted(np.diff(split.video_offsets).tolist()) == [2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = load(tmp_path, classes=["Happy"])
    assert cached.report.skipped_frames == split.report.skipped_frames


def test_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        read_manifest(tmp_path / "missing.csv", "Train")
    assert_one_line_naming(exc, tmp_path / "missing.csv")
    manifest = tmp_path / "m.csv"
    write_video(tmp_path / "a")
    manifest.write_text("video_dir,label,split\na,Contempt,Train\n")
    with pytest.raises(DataError, match="line 2") as exc:
        read_manifest(manifest, "Train")
    assert_one_line_naming(exc, manifest)
    manifest.write_text("path,emotion\na,Happy\n")
    with pytest.raises(DataError, match="header") as exc:
        read_manifest(manifest, "Train")
    assert_one_line_naming(exc, manifest)
