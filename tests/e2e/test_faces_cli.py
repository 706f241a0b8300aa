"""``python -m study.faces`` run as a user runs it, on videos of a real face: scikit-image's
astronaut seen through a moving window, encoded as mp4 (mp4v) and avi (MJPG), beside a
faceless video and a file that is no video. The crops must hold her face, frame by frame,
and the folder must be what the loader reads."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from study.faces_crop import crop_square
from study.faces_report import FRAMES, REPORT
from tests.faces_helpers import (
    WINDOW,
    astronaut,
    astronaut_video,
    face_in_frame,
    faceless_video,
    window_origins,
    write_video,
)
from tests.study_helpers import REPO
from trainables.data import load_split
from trainables.video_listing import scan_split

LENGTH = 20
ASTRONAUT_VIDEOS = {"Happy/astronaut.mp4": "Train/Happy/astronaut",
                    "happiness/astronaut_mjpg.avi": "Train/Happy/astronaut_mjpg"}


def run_faces(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.faces", *map(str, args), "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def box(row: dict[str, str], prefix: str = "face") -> np.ndarray:
    return np.array([float(row[f"{prefix}_{k}"]) for k in ("x0", "y0", "x1", "y1")])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("faces") / "raw"
    for name in ASTRONAUT_VIDEOS:
        astronaut_video(raw / name, LENGTH)
    faceless_video(raw / "Sad" / "grey.mp4")
    (raw / "Sad" / "broken.avi").write_bytes(b"\x00 not a video" * 64)
    return raw


@pytest.fixture(scope="module")
def cropped(videos: Path) -> tuple[Path, subprocess.CompletedProcess]:
    out = videos.parent / "out"
    return out, run_faces(videos, out, "--split", "Train")


def test_every_crop_holds_the_astronauts_face(cropped) -> None:
    out, done = cropped
    assert done.returncode == 0, done.stderr
    assert "Cropped 2 of 4 videos" in done.stdout
    assert "1 no face found:\n  Sad/grey.mp4" in done.stdout
    assert "1 unreadable:\n  Sad/broken.avi (OpenCV could not open it" in done.stdout
    report = {row["video"]: row for row in rows(out / REPORT)}
    assert {v: (r["status"], r["frames"], r["written"]) for v, r in report.items()} == {
        "Happy/astronaut.mp4": ("ok", "20", "20"),
        "happiness/astronaut_mjpg.avi": ("ok", "20", "20"),
        "Sad/grey.mp4": ("no_face", "8", "0"), "Sad/broken.avi": ("unreadable", "0", "0")}
    image, origins = astronaut(), window_origins(LENGTH)
    for video, folder in ASTRONAUT_VIDEOS.items():
        frames = [row for row in rows(out / FRAMES) if row["folder"] == folder]
        assert [int(row["frame"]) for row in frames] == list(range(LENGTH)), video
        assert sorted(p.name for p in (out / folder).iterdir()) == [r["file"] for r in frames]
        for row in frames:
            origin = origins[int(row["frame"])]
            known, found = face_in_frame(origin), box(row)
            centre = (known[:2] + known[2:]) / 2
            assert overlap(found, known) > 0.5, (video, row)
            assert (found[:2] < centre).all() and (centre < found[2:]).all(), (video, row)
            # The PNG is the square the CSV names, cut from the frame, resized to 96x96.
            frame = image[origin[1]:origin[1] + WINDOW, origin[0]:origin[0] + WINDOW]
            square = crop_square(frame, int(row["crop_x0"]), int(row["crop_y0"]),
                                 int(row["crop_side"]))
            expected = cv2.resize(square, (96, 96), interpolation=cv2.INTER_AREA)
            written = read_rgb(out / folder / row["file"])
            assert np.abs(written.astype(int) - expected).mean() < 8, (video, row)


def test_the_folder_is_what_the_loader_reads(cropped, tmp_path: Path) -> None:
    out, done = cropped
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (out / "Train").iterdir()) == ["Happy"]  # no empty Sad/
    records = scan_split(out, "Train", classes=("Happy",))
    assert [r.video_id for r in records] == ["Happy/astronaut", "Happy/astronaut_mjpg"]
    assert [p.name for p in records[0].frame_paths] == [f"{i:05d}.png" for i in range(LENGTH)]
    data = load_split(out, "Train", classes=("Happy",), cache_dir=tmp_path, progress=False)
    assert data.frames.shape == (2 * LENGTH, 96, 96, 3)
    assert data.video_ids == ["Happy/astronaut", "Happy/astronaut_mjpg"]
    assert np.array_equal(data.frames[LENGTH + 3], read_rgb(records[1].frame_paths[3]))


def test_labels_from_a_csv(videos: Path, tmp_path: Path) -> None:
    table = tmp_path / "labels.csv"
    table.write_text("video,label\nHappy/astronaut.mp4,surprised\nastronaut_mjpg.avi,Neutral\n")
    out = tmp_path / "out"
    done = run_faces(videos, out, "--split", "Val", "--labels", table)
    assert done.returncode == 0, done.stderr
    assert "2 video(s) under" in done.stdout and "left alone" in done.stdout
    assert [r.video_id for r in scan_split(out, "Val", classes=("Neutral", "Surprise"))] == [
        "Neutral/astronaut_mjpg", "Surprise/astronaut"]
    assert [(r["video"], r["split"], r["label"]) for r in rows(out / REPORT)] == [
        ("happiness/astronaut_mjpg.avi", "Val", "Neutral"),
        ("Happy/astronaut.mp4", "Val", "Surprise")]


def test_a_rerun_leaves_every_folder_and_its_report_rows_as_they_were(videos: Path,
                                                                      cropped) -> None:
    out, first = cropped
    assert first.returncode == 0, first.stderr
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    report = rows(out / REPORT)
    again = run_faces(videos, out, "--split", "train")  # the same folder, as the loader sees it
    assert again.returncode == 0, again.stderr
    assert "2 already in OUT_ROOT, left as they were" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before
    assert rows(out / REPORT) == report


def test_track_bridges_frames_where_the_face_is_lost(tmp_path: Path) -> None:
    image, origins = astronaut(), window_origins(12)
    frames = [image[y:y + WINDOW, x:x + WINDOW].copy() for x, y in origins]
    for t in (5, 6):  # the face is painted over: no detector can find it there
        x0, y0, x1, y1 = face_in_frame(origins[t]).astype(int)
        frames[t][max(0, y0 - 20):y1 + 20, max(0, x0 - 20):x1 + 20] = 128
    write_video(tmp_path / "raw" / "Fear" / "lost.avi", frames)
    for flags, written, tracked in (((), 10, 0), (("--track",), 12, 2)):
        out = tmp_path / f"out{len(flags)}"
        done = run_faces(tmp_path / "raw", out, *flags)
        assert done.returncode == 0, done.stderr
        (row,) = rows(out / REPORT)
        assert (row["frames_with_face"], row["tracked"], row["written"]) == (
            "10", str(tracked), str(written)), row
        per_frame = {int(r["frame"]): r for r in rows(out / FRAMES)}
        assert (5 in per_frame) == bool(flags)
    assert [per_frame[t]["source"] for t in (4, 5, 6, 7)] == [
        "detected", "tracked", "tracked", "detected"]
    assert np.array_equal(box(per_frame[5]), box(per_frame[4]))
