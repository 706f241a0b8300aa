"""Cartoon faces of the synthetic data set: expression parameters, each class's apex, a
person's identity, and drawing one face (trainables.synthetic adds the camera, lighting and
the videos)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Expression:
    """Facial action parameters; neutral is all zeros except ``eye_open`` = 1."""

    brow_tilt: float = 0.0    # >0 raises the inner brow ends (sad/fear), <0 lowers them (anger)
    brow_raise: float = 0.0   # whole-brow height, in face-height units
    eye_open: float = 1.0     # eye height scale
    smile: float = 0.0        # mouth-corner curvature: >0 up, <0 down
    mouth_open: float = 0.0   # lip separation
    mouth_width: float = 1.0  # mouth width scale
    wrinkles: float = 0.0     # nose/brow wrinkle strength (disgust, anger)
    teeth: float = 0.0        # share of an open mouth showing white teeth (happy, fear)
    flush: float = 0.0        # reddening of the face (anger)
    tears: float = 0.0        # tear streaks under the eyes (sad)
    cheeks: float = 0.0       # raised, rosy cheeks (happy)

    def towards(self, apex: Expression, amount: float) -> Expression:
        """Linear blend from ``self`` (amount 0) to ``apex`` (amount 1)."""
        mine, theirs = vars(self), vars(apex)
        return Expression(**{k: mine[k] + amount * (theirs[k] - mine[k]) for k in mine})


NEUTRAL = Expression()
APEX: dict[str, Expression] = {
    "Neutral": NEUTRAL,
    "Anger": Expression(brow_tilt=-0.8, brow_raise=-0.04, eye_open=0.65, smile=-0.25,
                        mouth_width=0.75, wrinkles=0.6, flush=0.7),
    "Disgust": Expression(brow_tilt=-0.35, brow_raise=-0.02, eye_open=0.45, smile=-0.6,
                          mouth_open=0.25, mouth_width=0.9, wrinkles=1.0),
    "Fear": Expression(brow_tilt=0.6, brow_raise=0.06, eye_open=1.55, smile=-0.2,
                       mouth_open=0.6, mouth_width=1.25, teeth=1.0),
    "Happy": Expression(brow_raise=0.02, eye_open=0.75, smile=0.9, mouth_open=0.35,
                        mouth_width=1.35, teeth=1.0, cheeks=1.0),
    "Sad": Expression(brow_tilt=0.75, eye_open=0.75, smile=-0.75, mouth_width=0.9, tears=1.0),
    "Surprise": Expression(brow_tilt=0.1, brow_raise=0.1, eye_open=1.7, mouth_open=1.2,
                           mouth_width=0.7),
}


@dataclass(frozen=True)
class Identity:
    """Per-video person: face geometry, colours and feature placement (unit face box)."""

    face_aspect: float
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    eye_gap: float
    eye_y: float
    mouth_y: float
    brow_gap: float


def random_identity(rng: np.random.Generator, background: tuple[int, int, int]) -> Identity:
    """A random person in front of a backdrop of mean colour ``background``."""
    skin = rng.uniform(0.9, 1.05)
    return Identity(
        face_aspect=float(rng.uniform(0.78, 0.86)),
        skin=tuple(int(v) for v in np.array([175, 140, 120]) * skin + rng.integers(-5, 5, 3)),
        hair=tuple(int(v) for v in rng.integers(10, 40, 3)),
        background=tuple(int(v) for v in np.array(background) + rng.integers(-6, 6, 3)),
        eye_gap=float(rng.uniform(0.19, 0.22)),
        eye_y=float(rng.uniform(0.40, 0.43)),
        mouth_y=float(rng.uniform(0.72, 0.75)),
        brow_gap=float(rng.uniform(0.085, 0.10)),
    )


# ----------------------------------------------------------------------------- drawing

class _Canvas:
    """Maps unit face coordinates (0..1 inside the face box) to pixels."""

    def __init__(self, draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float]):
        self.draw, (self.x0, self.y0, self.w, self.h) = draw, box

    def xy(self, u: float, v: float) -> tuple[float, float]:
        return self.x0 + u * self.w, self.y0 + v * self.h

    def line(self, points: Sequence[tuple[float, float]], fill, width: float) -> None:
        self.draw.line([self.xy(u, v) for u, v in points], fill=fill,
                       width=max(1, round(width * self.h)))

    def ellipse(self, cu: float, cv: float, ru: float, rv: float, fill) -> None:
        (x0, y0), (x1, y1) = self.xy(cu - ru, cv - rv), self.xy(cu + ru, cv + rv)
        self.draw.ellipse([x0, y0, x1, max(y1, y0 + 1)], fill=fill)


def _draw_brows(c: _Canvas, who: Identity, e: Expression) -> None:
    y = who.eye_y - who.brow_gap - e.brow_raise
    for side in (-1, 1):
        inner, outer = 0.5 + side * 0.06, 0.5 + side * (who.eye_gap + 0.12)
        # Inner ends move by brow_tilt: up for sad/fear, down (a frown "V") for anger.
        c.line([(inner, y - 0.15 * e.brow_tilt), (outer, y + 0.03 * e.brow_tilt)],
               fill=who.hair, width=0.09)


def _draw_eyes(c: _Canvas, who: Identity, e: Expression) -> None:
    for side in (-1, 1):
        cu = 0.5 + side * who.eye_gap
        c.ellipse(cu, who.eye_y, 0.12, 0.065 * e.eye_open, fill=(250, 250, 245))
        c.ellipse(cu, who.eye_y, 0.04, min(0.04, 0.04 * e.eye_open), fill=(15, 10, 10))


def _draw_mouth(c: _Canvas, who: Identity, e: Expression) -> None:
    half = 0.27 * e.mouth_width
    u = np.linspace(-1.0, 1.0, 9)
    # Corners sit higher than the centre for a smile, lower for a frown.
    upper_v = who.mouth_y - 0.18 * e.smile * (u**2 - 0.5) - 0.07 * e.mouth_open
    lower_v = upper_v + 0.22 * e.mouth_open * (1 - u**2)
    lip = (120, 30, 40)
    if e.mouth_open > 0.05:
        outline = [c.xy(0.5 + half * a, b) for a, b in zip(u, upper_v, strict=True)]
        outline += [c.xy(0.5 + half * a, b) for a, b in zip(u[::-1], lower_v[::-1], strict=True)]
        c.draw.polygon(outline, fill=(40, 5, 10), outline=lip)
        if e.teeth > 0.05:  # upper teeth: a white band under the upper lip
            teeth_v = upper_v + e.teeth * 0.5 * (lower_v - upper_v)
            band = [c.xy(0.5 + half * a, b) for a, b in zip(u, upper_v, strict=True)]
            band += [c.xy(0.5 + half * a, b)
                     for a, b in zip(u[::-1], teeth_v[::-1], strict=True)]
            c.draw.polygon(band, fill=(245, 245, 235))
    c.line(list(zip(0.5 + half * u, upper_v, strict=True)), fill=lip, width=0.06)


def _draw_wrinkles(c: _Canvas, who: Identity, e: Expression) -> None:
    if e.wrinkles < 0.15:
        return
    shade = tuple(int(v * (1 - 0.7 * e.wrinkles)) for v in who.skin)
    for dv in (0.0, 0.04):   # nose-bridge creases
        c.line([(0.43, 0.54 + dv), (0.57, 0.54 + dv)], fill=shade, width=0.025)
    for side in (-1, 1):     # vertical lines between the brows
        c.line([(0.5 + side * 0.03, who.eye_y - who.brow_gap),
                (0.5 + side * 0.03, who.eye_y - 0.02)], fill=shade, width=0.02)


def _draw_tears(c: _Canvas, who: Identity, e: Expression) -> None:
    if e.tears < 0.15:
        return
    for side in (-1, 1):
        cu = 0.5 + side * who.eye_gap
        c.line([(cu, who.eye_y + 0.06), (cu + side * 0.01, who.eye_y + 0.06 + 0.25 * e.tears)],
               fill=(140, 200, 255), width=0.05)


def _draw_cheeks(c: _Canvas, who: Identity, e: Expression) -> None:
    if e.cheeks < 0.15:
        return
    rose = tuple(int(v + e.cheeks * (t - v))
                 for v, t in zip(who.skin, (235, 110, 120), strict=True))
    for side in (-1, 1):
        c.ellipse(0.5 + side * (who.eye_gap + 0.06), who.eye_y + 0.17, 0.09, 0.07, fill=rose)


def render_face(size: int, who: Identity, e: Expression, face_scale: float,
                offset: tuple[float, float], jitter: np.ndarray) -> Image.Image:
    """Draw one face (``face_scale`` x the image height, its centre shifted by ``offset`` and
    ``jitter``) at 2x resolution and downsample, for smooth edges."""
    big = 2 * size
    image = Image.new("RGB", (big, big), who.background)
    h = face_scale * big * (1 + 0.01 * jitter[2])
    w = h * who.face_aspect
    x0 = (big - w) / 2 + (offset[0] + jitter[0] * 0.01) * big
    y0 = (big - h) / 2 + (offset[1] + jitter[1] * 0.01) * big
    draw = ImageDraw.Draw(image)
    canvas = _Canvas(draw, (x0, y0, w, h))
    canvas.ellipse(0.5, 0.12, 0.52, 0.2, fill=who.hair)
    skin = tuple(int(v + e.flush * (t - v)) for v, t in zip(who.skin, (205, 85, 70), strict=True))
    canvas.ellipse(0.5, 0.5, 0.5, 0.5, fill=skin)
    for part in (_draw_brows, _draw_eyes, _draw_mouth, _draw_wrinkles, _draw_tears,
                 _draw_cheeks):
        part(canvas, who, e)
    canvas.line([(0.5, 0.5), (0.48, 0.6), (0.52, 0.6)],
                fill=tuple(int(v * 0.8) for v in who.skin), width=0.012)
    return image.resize((size, size), Image.Resampling.BILINEAR)
