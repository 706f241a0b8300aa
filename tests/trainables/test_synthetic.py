"""Tests for trainables.synthetic and trainables.faces: determinism, layout, domain shift and
label bias."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from trainables import synthetic
from trainables.config import DEFAULT_CLASSES
from trainables.data import load_split
from trainables.faces import APEX, NEUTRAL
from trainables.synthetic import (
    LABEL_FLIPS,
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
