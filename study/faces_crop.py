"""Decode a video, find the face in each frame, and write square crops (``python -m
study.faces``).

The detector is OpenCV's frontal-face Haar cascade, which ships inside the
opencv-python-headless wheel (``cv2/data``), so nothing is downloaded at run time. OpenCV is
an install extra (``.[faces]``): it is imported here, when a detector or a video is opened,
never by the core package.

Boxes are ``(x0, y0, x1, y1)`` floats in the video's pixel coordinates. A crop is the square
of side ``max(w, h) * (1 + 2 * margin)`` centred on the face, padded with black where it
leaves the frame, resized to ``size x size`` and written as ``<frame index>.png`` (zero
padded: the index in the video, so gaps show the frames without a face).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from study.faces_sources import VideoJob
from trainables.config import IMAGE_SIZE
from trainables.errors import UserInputError

#: frame (BGR) -> (boxes (n, 4) as x0, y0, x1, y1; scores (n,))
Detector = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
FACES_EXTRA = "pip install -e '.[faces]'"
CASCADE = "haarcascade_frontalface_default.xml"
#: Frames are searched at most this large (longer side, in pixels): a 1080p frame takes a
#: third of the time at 640 and faces that fill a useful crop are found all the same.
DETECT_MAX_SIDE = 640
#: detectMultiScale's settings (OpenCV's tutorial values): 10% scale steps, 5 neighbours.
SCALE_FACTOR, MIN_NEIGHBOURS = 1.1, 5


def load_cv2():
    """The cv2 module, or one line saying how to install it."""
    try:
        import cv2
    except ImportError:
        raise UserInputError(f"OpenCV is not installed, and python -m study.faces needs it; "
                             f"{FACES_EXTRA}") from None
    return cv2


@dataclass(frozen=True)
class CropSettings:
    """How faces are found and cropped."""

    margin: float = 0.2      # added on each side, as a fraction of the face box's side
    size: int = IMAGE_SIZE   # the written frames are size x size (the loader's 96x96)
    min_face: int = 40       # smallest face searched, in video pixels
    track: bool = False      # smooth the box over frames and bridge short misses
    max_gap: int = 5         # with track: frames that keep the last box when none is found
    smoothing: float = 0.5   # with track: weight of the new detection in the box


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: BGR frame -> ``(n, 4)`` face boxes."""

    def __init__(self, min_face: int) -> None:
        cv2 = self.cv2 = load_cv2()
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        path = Path(folder) / CASCADE
        if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
            raise UserInputError(
                f"OpenCV {cv2.__version__} has no Haar cascade {CASCADE} (OpenCV 5 wheels "
                "dropped them); pip install 'opencv-python-headless>=4.5,<5'")
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise UserInputError(f"OpenCV could not load {path}; reinstall it: {FACES_EXTRA}")
        self.min_face = min_face

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes (n, 4), scores (n,))``: a face's score is the number of overlapping
        detections the cascade merged into it (detectMultiScale2), its usual confidence."""
        cv2 = self.cv2
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        smallest = max(24, round(self.min_face * scale))
        found, neighbours = self.cascade.detectMultiScale2(
            cv2.equalizeHist(gray), scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS,
            minSize=(smallest, smallest))
        boxes = np.asarray(found, dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return boxes / scale, np.asarray(neighbours, dtype=np.float64).reshape(-1)


# ----------------------------------------------------------------------------- geometry

def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def choose_face(boxes: np.ndarray, scores: np.ndarray,
                previous: np.ndarray | None) -> np.ndarray | None:
    """The face to keep: the one overlapping ``previous`` most, else the best scored (on a
    tie, the largest). The Haar cascade's false faces are rare and weak, not small."""
    if len(boxes) == 0:
        return None
    if previous is not None:
        overlaps = [iou(box, previous) for box in boxes]
        if max(overlaps) > 0:
            return boxes[int(np.argmax(overlaps))]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.lexsort((areas, scores))[-1])]


def square_around(face: np.ndarray, margin: float) -> tuple[int, int, int]:
    """``(x0, y0, side)``: the square centred on ``face`` with ``margin`` on each side."""
    side = max(1, round(max(face[2] - face[0], face[3] - face[1]) * (1 + 2 * margin)))
    centre_x, centre_y = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    return round(centre_x - side / 2), round(centre_y - side / 2), side


def crop_square(frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """``frame[y0:y0+side, x0:x0+side]``, black where the square leaves the frame."""
    out = np.zeros((side, side, *frame.shape[2:]), dtype=frame.dtype)
    height, width = frame.shape[:2]
    top, left = max(0, y0), max(0, x0)
    bottom, right = min(height, y0 + side), min(width, x0 + side)
    if bottom > top and right > left:
        out[top - y0:bottom - y0, left - x0:right - x0] = frame[top:bottom, left:right]
    return out


@dataclass
class FaceTracker:
    """The face box of each frame. Without ``track`` every frame stands alone (its best
    scored face); with it the box follows the face (the detection overlapping the last box,
    smoothed) and survives ``max_gap`` frames without a detection."""

    settings: CropSettings
    box: np.ndarray | None = None
    missed: int = 0

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray | None, str]:
        """``(box, source)`` with source ``detected``, ``tracked`` or ``none``."""
        track = self.settings.track
        pick = choose_face(boxes, scores, self.box if track else None)
        if pick is not None:
            if track and self.box is not None and iou(pick, self.box) > 0:
                weight = self.settings.smoothing
                pick = weight * pick + (1 - weight) * self.box
            self.box, self.missed = pick, 0
            return pick, "detected"
        if track and self.box is not None and self.missed < self.settings.max_gap:
            self.missed += 1
            return self.box, "tracked"
        self.box = None
        return None, "none"


# ----------------------------------------------------------------------------- videos

@dataclass
class FrameRecord:
    """One written frame: its index in the video, file, and the boxes it was cut with."""

    frame: int
    file: str
    source: str
    face: tuple[float, float, float, float]
    crop: tuple[int, int, int]


@dataclass
class VideoResult:
    """What happened to one video (a row of faces_report.csv)."""

    status: str = "ok"       # ok, no_face, unreadable, exists
    frames: int = 0          # frames decoded
    with_face: int = 0       # frames where the detector found a face
    tracked: int = 0         # frames written with the last box (--track)
    note: str = ""
    records: list[FrameRecord] = field(default_factory=list)

    @property
    def written(self) -> int:
        return len(self.records)


class UnreadableVideo(Exception):
    """OpenCV cannot open or decode a video (it is listed in the report, not fatal)."""


def video_frames(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    """``(frame count as the container states it, BGR frames)``; UnreadableVideo if OpenCV
    cannot open the file."""
    cv2 = load_cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise UnreadableVideo("OpenCV could not open it (not a video, or a codec this "
                              "OpenCV build lacks)")

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()

    return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))), frames()


def _write_crops(frames: Iterator[np.ndarray], detector: Detector, settings: CropSettings,
                 folder: Path, step: Callable[[], object]) -> VideoResult:
    """Crop every frame with a face into ``folder``; ``step()`` after each decoded frame."""
    cv2 = load_cv2()
    result, tracker = VideoResult(), FaceTracker(settings)
    for index, frame in enumerate(frames):
        result.frames += 1
        step()
        face, source = tracker.update(*detector(frame))
        if face is None:
            continue
        result.with_face += source == "detected"
        result.tracked += source == "tracked"
        x0, y0, side = square_around(face, settings.margin)
        crop = crop_square(frame, x0, y0, side)
        shrink = cv2.INTER_AREA if side >= settings.size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (settings.size, settings.size), interpolation=shrink)
        name = f"{index:05d}.png"
        if not cv2.imwrite(str(folder / name), crop):
            raise UserInputError(f"could not write {folder / name}; check free disk space "
                                 "and permissions")
        result.records.append(FrameRecord(index, name, source,
                                          tuple(round(float(v), 1) for v in face), (x0, y0, side)))
    return result


def crop_video(job: VideoJob, detector: Detector,
               settings: CropSettings, progress: Callable[[int], Callable[[], object]]
               ) -> VideoResult:
    """Crop one video into ``job.target``, which appears only once complete (frames go to a
    hidden ``.<id>.partial`` folder first, which the loader ignores). ``progress(total)``
    gives the function called once per decoded frame. A video without a face, or one OpenCV
    cannot read, leaves no folder and says so in its result."""
    if job.target.exists():
        return VideoResult(status="exists", note="folder already there, left as it was")
    cv2 = load_cv2()
    partial = job.target.parent / f".{job.video_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # left by a run that was killed
    new_folders = [f for f in (job.target.parents[1], job.target.parent) if not f.exists()]
    partial.mkdir(parents=True)
    try:
        total, frames = video_frames(job.path)
        result = _write_crops(frames, detector, settings, partial, progress(total))
        if result.frames == 0:
            return VideoResult(status="unreadable", note="no frame could be decoded")
        if result.written == 0:
            result.status, result.note = "no_face", "no face in any frame"
            return result
        os.rename(partial, job.target)
        return result
    except (UnreadableVideo, cv2.error) as error:
        return VideoResult(status="unreadable", note=str(error).strip().splitlines()[-1])
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in reversed(new_folders):  # an empty emotion folder would puzzle the loader
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
