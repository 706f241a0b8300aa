"""``python -m study.faces``, in process: crop geometry, the tracker, the Haar detector on a
real face, labels from folders and CSVs, and bad input (one line, exit code 2). The runs
as a user makes them, in subprocesses, are in tests/e2e/test_faces_cli.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from study import faces
from study.faces_crop import (
    CropSettings,
    FaceTracker,
    HaarDetector,
    choose_face,
    crop_square,
    iou,
    square_around,
)
from study.faces_report import REPORT
from study.faces_sources import csv_labels, find_videos, folder_labels, plan_jobs
from tests.faces_helpers import ASTRONAUT_FACE, astronaut, astronaut_video, faceless_video
from tests.study_helpers import REPO
from trainables.config import DEFAULT_CLASSES
from trainables.errors import UserInputError

# ----------------------------------------------------------------------------- geometry


def test_square_around_centres_a_square_with_the_margin_on_each_side() -> None:
    assert square_around(np.array([100.0, 50.0, 140.0, 110.0]), 0.25) == (75, 35, 90)
    assert square_around(np.array([10.0, 10.0, 50.0, 50.0]), 0.0) == (10, 10, 40)


def test_crop_square_pads_with_black_where_the_square_leaves_the_frame() -> None:
    frame = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    inside = crop_square(frame, 2, 3, 5)
    assert np.array_equal(inside, frame[3:8, 2:7])
    corner = crop_square(frame, -2, -3, 6)
    assert corner.shape == (6, 6, 3)
    assert not corner[:3].any() and not corner[:, :2].any()
    assert np.array_equal(corner[3:, 2:], frame[:3, :4])
    assert not crop_square(frame, 20, 20, 4).any()  # entirely outside: all black


def test_iou() -> None:
    box = np.array([0.0, 0.0, 10.0, 10.0])
    assert iou(box, box) == 1.0
    assert iou(box, np.array([5.0, 0.0, 15.0, 10.0])) == pytest.approx(50 / 150)
    assert iou(box, np.array([20.0, 20.0, 30.0, 30.0])) == 0.0


def test_choose_face_prefers_the_tracked_face_then_the_best_score_then_size() -> None:
    small = np.array([0.0, 0.0, 10.0, 10.0])
    large = np.array([50.0, 50.0, 90.0, 90.0])
    boxes = np.stack([small, large])
    assert np.array_equal(choose_face(boxes, np.array([30.0, 8.0]), None), small)
    assert np.array_equal(choose_face(boxes, np.array([8.0, 8.0]), None), large)
    assert np.array_equal(choose_face(boxes, np.array([8.0, 30.0]), small + 1), small)
    assert choose_face(np.empty((0, 4)), np.empty(0), None) is None


def _frames(tracker: FaceTracker, detections: list[np.ndarray | None]) -> list:
    one = np.ones(1)
    return [tracker.update(np.empty((0, 4)) if box is None else box[None], one)
            for box in detections]


def test_without_track_a_frame_without_a_face_has_no_box() -> None:
    box = np.array([10.0, 10.0, 50.0, 50.0])
    sources = [source for _, source in _frames(FaceTracker(CropSettings()), [box, None, box])]
    assert sources == ["detected", "none", "detected"]


def test_track_keeps_the_last_box_for_max_gap_frames_and_smooths_the_box() -> None:
    box = np.array([10.0, 10.0, 50.0, 50.0])
    settings = CropSettings(track=True, max_gap=2, smoothing=0.5)
    out = _frames(FaceTracker(settings), [box, None, None, None, box, box + 4])
    assert [source for _, source in out] == ["detected", "tracked", "tracked", "none",
                                             "detected", "detected"]
    assert np.array_equal(out[1][0], box) and out[3][0] is None
    assert np.allclose(out[5][0], box + 2)  # halfway to the new detection
    far = np.array([200.0, 200.0, 240.0, 240.0])  # no overlap: a new face, no smoothing
    assert np.array_equal(_frames(FaceTracker(settings), [box, far])[1][0], far)


# ----------------------------------------------------------------------------- detector


def test_haar_finds_the_astronauts_face_and_nothing_in_noise() -> None:
    detector = HaarDetector(min_face=40)
    boxes, scores = detector(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    face = choose_face(boxes, scores, None)
    assert face is not None and iou(face, ASTRONAUT_FACE) > 0.6, boxes
    noise = np.random.default_rng(0).integers(0, 256, (320, 320, 3), dtype=np.uint8)
    assert len(detector(noise)[0]) == 0
    assert len(detector(np.full((320, 320, 3), 128, np.uint8))[0]) == 0


def test_large_frames_are_searched_smaller_and_boxes_come_back_in_video_pixels() -> None:
    big = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (1536, 1536))
    boxes, scores = HaarDetector(min_face=40)(big)
    assert iou(choose_face(boxes, scores, None), ASTRONAUT_FACE * 3) > 0.6


def test_opencv_without_haar_cascades_gets_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path))
    with pytest.raises(UserInputError, match="opencv-python-headless>=4.5,<5"):
        HaarDetector(min_face=40)


# ----------------------------------------------------------------------------- labels


def _touch(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def test_folder_labels_take_the_nearest_emotion_folder_and_its_aliases(tmp_path: Path) -> None:
    raw = _touch(tmp_path / "raw", "Happy/a.mp4", "joy/b.avi", "actor1/Sad/c.mp4",
                 "Fear/session 2/d.MP4", "Happy/.hidden.mp4", "Happy/notes.txt")
    base, files = find_videos(raw)
    labels = {path.relative_to(raw).as_posix(): label
              for path, label in folder_labels(base, files, DEFAULT_CLASSES).items()}
    assert labels == {"Happy/a.mp4": "Happy", "joy/b.avi": "Happy",
                      "actor1/Sad/c.mp4": "Sad", "Fear/session 2/d.MP4": "Fear"}
    _touch(raw, "Contempt/e.mp4")
    with pytest.raises(UserInputError, match=r"Contempt/e\.mp4: its folder 'Contempt'"):
        folder_labels(*find_videos(raw), DEFAULT_CLASSES)


def test_csv_labels_match_path_file_name_or_stem(tmp_path: Path) -> None:
    raw = _touch(tmp_path / "raw", "x/a.mp4", "y/a.mp4", "y/b.avi", "c.mp4", "left/d.mp4")
    base, files = find_videos(raw)
    table = tmp_path / "labels.csv"
    table.write_text("Video,Label,extra\nx/a.mp4,happiness,1\nb.avi,SAD,\nc,angry,\n\n")
    labels = {p.relative_to(raw).as_posix(): v
              for p, v in csv_labels(table, base, files, DEFAULT_CLASSES).items()}
    assert labels == {"x/a.mp4": "Happy", "y/b.avi": "Sad", "c.mp4": "Anger"}


@pytest.mark.parametrize(("rows", "message"), [
    ("a.mp4,Happy", r"line 2: names several videos"),
    ("z.mp4,Happy", r"line 2: names no video"),
    ("c.mp4,Happy\nc.mp4,Sad", r"line 3: .*c\.mp4 is listed twice"),
    ("c.mp4,contempt", r"line 2: unknown label 'contempt' for .*c\.mp4; use one of: Neutral"),
])
def test_csv_label_problems_name_the_line_and_the_file(tmp_path: Path, rows: str,
                                                       message: str) -> None:
    raw = _touch(tmp_path / "raw", "x/a.mp4", "y/a.mp4", "c.mp4")
    table = tmp_path / "labels.csv"
    table.write_text(f"video,label\n{rows}\n")
    with pytest.raises(UserInputError, match=message):
        csv_labels(table, *find_videos(raw), DEFAULT_CLASSES)


def test_jobs_reuse_existing_folders_and_refuse_two_videos_for_one(tmp_path: Path) -> None:
    raw = _touch(tmp_path / "raw", "Happy/a.mp4", "joy/b.mp4")
    out = tmp_path / "out"
    (out / "train" / "happiness").mkdir(parents=True)
    base, files = find_videos(raw)
    jobs = plan_jobs(base, folder_labels(base, files, DEFAULT_CLASSES), out, "Train",
                     DEFAULT_CLASSES)
    assert [job.target.relative_to(out).as_posix() for job in jobs] == [
        "train/happiness/a", "train/happiness/b"]
    _touch(raw, "joy/a.avi")
    base, files = find_videos(raw)
    with pytest.raises(UserInputError, match=r"a\.mp4 and .*a\.avi would both be written"):
        plan_jobs(base, folder_labels(base, files, DEFAULT_CLASSES), out, "Train",
                  DEFAULT_CLASSES)


# ----------------------------------------------------------------------------- the command


def _fails_with(capsys, argv: list[str], message: str) -> None:
    try:
        code = faces.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("python -m study.faces: error: ") and message in err, err


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    raw = _touch(tmp_path / "raw", "Happy/a.mp4", "Contempt/b.mp4")
    out = tmp_path / "out"
    _fails_with(capsys, [str(tmp_path / "none"), str(out)], "does not exist")
    _fails_with(capsys, [str(raw), str(out)], "Contempt/b.mp4: its folder 'Contempt'")
    _fails_with(capsys, [str(raw), str(out), "--labels", str(tmp_path / "no.csv")],
                "labels file")
    (tmp_path / "file").write_text("")
    _fails_with(capsys, [str(raw / "Happy" / "a.mp4"), str(tmp_path / "file")], "is a file")
    _fails_with(capsys, [str(raw), str(out), "--split", ".hidden"], "is not a folder name")
    assert not out.exists()


def test_without_opencv_one_line_says_how_to_install_it(monkeypatch, tmp_path: Path,
                                                        capsys) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    _fails_with(capsys, [str(tmp_path), str(tmp_path / "out")],
                "pip install -e '.[faces]'")


def test_the_core_package_does_not_import_opencv() -> None:
    code = ("import sys, pkgutil, importlib, trainables, study.faces\n"
            "for m in pkgutil.iter_modules(trainables.__path__):\n"
            "    importlib.import_module('trainables.' + m.name)\n"
            "print('cv2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    assert done.stdout.strip() == "False"


def test_an_existing_video_folder_is_left_as_it_was(tmp_path: Path, capsys) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    astronaut_video(raw / "Happy" / "a.mp4", frames=3)
    faceless_video(raw / "Happy" / "b.avi", frames=3)
    kept = out / "Train" / "Happy" / "a" / "mine.png"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"not to be touched")
    assert faces.main([str(raw), str(out), "--no-progress"]) == 0
    assert kept.read_bytes() == b"not to be touched"
    assert sorted(p.name for p in kept.parent.iterdir()) == ["mine.png"]
    assert not (out / "Train" / "Happy" / "b").exists()  # no face: no folder
    printed = capsys.readouterr().out
    assert "1 already in OUT_ROOT, left as they were:\n  Happy/a.mp4" in printed
    assert "1 no face found:\n  Happy/b.avi" in printed
    assert (out / REPORT).read_text().splitlines()[1:] == [
        "Happy/a.mp4,Train,Happy,Train/Happy/a,0,0,0,0,exists,"
        "\"folder already there, left as it was\"",
        "Happy/b.avi,Train,Happy,Train/Happy/b,3,0,0,0,no_face,no face in any frame"]
