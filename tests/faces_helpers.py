"""Videos with a known face for the tests of ``python -m study.faces``: scikit-image's
astronaut (Eileen Collins, 512x512 RGB, in its wheel), seen through a window that moves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

#: The astronaut's face (x0, y0, x1, y1) in the 512x512 image: hairline to chin, ear to ear.
#: Looked at by eye; OpenCV's Haar cascade finds (177, 66, 272, 161) on the whole image and
#: facenet-pytorch's MTCNN (181, 62, 268, 172).
ASTRONAUT_FACE = np.array([175.0, 60.0, 275.0, 175.0])
WINDOW = 320  # side of the video frames cut from the image
CODECS = {".mp4": "mp4v", ".avi": "MJPG"}  # encoders inside the opencv-python-headless wheel


def astronaut() -> np.ndarray:
    """The 512x512 RGB image."""
    return data.astronaut()


def window_origins(frames: int) -> list[tuple[int, int]]:
    """Top-left corner of the window in each frame: the face drifts 4 px left and 2 px up
    per frame (76 x 38 px over 20 frames)."""
    return [(20 + 4 * t, 2 * t) for t in range(frames)]


def face_in_frame(origin: tuple[int, int]) -> np.ndarray:
    """The known face box in the coordinates of the frame cut at ``origin``."""
    return ASTRONAUT_FACE - np.array([origin[0], origin[1], origin[0], origin[1]], dtype=float)


def write_video(path: Path, frames_rgb: list[np.ndarray], fps: float = 10.0) -> Path:
    """Encode RGB frames with OpenCV (mp4v for .mp4, MJPG for .avi)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), fps,
                             (width, height))
    assert writer.isOpened(), f"OpenCV cannot encode {path.suffix} here"
    for frame in frames_rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def astronaut_video(path: Path, frames: int = 20) -> list[tuple[int, int]]:
    """Write the moving-window video; the window origins, frame by frame."""
    image, origins = astronaut(), window_origins(frames)
    write_video(path, [image[y:y + WINDOW, x:x + WINDOW] for x, y in origins])
    return origins


def faceless_video(path: Path, frames: int = 8, seed: int = 0) -> Path:
    """A grey frame with faint noise: nothing a face detector should take for a face."""
    rng = np.random.default_rng(seed)
    return write_video(path, [np.clip(128 + rng.normal(0, 12, (WINDOW, WINDOW, 3)), 0, 255)
                              .astype(np.uint8) for _ in range(frames)])
