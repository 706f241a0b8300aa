"""Tests for trainables.synthetic and trainables.faces: determinism, layout, domain shift and
label bias, the domain-shift knobs (appearance, annotation bias, class priors) and the
``python -m study.make_data`` command line."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables import synthetic
from trainables.config import DEFAULT_CLASSES
from trainables.data import load_split
from trainables.faces import APEX, NEUTRAL
from trainables.synthetic import (
    DIFFICULTIES,
    LABEL_FLIPS,
    SOURCE,
    TARGET,
    Difficulty,
    Domain,
    embedded_dataset,
    generate_dataset,
    render_video,
)

SMALL = {"Train": 5, "Val": 5, "Test": 1}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def manifest_rows(root: Path) -> list[dict[str, str]]:
    with (root / synthetic.MANIFEST_NAME).open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synthetic"), videos_per_class=SMALL,
                            frames_per_video=(3, 6), image_size=32, progress=False)


@pytest.fixture(scope="module")
def small_splits(small_set: Path, tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    return {split: load_split(small_set, split, cache_dir=cache, image_size=32, progress=False)
            for split in SMALL}


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    kwargs = dict(videos_per_class={"Train": 1}, frames_per_video=(2, 3), image_size=32,
                  progress=False)
    first = tree_bytes(generate_dataset(tmp_path / "a", seed=3, **kwargs))
    again = tree_bytes(generate_dataset(tmp_path / "b", seed=3, **kwargs))
    other = tree_bytes(generate_dataset(tmp_path / "c", seed=4, **kwargs))
    assert first == again
    assert first != other


def test_layout_loads_with_every_class_in_every_split(small_set: Path, small_splits) -> None:
    for split, per_class in SMALL.items():
        data = small_splits[split]
        assert data.num_videos == per_class * len(DEFAULT_CLASSES)
        assert all(n > 0 for n in data.report.videos_per_class.values())
        lengths = np.diff(data.video_offsets)
        assert lengths.min() >= 3 and lengths.max() <= 6
    assert (small_set / "Train" / "Happy").is_dir()
    assert any(p.name == "1.png" for p in small_set.rglob("*.png"))


def test_manifest_matches_folders(small_set: Path, small_splits) -> None:
    rows = manifest_rows(small_set)
    assert len(rows) == sum(d.num_videos for d in small_splits.values())
    for row in rows:
        assert Path(row["video_dir"]).parts[:2] == (row["split"], row["label"])
    from_manifest = load_split(small_set, "Val", manifest=small_set / "manifest.csv",
                               cache_dir=small_set.parent / "m-cache", image_size=32,
                               progress=False)
    assert np.array_equal(np.sort(from_manifest.video_labels),
                          np.sort(small_splits["Val"].video_labels))


def test_train_and_val_differ_in_appearance(small_splits) -> None:
    train = small_splits["Train"].frames.astype(np.float32)
    val = small_splits["Val"].frames.astype(np.float32)
    test = small_splits["Test"].frames.astype(np.float32)
    assert train.mean() - val.mean() > 20  # source is much brighter
    blue_red = [f[..., 2].mean() / f[..., 0].mean() for f in (train, val, test)]
    assert blue_red[1] > blue_red[0] + 0.15  # target has a cool colour cast
    # Test looks like Val (same camera); only its few random backgrounds add spread.
    assert synthetic.DOMAINS["Test"] == synthetic.DOMAINS["Val"] != synthetic.DOMAINS["Train"]
    assert abs(blue_red[2] - blue_red[1]) < abs(blue_red[0] - blue_red[1]) / 2
    assert abs(test.mean() - val.mean()) < abs(train.mean() - val.mean()) / 2


def test_label_flip_tables_are_documented_and_differ() -> None:
    assert LABEL_FLIPS["Train"] != LABEL_FLIPS["Val"]
    assert LABEL_FLIPS["Test"] == LABEL_FLIPS["Val"]
    for table in LABEL_FLIPS.values():
        for true_class, (target, fraction) in table.items():
            assert {true_class, target} <= set(DEFAULT_CLASSES) and 0 < fraction < 1


@pytest.mark.parametrize("split", ["Train", "Val"])
def test_label_flips_are_applied(small_set: Path, split: str) -> None:
    rows = [r for r in manifest_rows(small_set) if r["split"] == split]
    mislabelled = Counter((r["true_label"], r["label"]) for r in rows
                          if r["true_label"] != r["label"])
    per_class = SMALL[split]
    expected = {(true_class, target): min(round(fraction * per_class), per_class - 1)
                for true_class, (target, fraction) in LABEL_FLIPS[split].items()}
    assert dict(mislabelled) == {k: v for k, v in expected.items() if v}
    assert sum(mislabelled.values()) >= 3


def test_expression_evolves_from_neutral_to_apex() -> None:
    clean = Domain(brightness=1.0, cast=(1.0, 1.0, 1.0), side_light=0.0, face_scale=0.8,
                   noise=0.0, blur=0.0, background=(128, 128, 128))

    def frames(true_class: str) -> list[np.ndarray]:
        video = render_video(true_class, 8, clean, 64, np.random.default_rng(7))
        return [np.asarray(f, dtype=np.int16) for f in video]

    neutral, happy, surprise = frames("Neutral"), frames("Happy"), frames("Surprise")
    # Same person and head motion: identical at onset, different at the apex.
    assert np.array_equal(neutral[0], happy[0])
    assert np.abs(neutral[-1] - happy[-1]).sum() > 0
    assert np.abs(happy[-1] - surprise[-1]).sum() > 0
    assert APEX["Neutral"] == NEUTRAL
    assert len({APEX[c] for c in DEFAULT_CLASSES}) == len(DEFAULT_CLASSES)


def test_embedded_dataset_is_generated_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EMOTION_STUDY_CACHE", str(tmp_path))
    monkeypatch.setattr(synthetic, "DEFAULT_VIDEOS_PER_CLASS", {"Train": 1})
    stale = tmp_path / synthetic.EMBEDDED_NAME.format(seed=5)
    (stale / "Train").mkdir(parents=True)  # a leftover without completion marker
    root = embedded_dataset(seed=5)
    assert root == stale and (root / synthetic.COMPLETE_MARKER).exists()
    assert len(list((root / "Train").iterdir())) == len(DEFAULT_CLASSES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp dir removed

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although complete")

    monkeypatch.setattr(synthetic, "generate_dataset", fail)
    assert embedded_dataset(seed=5) == root


# ----------------------------------------------------------------------------- shift knobs

def tiny_set(root: Path, difficulty: Difficulty = synthetic.EMBEDDED,
             per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    return generate_dataset(root, seed=seed, videos_per_class=per_class or {"Train": 3},
                            frames_per_video=(3, 4), image_size=32, progress=False,
                            difficulty=difficulty)


def flips(root: Path, split: str) -> dict[tuple[str, str], int]:
    return dict(Counter((r["true_label"], r["label"]) for r in manifest_rows(root)
                        if r["split"] == split and r["true_label"] != r["label"]))


def true_counts(root: Path, split: str) -> list[int]:
    counts = Counter(r["true_label"] for r in manifest_rows(root) if r["split"] == split)
    return [counts[c] for c in DEFAULT_CLASSES]


def pixel_digest(root: Path) -> str:
    """The manifest and every frame's decoded pixels (not the PNG bytes, which depend on zlib)."""
    digest = hashlib.sha256((root / synthetic.MANIFEST_NAME).read_bytes())
    for path in sorted(root.rglob("*.png"), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(np.asarray(Image.open(path).convert("RGB")).tobytes())
    return digest.hexdigest()


def test_default_knobs_draw_exactly_what_they_drew_before(tmp_path: Path) -> None:
    # Digest of this set as written by the generator before the domain-shift knobs existed
    # (numpy 2.4.6, Pillow 13.0.0); a changed random draw, label or pixel changes it.
    per_class = {"Train": 2, "Val": 2, "Test": 1}
    root = generate_dataset(tmp_path / "default", seed=1, videos_per_class=per_class,
                            frames_per_video=(3, 4), image_size=32, progress=False)
    assert pixel_digest(root) == "6779a402c1a9526f81ee07fbbe6bb3c2ca368fa49d0e022674ba9a87ced1c286"
    explicit = Difficulty(shift=1.0, annotation_bias=1.0, class_imbalance=0.0)
    again = generate_dataset(tmp_path / "explicit", seed=1, videos_per_class=per_class,
                             frames_per_video=(3, 4), image_size=32, progress=False,
                             difficulty=explicit)
    assert tree_bytes(again) == tree_bytes(root)


def test_label_knobs_leave_the_pixels_alone(tmp_path: Path) -> None:
    def frames_by_video(root: Path) -> dict[tuple[str, str], list[bytes]]:
        return {(r["split"], Path(r["video_dir"]).name):
                [p.read_bytes() for p in sorted((root / r["video_dir"]).iterdir())]
                for r in manifest_rows(root)}

    per_class = {"Train": 3, "Val": 3}
    default = tiny_set(tmp_path / "a", per_class=per_class)
    clean = tiny_set(tmp_path / "b", Difficulty(annotation_bias=0.0), per_class)
    assert flips(default, "Train") and not flips(clean, "Train")
    assert frames_by_video(clean) == frames_by_video(default)


def test_annotation_bias_scales_the_flips(tmp_path: Path) -> None:
    per_class = {"Train": 3, "Val": 3}
    clean = tiny_set(tmp_path / "clean", Difficulty(annotation_bias=0.0), per_class)
    assert all(r["label"] == r["true_label"] for r in manifest_rows(clean))
    # 3 videos per class, fractions 0.3: round(0.9) = 1 flip at bias 1, round(1.8) = 2 at 2,
    # and at bias 3 (fraction 0.9, round(2.7) = 3) still one of the 3 keeps its true label.
    train = {("Fear", "Surprise"), ("Disgust", "Anger"), ("Sad", "Neutral")}
    val = {("Surprise", "Fear"), ("Anger", "Disgust"), ("Neutral", "Sad")}
    for bias, expected in ((1.0, 1), (2.0, 2), (3.0, 2)):
        root = tiny_set(tmp_path / f"bias{bias}", Difficulty(annotation_bias=bias), per_class)
        assert flips(root, "Train") == dict.fromkeys(train, expected)
        assert flips(root, "Val") == dict.fromkeys(val, expected)


def test_class_imbalance_gives_source_and_target_opposite_priors(tmp_path: Path) -> None:
    root = tiny_set(tmp_path / "imbalanced", Difficulty(class_imbalance=0.5),
                    {"Train": 4, "Val": 4, "Test": 1})
    # 4 * 0.5 ** (i / 6) for i = 0..6: 4, 3.56, 3.17, 2.83, 2.52, 2.24, 2, rounded.
    assert true_counts(root, "Train") == [4, 4, 3, 3, 3, 2, 2]
    assert true_counts(root, "Val") == [2, 2, 3, 3, 3, 4, 4]
    assert true_counts(root, "Test") == [1] * 7  # never below one video per class
    balanced = tiny_set(tmp_path / "balanced", Difficulty(class_imbalance=0.0), {"Val": 4})
    assert true_counts(balanced, "Val") == [4] * 7


def test_shift_zero_gives_the_target_the_source_appearance() -> None:
    same = Difficulty(shift=0.0).domain(TARGET)
    assert (same.brightness, same.cast, same.side_light, same.background, same.offset) == (
        1.05, (1.06, 1.0, 0.9), 0.0, (135, 128, 118), (0.0, 0.0))
    assert Difficulty(shift=0.0).domain(SOURCE) == SOURCE
    # Noise, blur and face size are the target camera's, not part of the shift.
    assert (same.noise, same.blur, same.face_scale) == (TARGET.noise, TARGET.blur,
                                                        TARGET.face_scale)


def test_strong_shift_is_extrapolated_and_clipped() -> None:
    double = Difficulty(shift=2.0).domain(TARGET)
    # source + 2 * (target - source), by hand
    assert double.brightness == pytest.approx(0.65)
    assert double.cast == pytest.approx((0.74, 1.0, 1.34))
    assert double.side_light == pytest.approx(0.6)
    assert double.background == (95, 116, 138)
    assert double.offset == pytest.approx((0.2, -0.08))
    extreme = Difficulty(shift=10.0).domain(TARGET)  # 1.05 - 2 brightness, 3.0 side light...
    assert extreme.brightness == 0.2 and extreme.side_light == 1.0
    assert extreme.cast == pytest.approx((0.2, 1.0, 2.0))
    assert extreme.background == (0, 68, 218)
    assert extreme.offset == pytest.approx((0.25, -0.25))
    frames = render_video("Happy", 2, TARGET, 32, np.random.default_rng(0),
                          Difficulty(shift=10.0))
    assert 5 < np.asarray(frames[-1], dtype=np.float32).mean() < 250


def test_shift_strength_shows_in_the_pixels(tmp_path: Path) -> None:
    def brightness_gap(shift: float) -> float:
        root = tiny_set(tmp_path / f"shift{shift}", Difficulty(shift=shift),
                        {"Train": 2, "Val": 2})
        means = {split: np.mean([np.asarray(Image.open(p), dtype=np.float64).mean()
                                 for p in (root / split).rglob("*.png")])
                 for split in ("Train", "Val")}
        return means["Train"] - means["Val"]

    none, default, double = brightness_gap(0.0), brightness_gap(1.0), brightness_gap(2.0)
    assert abs(none) < 6
    assert default > 15
    assert double > default + 15


@pytest.mark.parametrize("name", sorted(DIFFICULTIES))
def test_named_difficulties_keep_every_class_in_every_split(tmp_path: Path, name: str) -> None:
    root = tiny_set(tmp_path / name, DIFFICULTIES[name], {"Train": 2, "Val": 2, "Test": 1})
    for split in ("Train", "Val", "Test"):
        labels = {r["label"] for r in manifest_rows(root) if r["split"] == split}
        assert labels == set(DEFAULT_CLASSES), (name, split)


def test_named_shift_presets() -> None:
    strong, none = DIFFICULTIES["strong-shift"], DIFFICULTIES["no-shift"]
    assert (strong.shift, strong.annotation_bias, strong.class_imbalance) == (1.5, 1.5, 0.5)
    assert (none.shift, none.annotation_bias, none.class_imbalance) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("knobs", [dict(shift=-0.1), dict(annotation_bias=-1.0),
                                   dict(class_imbalance=1.0), dict(class_imbalance=-0.1)])
def test_out_of_range_knobs_are_refused(knobs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(knobs))):
        Difficulty(**knobs)


# ----------------------------------------------------------------------------- make_data CLI

@pytest.mark.parametrize("argv, message", [
    (["--class-imbalance", "1"], "--class-imbalance: '1' is not a number in [0, 1)"),
    (["--shift", "2.5"], "--shift: '2.5' is not a number in [0, 2]"),
    (["--shift", "nan"], "--shift: 'nan' is not a number in [0, 2]"),
    (["--annotation-bias", "-1"], "--annotation-bias: '-1' is not a number in [0, 3]"),
])
def test_make_data_refuses_bad_knobs_in_one_line(tmp_path: Path, capsys, argv: list[str],
                                                 message: str) -> None:
    from study.make_data import main

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([str(out), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_make_data_knobs_override_the_difficulty(tmp_path: Path, capsys) -> None:
    from study.make_data import main

    out = tmp_path / "out"
    assert main([str(out), "--difficulty", "no-shift", "--annotation-bias", "2",
                 "--class-imbalance", "0.5", "--videos-per-class", "Train=4,Val=3",
                 "--min-frames", "2", "--max-frames", "2"]) == 0
    printed = capsys.readouterr().out
    # Train 4, 4, 3, 3, 3, 2, 2 = 21; Val 3 * 0.5 ** (i / 6) reversed: 2, 2, 2, 2, 2, 3, 3 = 16.
    assert "Wrote 37 videos" in printed
    assert "no-shift: shift 0, annotation bias 2, class imbalance 0.5" in printed
    assert true_counts(out, "Train") == [4, 4, 3, 3, 3, 2, 2]
    assert true_counts(out, "Val") == [2, 2, 2, 2, 2, 3, 3]
    # Bias 2 (fraction 0.6) on Val's Surprise (3 videos): 2 flips; Anger, Neutral (2): 1.
    assert flips(out, "Val") == {("Surprise", "Fear"): 2, ("Anger", "Disgust"): 1,
                                 ("Neutral", "Sad"): 1}
