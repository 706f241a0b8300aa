"""Embedded default data set: small synthetic AFEW-like videos of cartoon faces.

Why synthetic: AFEW cannot be redistributed, yet the studies must run out of the box.
The generator reproduces the three properties the paper's method is about:

* **Temporal expression**: each video starts neutral and moves towards its class's apex
  (eyebrow angle/height, eye openness, mouth curvature/openness/width, wrinkles).
* **Appearance shift**: Train (source) is bright, warm, sharp, with large faces; Val
  (target) and Test are dim, cool, side-lit, noisy, blurred, with smaller faces.
* **Annotation bias**: :data:`LABEL_FLIPS` mislabels a fraction of some classes, differently
  in Train than in Val/Test, so a model fitted on one split scores clearly lower on the other.

:class:`Difficulty` makes the domain shift stronger or weaker: ``shift`` scales the appearance
change (0: none, 1: the default, up to 2 or so: stronger), ``annotation_bias`` scales every
:data:`LABEL_FLIPS` fraction (0: clean labels), and ``class_imbalance`` gives the source and
target splits opposite class priors (0: balanced, as by default).

Frames are written as ``ROOT/<Split>/<Emotion>/<video_id>/<n>.png`` (``n`` from 1, not
zero-padded) plus ``ROOT/manifest.csv`` (``video_dir,label,split,true_label``), where
``label`` is the annotated label and ``true_label`` the expression actually drawn.
The faces themselves (expressions, apexes, identities, drawing) are in trainables.faces.
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from tqdm.auto import tqdm

from trainables.config import DEFAULT_CLASSES, IMAGE_SIZE, cache_root
from trainables.faces import APEX, NEUTRAL, Expression, random_identity, render_face

DEFAULT_SPLITS = ("Train", "Val", "Test")
#: The source domain's split; every other split is target domain (appearance, priors).
SOURCE_SPLIT = "Train"
#: Videos per class in each split: about 2000 / 1300 / 550 frames with (12, 40) frames each.
DEFAULT_VIDEOS_PER_CLASS = {"Train": 11, "Val": 7, "Test": 3}
EMBEDDED_NAME = "embedded-afew-v2-seed{seed}"
COMPLETE_MARKER = ".complete"
MANIFEST_NAME = "manifest.csv"

#: split -> {true class: (annotated class, fraction of that class's videos relabelled)}.
#: Train confuses look-alike pairs one way, Val/Test the other way round (as two annotator
#: teams would), which is the cross-set bias the centroid loss has to cope with.
LABEL_FLIPS: dict[str, dict[str, tuple[str, float]]] = {
    "Train": {"Fear": ("Surprise", 0.3), "Disgust": ("Anger", 0.3), "Sad": ("Neutral", 0.3)},
    "Val": {"Surprise": ("Fear", 0.3), "Anger": ("Disgust", 0.3), "Neutral": ("Sad", 0.3)},
    "Test": {"Surprise": ("Fear", 0.3), "Anger": ("Disgust", 0.3), "Neutral": ("Sad", 0.3)},
}


@dataclass(frozen=True)
class Domain:
    """Appearance of one split (camera, lighting, framing)."""

    brightness: float
    cast: tuple[float, float, float]  # per-channel gain
    side_light: float                 # left-to-right brightness gradient strength
    face_scale: float                 # face height / image height
    noise: float                      # Gaussian noise std, in grey levels
    blur: float                       # Gaussian blur radius, in pixels at 96x96
    background: tuple[int, int, int]  # mean backdrop colour (per-video variation is small)
    offset: tuple[float, float] = (0.0, 0.0)  # face-centre shift (x, y), in image widths


@dataclass(frozen=True)
class Difficulty:
    """Knobs that make the generated set harder than the embedded default, and the domain
    shift stronger or weaker.

    The defaults reproduce the embedded set exactly (same random draws, same bytes); ``HARD``
    is a variant the project was not tuned to, used to check that the default settings still
    learn. Domain-shift knobs:

    * ``shift`` moves the target's brightness, colour cast, side light, backdrop and face
      position along the line from the source's (0) to the default target's (1); values above
      1 extrapolate (a stronger shift), with brightness and gains kept in [0.2, 2], side
      light in [-1, 1], backdrops in [0, 255] and face offsets within 0.25 image widths. The
      target camera's noise, blur and face size are not part of it.
    * ``annotation_bias`` multiplies every :data:`LABEL_FLIPS` fraction (clipped at 1): 0
      labels every video as drawn; at least one video per class keeps its true label.
    * ``class_imbalance`` in [0, 1): class prior shift. With ``c`` classes and ``n`` videos
      per class, class ``i`` of the source split (Train) gets
      ``max(1, round(n * (1 - class_imbalance) ** (i / (c - 1))))`` videos and every other
      split the reverse order, so the source's majority class is the target's minority.
    """

    expression_scale: float = 1.0   # apex intensity: < 1 gives subtler expressions
    person_spread: float = 0.0      # per-person random change of every expression parameter
    face_scale: float = 1.0         # multiplies each domain's face size
    noise: float = 1.0              # multiplies each domain's sensor noise
    blur: float = 0.0               # extra blur radius, in pixels at 96x96
    resolution: int | None = None   # render at this size, then upscale (low-resolution camera)
    shift: float = 1.0              # appearance shift: 0 none, 1 the default, > 1 stronger
    annotation_bias: float = 1.0    # multiplies LABEL_FLIPS fractions: 0 clean labels
    class_imbalance: float = 0.0    # opposite class priors in source and target: 0 balanced

    def __post_init__(self) -> None:
        if not self.shift >= 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")
        if not self.annotation_bias >= 0:
            raise ValueError(f"annotation_bias must be >= 0, got {self.annotation_bias}")
        if not 0 <= self.class_imbalance < 1:
            raise ValueError(f"class_imbalance must be in [0, 1), got {self.class_imbalance}")

    @property
    def changes_appearance(self) -> bool:
        """Whether frames differ from the embedded set's (labels and counts aside)."""
        return any(getattr(self, name) != getattr(EMBEDDED, name)
                   for name in ("face_scale", "noise", "blur", "shift"))

    def domain(self, base: Domain) -> Domain:
        """``base`` with this difficulty's appearance changes applied."""
        mix = self.shift

        def toward(source_value: float, value: float, low: float, high: float) -> float:
            return min(max(source_value + mix * (value - source_value), low), high)

        cast = tuple(toward(s, v, 0.2, 2.0) for s, v in zip(SOURCE.cast, base.cast, strict=True))
        background = tuple(int(toward(s, v, 0, 255))
                           for s, v in zip(SOURCE.background, base.background, strict=True))
        offset = tuple(toward(s, v, -0.25, 0.25)
                       for s, v in zip(SOURCE.offset, base.offset, strict=True))
        return Domain(brightness=toward(SOURCE.brightness, base.brightness, 0.2, 2.0),
                      cast=cast, side_light=toward(SOURCE.side_light, base.side_light, -1, 1),
                      face_scale=base.face_scale * self.face_scale,
                      noise=base.noise * self.noise, blur=base.blur + self.blur,
                      background=background, offset=offset)


SOURCE = Domain(brightness=1.05, cast=(1.06, 1.0, 0.9), side_light=0.0, face_scale=1.05,
                noise=2.0, blur=0.0, background=(135, 128, 118))
TARGET = Domain(brightness=0.85, cast=(0.9, 1.0, 1.12), side_light=0.3, face_scale=1.0,
                noise=4.0, blur=0.4, background=(115, 122, 128), offset=(0.1, -0.04))
DOMAINS: dict[str, Domain] = {SOURCE_SPLIT: SOURCE, "Val": TARGET, "Test": TARGET}
EMBEDDED = Difficulty()
#: Subtler expressions that every person makes differently, smaller, noisier, blurred,
#: low-resolution faces, and a milder appearance shift: a set the defaults were not tuned on.
HARD = Difficulty(expression_scale=0.6, person_spread=0.35, face_scale=0.8, noise=2.5,
                  blur=0.4, resolution=48, shift=0.6)
#: For the methods benchmark: a stronger appearance shift, more label flips and opposite class
#: priors; and a set whose target differs from the source only in camera noise, blur and
#: face size (same lighting, colours, framing; clean labels; balanced classes).
STRONG_SHIFT = Difficulty(shift=1.5, annotation_bias=1.5, class_imbalance=0.5)
NO_SHIFT = Difficulty(shift=0.0, annotation_bias=0.0)
DIFFICULTIES: dict[str, Difficulty] = {"embedded": EMBEDDED, "hard": HARD,
                                       "strong-shift": STRONG_SHIFT, "no-shift": NO_SHIFT}


# ----------------------------------------------------------------------------- videos

def _apply_domain(image: Image.Image, domain: Domain, rng: np.random.Generator) -> Image.Image:
    """Camera and lighting of the split: blur, gain, colour cast, side light, sensor noise."""
    size = image.size[0]
    if domain.blur:
        image = image.filter(ImageFilter.GaussianBlur(domain.blur * size / 96))
    pixels = np.asarray(image, dtype=np.float32)
    ramp = 1 + domain.side_light * np.linspace(-0.5, 0.5, size, dtype=np.float32)
    pixels = pixels * (domain.brightness * ramp[None, :, None]) * np.float32(domain.cast)
    pixels += rng.normal(0.0, domain.noise, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _intensity_curve(n: int, rng: np.random.Generator) -> np.ndarray:
    """Expression intensity per frame: neutral, then a smooth onset up to the apex."""
    t = np.linspace(0.0, 1.0, n)
    onset, duration = rng.uniform(0.0, 0.05), rng.uniform(0.05, 0.15)
    ramp = np.clip((t - onset) / duration, 0.0, 1.0)
    return rng.uniform(0.9, 1.0) * ramp * ramp * (3 - 2 * ramp)


def _person_apex(apex: Expression, difficulty: Difficulty,
                 rng: np.random.Generator) -> Expression:
    """How this person expresses the class: scaled, and changed per person by the spread.

    The default difficulty draws nothing from ``rng``, so the embedded set is unchanged.
    """
    scaled = NEUTRAL.towards(apex, difficulty.expression_scale)
    if not difficulty.person_spread:
        return scaled
    values = vars(scaled)
    # Each parameter moves by a fraction of its own range over the classes' apexes.
    spans = {k: max(abs(vars(a)[k] - vars(NEUTRAL)[k]) for a in APEX.values()) for k in values}
    noise = rng.normal(0.0, difficulty.person_spread, len(values))
    return Expression(**{k: v + n * spans[k]
                         for (k, v), n in zip(values.items(), noise, strict=True)})


def render_video(true_class: str, n_frames: int, domain: Domain, image_size: int,
                 rng: np.random.Generator,
                 difficulty: Difficulty = EMBEDDED) -> list[Image.Image]:
    """Frames of one synthetic video whose expression evolves towards ``true_class``'s apex."""
    domain = difficulty.domain(domain) if difficulty.changes_appearance else domain
    who = random_identity(rng, domain.background)
    apex = _person_apex(APEX.get(true_class, NEUTRAL), difficulty, rng)
    intensity = _intensity_curve(n_frames, rng)
    jitter = np.cumsum(rng.normal(0.0, 0.25, (n_frames, 3)), axis=0).clip(-1.0, 1.0)
    size = difficulty.resolution or image_size
    frames = [_apply_domain(render_face(size, who, NEUTRAL.towards(apex, a), domain.face_scale,
                                        domain.offset, j), domain, rng)
              for a, j in zip(intensity, jitter, strict=True)]
    if size != image_size:
        frames = [frame.resize((image_size, image_size), Image.Resampling.BILINEAR)
                  for frame in frames]
    return frames


# ----------------------------------------------------------------------------- data set

def annotated_labels(split: str, true_class: str, count: int, rng: np.random.Generator,
                     annotation_bias: float = 1.0) -> list[str]:
    """Labels given to ``count`` videos of ``true_class`` in ``split`` (applies LABEL_FLIPS,
    each fraction multiplied by ``annotation_bias`` and clipped at 1).

    At least one video keeps its true label, so every class stays present in every split.
    """
    labels = [true_class] * count
    target, fraction = LABEL_FLIPS.get(split, {}).get(true_class, (true_class, 0.0))
    flips = min(round(min(fraction * annotation_bias, 1.0) * count), count - 1)
    for index in rng.permutation(count)[:flips]:
        labels[index] = target
    return labels


def class_counts(split: str, n_classes: int, per_class: int,
                 class_imbalance: float = 0.0) -> list[int]:
    """Videos of each class (in class order) in ``split``: ``per_class`` each when balanced;
    otherwise decaying over the classes in the source split and rising in the others."""
    exponents = [i / (n_classes - 1) if n_classes > 1 else 0.0 for i in range(n_classes)]
    counts = [max(1, round(per_class * (1 - class_imbalance) ** e)) for e in exponents]
    return counts if split == SOURCE_SPLIT else counts[::-1]


def _video_plan(split: str, classes: Sequence[str], per_class: int, seed: int,
                split_index: int, difficulty: Difficulty = EMBEDDED) -> list[tuple[str, str]]:
    """(true class, annotated class) of every video of a split, in a fixed order."""
    rng = np.random.default_rng([seed, split_index, 1_000_003])
    counts = class_counts(split, len(classes), per_class, difficulty.class_imbalance)
    plan = []
    for true_class, count in zip(classes, counts, strict=True):
        labels = annotated_labels(split, true_class, count, rng, difficulty.annotation_bias)
        plan += [(true_class, label if label in classes else true_class) for label in labels]
    return plan


def _write_video(frames: list[Image.Image], directory: Path) -> None:
    directory.mkdir(parents=True)
    for n, frame in enumerate(frames, start=1):
        frame.save(directory / f"{n}.png", optimize=False, compress_level=6)


def generate_dataset(root: str | Path, *, seed: int = 0,
                     videos_per_class: dict[str, int] | None = None,
                     frames_per_video: tuple[int, int] = (12, 40), image_size: int = IMAGE_SIZE,
                     classes: Sequence[str] = DEFAULT_CLASSES, progress: bool = True,
                     difficulty: Difficulty = EMBEDDED) -> Path:
    """Write the synthetic AFEW-like data set under ``root`` and return ``root``.

    ``videos_per_class`` maps split name -> videos per class in that split (default
    :data:`DEFAULT_VIDEOS_PER_CLASS`); frame counts are drawn uniformly from the inclusive
    range ``frames_per_video``. The same seed gives byte-identical PNG files.
    ``difficulty`` (default: the embedded set's) makes the faces harder to read and sets the
    domain shift's strength (appearance, annotation bias, class priors; ``class_imbalance``
    changes the per-class counts, see :func:`class_counts`).
    """
    root = Path(root)
    plan = videos_per_class or DEFAULT_VIDEOS_PER_CLASS
    rows = []
    for split_index, (split, per_class) in enumerate(plan.items()):
        videos = _video_plan(split, classes, per_class, seed, split_index, difficulty)
        domain = DOMAINS.get(split, TARGET)
        for number, (true_class, label) in enumerate(tqdm(videos, desc=f"generate {split}",
                                                          disable=not progress)):
            rng = np.random.default_rng([seed, split_index, number])
            n_frames = int(rng.integers(frames_per_video[0], frames_per_video[1] + 1))
            video_dir = Path(split) / label / f"{number:06d}"
            frames = render_video(true_class, n_frames, domain, image_size, rng, difficulty)
            _write_video(frames, root / video_dir)
            rows.append((video_dir.as_posix(), label, split, true_class))
    with (root / MANIFEST_NAME).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_dir", "label", "split", "true_label"])
        writer.writerows(rows)
    return root


def build_once(final: Path, generate: Callable[[Path], object]) -> Path:
    """``final``, written by ``generate(folder)`` unless it already holds a complete set.

    Generation goes to a private temp folder that is renamed into place with its
    completion marker inside, so killed or concurrent runs never expose a partial set.
    """
    if (final / COMPLETE_MARKER).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex}"
    try:
        generate(temp)
        (temp / COMPLETE_MARKER).write_text("ok\n")
        if final.exists() and not (final / COMPLETE_MARKER).exists():
            shutil.rmtree(final, ignore_errors=True)  # leftover without marker: not trusted
        try:
            os.replace(temp, final)
        except OSError:
            if not (final / COMPLETE_MARKER).exists():  # not a concurrent winner: real error
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return final


def embedded_dataset(seed: int = 0) -> Path:
    """The default data set, generated once under ``cache_root()`` and reused afterwards
    (see :func:`build_once`)."""
    return build_once(cache_root() / EMBEDDED_NAME.format(seed=seed),
                      lambda temp: generate_dataset(temp, seed=seed))
