"""Embedded dimensional data set: synthetic Aff-Wild-like videos of cartoon faces whose
expression moves continuously in the valence-arousal (VA) plane.

The dimensional counterpart of trainables.synthetic (same faces, identities and cameras):

* **Continuous expression**: :func:`va_expression` maps valence to the mouth curve (smile or
  frown), mouth width, cheeks and, for negative valence, the brows (raised inner ends when
  calm, a frown when aroused); arousal to eye and mouth opening and brow height.
  Each video follows a smooth trajectory (:func:`va_trajectory`): a random start point plus a
  few random sine components, reflected into [-1, 1], so that the set covers the plane.
* **Appearance shift**: Train is drawn with the source camera (:data:`synthetic.SOURCE`),
  Val and Test with the target camera (:data:`synthetic.TARGET`); ``shift`` scales the
  change as :class:`synthetic.Difficulty` does.
* **Annotation bias**: :data:`VA_ANNOTATION_BIAS` -- Train's annotators label what is drawn,
  Val/Test's compress and raise arousal and rate valence a little higher.

Layout (Aff-Wild style): frames ``ROOT/<Split>/<video_id>/<n>.png`` (``n`` from 1, not
zero-padded); annotations ``ROOT/<Split>/<video_id>.txt``, a ``valence,arousal`` header and
one ``v,a`` row per frame, 4 decimals, in [-1, 1], or ``-5,-5`` for a frame without a valid
annotation (every third video has a short run of them; those frames are drawn normally);
``ROOT/manifest.csv`` (``video_dir,split,annotation_file,true_valence_mean,
true_arousal_mean``, relative paths) and ``ROOT/truth.csv`` (``video_dir,frame,valence,
arousal``: the VA actually drawn in every frame, before annotation bias and -5 masking).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from trainables.config import IMAGE_SIZE, cache_root
from trainables.faces import Expression, random_identity, render_face
from trainables.synthetic import (
    DOMAINS,
    MANIFEST_NAME,
    SOURCE_SPLIT,
    TARGET,
    Difficulty,
    Domain,
    _apply_domain,
    _write_video,
    build_once,
)

#: Split names of the embedded VA set: Train is the source domain, Val the target domain
#: (adaptation and model selection), Test a held-out target-domain split.
EMBEDDED_VA_SPLITS: tuple[str, ...] = ("Train", "Val", "Test")
#: Videos per split: about 2100 / 1400 / 700 frames with (20, 50) frames each.
DEFAULT_VA_VIDEOS: dict[str, int] = {"Train": 60, "Val": 40, "Test": 20}
DEFAULT_VA_FRAMES: tuple[int, int] = (20, 50)
EMBEDDED_VA_NAME = "embedded-affwild-v1-seed{seed}"
TRUTH_NAME = "truth.csv"
VA_HEADER = "valence,arousal"
#: Aff-Wild's mark of a frame without a valid annotation (both values).
INVALID = -5.0
#: Every INVALID_EVERY-th video (numbers 1, 4, 7, ... of a split) has one run of
#: max(1, round(INVALID_SHARE * frames)) consecutive frames annotated ``-5,-5``.
INVALID_EVERY = 3
INVALID_SHARE = 0.05
_STREAM = 2  # keeps this set's random draws apart from the classification set's
#: Time scale of a trajectory, in frames: its sines make 0.3 to 1.5 cycles per this many
#: frames (the default videos' mean length), so the pace of change does not depend on length.
TRAJECTORY_FRAMES = 35

#: split -> (scale_v, shift_v, scale_a, shift_a): annotated = clip(scale * drawn + shift,
#: -1, 1), per dimension. Train's annotators rate what is drawn; Val/Test's (another team)
#: compress arousal towards a higher middle (a -> 0.7 a + 0.15) and rate valence 0.05
#: higher. Splits not named here are target domain and get Val's bias.
VA_ANNOTATION_BIAS: dict[str, tuple[float, float, float, float]] = {
    "Train": (1.0, 0.0, 1.0, 0.0),
    "Val": (1.0, 0.05, 0.7, 0.15),
    "Test": (1.0, 0.05, 0.7, 0.15),
}


# ----------------------------------------------------------------------------- faces

def va_expression(valence: float, arousal: float) -> Expression:
    """The face drawn for a point of the VA plane (both in [-1, 1]); continuous in both.

    Corners of the plane resemble the classification set's apexes: high valence and mid
    arousal a smile with teeth and cheeks (Happy), low valence and arousal a frown with
    raised inner brows and tears (Sad), high arousal wide eyes and an open mouth (Surprise),
    low valence and high arousal a frown with lowered inner brows and wrinkles (Anger).
    """
    v, a = float(np.clip(valence, -1, 1)), float(np.clip(arousal, -1, 1))
    pos_v, neg_v, pos_a, neg_a = max(v, 0.0), max(-v, 0.0), max(a, 0.0), max(-a, 0.0)
    return Expression(
        brow_tilt=neg_v * (0.6 + 0.2 * neg_a - 1.4 * pos_a),
        brow_raise=0.07 * pos_a - 0.03 * neg_a,
        eye_open=1.0 + 0.6 * pos_a - 0.5 * neg_a - 0.2 * pos_v,
        smile=0.85 * v,
        mouth_open=0.9 * pos_a,
        mouth_width=1.0 + 0.3 * pos_v - 0.1 * neg_v,
        wrinkles=neg_v * pos_a,
        teeth=pos_v,
        flush=0.5 * neg_v * pos_a,
        tears=neg_v * neg_a,
        cheeks=0.9 * pos_v,
    )


def va_trajectory(n_frames: int, rng: np.random.Generator, components: int = 3) -> np.ndarray:
    """Drawn (valence, arousal) of every frame, shape ``(n_frames, 2)``: a uniform start in
    [-0.9, 0.9]^2 plus ``components`` sines per dimension (0.3 to 1.5 cycles per
    :data:`TRAJECTORY_FRAMES` frames, amplitudes 0.1 to 0.35) that are all zero at the start,
    kept in [-1, 1] by reflection at the edges (continuous, and unlike clipping it piles no
    frames up on the border)."""
    t = (np.arange(n_frames) / TRAJECTORY_FRAMES)[:, None, None]
    start = rng.uniform(-0.9, 0.9, 2)
    cycles = rng.uniform(0.3, 1.5, (components, 2))
    amplitude = rng.uniform(0.1, 0.35, (components, 2))
    phase = rng.uniform(0.0, 2 * np.pi, (components, 2))
    drift = amplitude * (np.sin(2 * np.pi * cycles * t + phase) - np.sin(phase))
    folded = np.mod(start + drift.sum(axis=1) + 1.0, 4.0)  # reflect at -1 and 1
    return np.clip(np.where(folded > 2.0, 4.0 - folded, folded) - 1.0, -1.0, 1.0)


def render_va_video(trajectory: np.ndarray, domain: Domain, image_size: int,
                    rng: np.random.Generator) -> list[Image.Image]:
    """Frames of one person (drawn from ``rng``) following ``trajectory`` (rows of
    valence, arousal) through the VA plane, with ``domain``'s camera and lighting."""
    who = random_identity(rng, domain.background)
    jitter = np.cumsum(rng.normal(0.0, 0.25, (len(trajectory), 3)), axis=0).clip(-1.0, 1.0)
    return [_apply_domain(render_face(image_size, who, va_expression(v, a), domain.face_scale,
                                      domain.offset, j), domain, rng)
            for (v, a), j in zip(trajectory, jitter, strict=True)]


# ----------------------------------------------------------------------------- annotations

def annotate(truth: np.ndarray, split: str) -> np.ndarray:
    """Annotated (valence, arousal) of drawn ``truth`` rows in ``split``
    (:data:`VA_ANNOTATION_BIAS`, clipped to [-1, 1])."""
    scale_v, shift_v, scale_a, shift_a = VA_ANNOTATION_BIAS.get(split, VA_ANNOTATION_BIAS["Val"])
    scale, shift = np.array([scale_v, scale_a]), np.array([shift_v, shift_a])
    return np.clip(np.asarray(truth, dtype=float) * scale + shift, -1.0, 1.0)


def invalid_frames(number: int, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Mask of the frames annotated ``-5,-5`` in video ``number`` of a split: one run of
    about INVALID_SHARE of its frames at a random place in every INVALID_EVERY-th video."""
    mask = np.zeros(n_frames, dtype=bool)
    if number % INVALID_EVERY == 1:
        run = min(n_frames, max(1, round(INVALID_SHARE * n_frames)))
        first = int(rng.integers(0, n_frames - run + 1))
        mask[first:first + run] = True
    return mask


def _value(x: float) -> str:
    return f"{round(float(x), 4) + 0.0:.4f}"  # + 0.0 turns -0.0 into 0.0


def _write_annotations(path: Path, annotated: np.ndarray, invalid: np.ndarray) -> None:
    lines = [VA_HEADER]
    for (v, a), bad in zip(annotated, invalid, strict=True):
        lines.append(f"{INVALID:g},{INVALID:g}" if bad else f"{_value(v)},{_value(a)}")
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- data set

def generate_va_dataset(root: str | Path, *, seed: int = 0,
                        videos_per_split: dict[str, int] | None = None,
                        frames_per_video: tuple[int, int] = DEFAULT_VA_FRAMES,
                        image_size: int = IMAGE_SIZE, progress: bool = True,
                        shift: float = 1.0) -> Path:
    """Write the synthetic Aff-Wild-like VA data set under ``root`` and return ``root``.

    ``videos_per_split`` maps split name -> videos (default :data:`DEFAULT_VA_VIDEOS`); frame
    counts are drawn uniformly from the inclusive range ``frames_per_video``. The source split
    (Train) has the source camera, every other split the target camera, its change from the
    source scaled by ``shift`` (0: none, 1: the default; see :class:`synthetic.Difficulty`).
    The same seed gives byte-identical files.
    """
    root = Path(root)
    plan = videos_per_split or DEFAULT_VA_VIDEOS
    if frames_per_video[0] < 1 or frames_per_video[0] > frames_per_video[1]:
        raise ValueError(f"frames_per_video must be (low, high) with 1 <= low <= high, got "
                         f"{frames_per_video}")
    appearance = Difficulty(shift=shift)
    root.mkdir(parents=True, exist_ok=True)
    manifest, truth_rows = [], []
    for split_index, (split, count) in enumerate(plan.items()):
        domain = DOMAINS.get(split, TARGET)
        if split != SOURCE_SPLIT and shift != 1.0:
            domain = appearance.domain(domain)
        for number in tqdm(range(count), desc=f"generate {split}", disable=not progress):
            rng = np.random.default_rng([seed, split_index, number, _STREAM])
            n_frames = int(rng.integers(frames_per_video[0], frames_per_video[1] + 1))
            truth = va_trajectory(n_frames, rng)
            invalid = invalid_frames(number, n_frames, rng)
            video_dir = Path(split) / f"{number:06d}"
            annotation_file = Path(split) / f"{number:06d}.txt"
            _write_video(render_va_video(truth, domain, image_size, rng), root / video_dir)
            _write_annotations(root / annotation_file, annotate(truth, split), invalid)
            manifest.append((video_dir.as_posix(), split, annotation_file.as_posix(),
                             _value(truth[:, 0].mean()), _value(truth[:, 1].mean())))
            truth_rows += [(video_dir.as_posix(), n, _value(v), _value(a))
                           for n, (v, a) in enumerate(truth, start=1)]
    with (root / MANIFEST_NAME).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_dir", "split", "annotation_file", "true_valence_mean",
                         "true_arousal_mean"])
        writer.writerows(manifest)
    with (root / TRUTH_NAME).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_dir", "frame", "valence", "arousal"])
        writer.writerows(truth_rows)
    return root


def embedded_va_dataset(seed: int = 0) -> Path:
    """The default VA data set, generated once under ``cache_root()`` and reused afterwards
    (atomic temp folder and completion marker: :func:`synthetic.build_once`)."""
    return build_once(cache_root() / EMBEDDED_VA_NAME.format(seed=seed),
                      lambda temp: generate_va_dataset(temp, seed=seed))
