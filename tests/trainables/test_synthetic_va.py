"""Tests for trainables.synthetic_va (the valence-arousal set in the Aff-Wild layout) and
``python -m study.make_data --task va``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables import synthetic_va
from trainables.faces import random_identity, render_face
from trainables.synthetic import COMPLETE_MARKER, SOURCE
from trainables.synthetic_va import (
    EMBEDDED_VA_SPLITS,
    VA_ANNOTATION_BIAS,
    embedded_va_dataset,
    generate_va_dataset,
    render_va_video,
    va_expression,
)

SMALL = {"Train": 3, "Val": 3, "Test": 2}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def annotations(root: Path, row: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """Header and (frames, 2) values of one video's annotation file."""
    lines = (root / row["annotation_file"]).read_text().splitlines()
    return lines[:1], np.array([[float(x) for x in line.split(",")] for line in lines[1:]])


def truth(root: Path) -> dict[str, np.ndarray]:
    """video_dir -> drawn (frames, 2) valence and arousal, in frame order."""
    rows: dict[str, list[tuple[int, float, float]]] = {}
    for r in read_csv(root / synthetic_va.TRUTH_NAME):
        rows.setdefault(r["video_dir"], []).append(
            (int(r["frame"]), float(r["valence"]), float(r["arousal"])))
    return {video: np.array([(v, a) for _, v, a in sorted(frames)])
            for video, frames in rows.items()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return generate_va_dataset(tmp_path_factory.mktemp("va"), videos_per_split=SMALL,
                               frames_per_video=(5, 8), image_size=32, progress=False)


def test_layout_annotations_and_invalid_frames(small_set: Path) -> None:
    rows = read_csv(small_set / synthetic_va.MANIFEST_NAME)
    assert [r["split"] for r in rows] == [s for s, n in SMALL.items() for _ in range(n)]
    drawn = truth(small_set)
    invalid_videos = 0
    for row in rows:
        video = small_set / row["video_dir"]
        assert row["annotation_file"] == row["video_dir"] + ".txt"
        n = len(list(video.iterdir()))
        assert 5 <= n <= 8
        assert sorted(p.name for p in video.iterdir()) == sorted(f"{i}.png" for i in
                                                                   range(1, n + 1))
        assert Image.open(video / "1.png").size == (32, 32)
        header, values = annotations(small_set, row)
        assert header == ["valence,arousal"] and values.shape == (n, 2)
        assert drawn[row["video_dir"]].shape == (n, 2)
        invalid = (values == -5).all(axis=1)
        assert not ((values == -5).any(axis=1) & ~invalid).any()  # -5 only as a pair
        assert np.abs(values[~invalid]).max() <= 1 and invalid.sum() <= 1  # run: 5% of <= 8
        invalid_videos += int(invalid.any())
        means = drawn[row["video_dir"]].mean(axis=0)
        assert np.allclose([float(row["true_valence_mean"]), float(row["true_arousal_mean"])],
                           means, atol=2e-4)
    # Every third video of a split (numbers 1, 4, ...): one in each split here.
    assert invalid_videos == len(SMALL)
    assert {p.name for p in small_set.iterdir()} == {*SMALL, "manifest.csv", "truth.csv"}
    assert tuple(EMBEDDED_VA_SPLITS) == ("Train", "Val", "Test")


def test_valence_draws_the_mouth_and_arousal_the_eyes() -> None:
    who = random_identity(np.random.default_rng(0), SOURCE.background)

    def face(valence: float, arousal: float) -> np.ndarray:
        image = render_face(64, who, va_expression(valence, arousal), SOURCE.face_scale,
                            SOURCE.offset, np.zeros(3))
        return np.asarray(image, dtype=np.float32)

    def row(v: float) -> int:  # image row of height v in the face box (render_face)
        return round(64 * (0.5 - SOURCE.face_scale / 2 + SOURCE.face_scale * v
                           + SOURCE.offset[1]))

    mouth = np.zeros(64, dtype=bool)
    mouth[row(who.mouth_y - 0.1):row(who.mouth_y + 0.1)] = True
    eyes = slice(row(who.eye_y) - 2, row(who.eye_y) + 3)
    valence = np.abs(face(0.8, 0.0) - face(-0.8, 0.0)).mean(axis=(1, 2))
    assert valence[mouth].mean() > 2 * valence[~mouth].mean()  # smile vs frown
    arousal = np.abs(face(0.0, 0.8) - face(0.0, -0.8)).mean(axis=(1, 2))
    assert arousal[eyes].mean() > 10  # eyes open wide vs nearly shut
    assert 2 * valence[eyes].mean() < arousal[eyes].mean()


def test_frames_differ_more_for_distant_va() -> None:
    path = np.array([[-0.8, -0.8], [-0.75, -0.8], [0.8, 0.8]])
    frames = [np.asarray(f, dtype=np.float32)
              for f in render_va_video(path, SOURCE, 48, np.random.default_rng(1))]
    close = np.abs(frames[0] - frames[1]).mean()
    distant = np.abs(frames[0] - frames[2]).mean()
    assert distant > 3 * close


def test_annotation_bias_against_the_drawn_truth(small_set: Path) -> None:
    # The documented formula, written out: Train as drawn; Val/Test valence + 0.05 and
    # arousal 0.7 * a + 0.15, both clipped to [-1, 1].
    assert VA_ANNOTATION_BIAS["Train"] == (1.0, 0.0, 1.0, 0.0)
    assert VA_ANNOTATION_BIAS["Val"] == VA_ANNOTATION_BIAS["Test"] == (1.0, 0.05, 0.7, 0.15)
    drawn = truth(small_set)
    for row in read_csv(small_set / synthetic_va.MANIFEST_NAME):
        _, values = annotations(small_set, row)
        valid = ~(values == -5).all(axis=1)
        v, a = drawn[row["video_dir"]][valid].T
        if row["split"] == "Train":
            expected = np.stack([v, a], axis=1)
        else:
            expected = np.stack([np.clip(v + 0.05, -1, 1), np.clip(0.7 * a + 0.15, -1, 1)],
                                axis=1)
        assert np.allclose(values[valid], expected, atol=1.5e-4), row["video_dir"]


def test_same_seed_same_files_other_seed_differs(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    kwargs = dict(videos_per_split={"Train": 2, "Val": 2}, frames_per_video=(3, 5),
                  image_size=16, progress=False)
    first = files(generate_va_dataset(tmp_path / "a", seed=3, **kwargs))
    again = files(generate_va_dataset(tmp_path / "b", seed=3, **kwargs))
    other = files(generate_va_dataset(tmp_path / "c", seed=4, **kwargs))
    assert first == again
    for name in ("manifest.csv", "truth.csv", "Train/000000.txt", "Val/000001.txt"):
        assert first[name] != other[name]


def test_train_frames_cover_the_va_plane(tmp_path: Path) -> None:
    root = generate_va_dataset(tmp_path / "cover", videos_per_split={"Train": 60},
                               image_size=16, progress=False)
    videos = list(truth(root).values())
    va = np.concatenate(videos)
    assert len(va) >= 60 * 20
    cells = np.clip(np.floor((va + 1) / 2 * 20).astype(int), 0, 19)
    covered = len({(int(i), int(j)) for i, j in cells})
    assert covered >= 0.8 * 400, covered  # 368 of 400 cells when written
    quadrants = np.bincount(2 * (va[:, 0] > 0) + (va[:, 1] > 0), minlength=4) / len(va)
    assert quadrants.min() > 0.15, quadrants  # (-,-), (-,+), (+,-), (+,+): none neglected
    assert (np.abs(va).max(axis=1) > 0.99).mean() < 0.05  # no pile-up on the border
    # Smooth drift: small steps from frame to frame, yet each video travels.
    steps = np.concatenate([np.abs(np.diff(video, axis=0)).max(axis=1) for video in videos])
    assert steps.max() < 0.35 and steps.mean() < 0.1
    assert np.mean([np.ptp(video, axis=0).max() for video in videos]) > 0.4


def test_embedded_va_dataset_is_generated_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EMOTION_STUDY_CACHE", str(tmp_path))
    monkeypatch.setattr(synthetic_va, "DEFAULT_VA_VIDEOS", {"Train": 1, "Val": 1})
    stale = tmp_path / synthetic_va.EMBEDDED_VA_NAME.format(seed=2)
    (stale / "Train").mkdir(parents=True)  # a leftover without completion marker
    root = embedded_va_dataset(seed=2)
    assert root == stale and (root / COMPLETE_MARKER).exists()
    assert len(read_csv(root / synthetic_va.MANIFEST_NAME)) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp dir removed

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although complete")

    monkeypatch.setattr(synthetic_va, "generate_va_dataset", fail)
    assert embedded_va_dataset(seed=2) == root


# ----------------------------------------------------------------------------- make_data CLI

def test_make_data_task_va_writes_the_layout(tmp_path: Path, capsys) -> None:
    from study.make_data import main

    out = tmp_path / "va"
    assert main([str(out), "--task", "va", "--videos", "Train=2,Val=1", "--min-frames", "3",
                 "--max-frames", "4", "--shift", "0"]) == 0
    assert "Wrote 3 valence-arousal videos" in capsys.readouterr().out
    rows = read_csv(out / "manifest.csv")
    assert [r["video_dir"] for r in rows] == ["Train/000000", "Train/000001", "Val/000000"]
    for row in rows:
        n = len(list((out / row["video_dir"]).glob("*.png")))
        assert 3 <= n <= 4 and len(annotations(out, row)[1]) == n
    assert Image.open(out / "Val/000000/1.png").size == (96, 96)


@pytest.mark.parametrize("argv, message", [
    (["--task", "va", "--difficulty", "hard"], "--difficulty does not apply to --task va"),
    (["--task", "va", "--annotation-bias", "1"],
     "--annotation-bias does not apply to --task va"),
    (["--task", "va", "--class-imbalance", "0.2"],
     "--class-imbalance does not apply to --task va"),
    (["--task", "va", "--videos-per-class", "Train=2"],
     "--videos-per-class does not apply to --task va"),
    (["--videos", "Train=2"], "--videos is for --task va"),
])
def test_make_data_refuses_flags_of_the_other_task(tmp_path: Path, capsys, argv: list[str],
                                                   message: str) -> None:
    from study.make_data import main

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([str(out), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_shift_changes_only_the_target_appearance(tmp_path: Path) -> None:
    kwargs = dict(videos_per_split={"Train": 1, "Val": 1}, frames_per_video=(2, 2),
                  image_size=16, progress=False)
    default = generate_va_dataset(tmp_path / "one", **kwargs)
    none = generate_va_dataset(tmp_path / "zero", shift=0.0, **kwargs)

    def pixels(root: Path, split: str) -> np.ndarray:
        return np.asarray(Image.open(root / split / "000000" / "1.png"), dtype=np.float32)

    assert np.array_equal(pixels(default, "Train"), pixels(none, "Train"))
    # shift 0: the target is lit like the source (warm cast: more red than blue).
    red_minus_blue = {name: (p[..., 0] - p[..., 2]).mean()
                      for name, p in (("one", pixels(default, "Val")),
                                      ("zero", pixels(none, "Val")))}
    assert red_minus_blue["zero"] > red_minus_blue["one"] + 10
    assert (none / "Val" / "000000.txt").read_text() == (default / "Val/000000.txt").read_text()
