"""A synthetic face set in CelebA's and RaFD's on-disk layouts, for training where no data set can be
downloaded.

Every face is drawn from its own seed (`seed`, data set, index), so a tree is the same on every
machine. The labels are carried by shapes, never by a colour flag alone, so a model has to learn:
gender by jaw, brows, lips, lashes and beards; age by wrinkles, eye bags, face fullness and
hairline; the 8 RaFD expressions by mouth, brows and eyes. Faces vary in shape, size, position,
tilt, skin tone, hair style, background and lighting, with blur and sensor noise on top.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from starbatch.models.stargan_v1.labels import CELEBA_ATTRIBUTES, RAFD_EXPRESSIONS

SIZE = 128
# Where celeba_face draws the five landmarks (render_face_with_landmarks), on average, as a share of
# the frame: face centre (0.5, 0.52), 0.23 of the frame per face unit; eyes at (+-0.38, -0.1) units,
# nose tip (0, 0.24), mouth corners (+-0.2789, 0.556) (45% male half-widths 0.27 / 0.24; 40%
# smiling: 1.25 times wider, raised 0.11). The mean of 2000 level faces' landmarks agrees within 0.0006.
MEAN_LANDMARKS = np.array([
    (0.5 - 0.23 * 0.38, 0.52 - 0.23 * 0.1), (0.5 + 0.23 * 0.38, 0.52 - 0.23 * 0.1),
    (0.5, 0.52 + 0.23 * 0.24),
    (0.5 - 0.23 * 0.27885, 0.52 + 0.23 * 0.556), (0.5 + 0.23 * 0.27885, 0.52 + 0.23 * 0.556),
])  # fmt: skip
HAIR_RGB = {  # hair colour name -> RGB; black, blond, brown and gray carry a CelebA hair label
    "black": (0.09, 0.075, 0.065),
    "brown": (0.36, 0.22, 0.12),
    "blond": (0.86, 0.72, 0.44),
    "gray": (0.68, 0.67, 0.66),
    "red": (0.58, 0.22, 0.10),
}
SKIN_TONES = np.array([
    (0.97, 0.84, 0.74), (0.91, 0.73, 0.60), (0.80, 0.59, 0.44),
    (0.64, 0.45, 0.31), (0.45, 0.29, 0.19), (0.30, 0.19, 0.13),
])  # fmt: skip
MALE_STYLES = ("short", "short", "short", "curly", "bob", "long", "bald")
FEMALE_STYLES = ("long", "long", "bob", "bangs", "bun", "curly", "short")


@dataclass
class Person:
    """Who is drawn: identity and the labelled attributes. Expression may change per image."""

    male: bool
    young: bool
    hair_colour: str
    hair_style: str
    skin: np.ndarray
    rng_seed: int


@dataclass
class Pose:
    """Where and how the face sits in the frame, and the scene around it."""

    centre: tuple[float, float]
    scale: float  # pixels per face unit (face half-width is 1 unit)
    tilt: float  # radians
    plain_background: bool


def sample_person(rng: np.random.Generator) -> Person:
    male = bool(rng.random() < 0.45)
    young = bool(rng.random() < 0.62)
    colours = ["black", "brown", "blond", "gray" if not young else "red"]
    hair_colour = str(rng.choice(colours, p=[0.3, 0.27, 0.25, 0.18]))
    styles = MALE_STYLES if male else FEMALE_STYLES
    hair_style = str(rng.choice(styles))
    if hair_style == "bald" and young:
        hair_style = "short"
    tone = rng.random() * (len(SKIN_TONES) - 1)
    low = int(tone)
    skin = SKIN_TONES[low] + (SKIN_TONES[min(low + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[low]) * (
        tone - low
    )
    skin = np.clip(skin * (1 + rng.normal(0, 0.03, 3)), 0, 1)
    return Person(male, young, hair_colour, hair_style, skin, int(rng.integers(2**31)))


def hair_labels(person: Person) -> dict[str, bool]:
    bald = person.hair_style == "bald"
    return {
        "Black_Hair": person.hair_colour == "black" and not bald,
        "Blond_Hair": person.hair_colour == "blond" and not bald,
        "Brown_Hair": person.hair_colour == "brown" and not bald,
        "Gray_Hair": person.hair_colour == "gray" and not bald,
    }


# --- shapes: implicit functions in face units, negative inside; coverage anti-aliases them ---


def _coverage(inside: np.ndarray, scale: float) -> np.ndarray:
    """Distance-like implicit function (face units, < 0 inside) -> alpha with a 1-pixel soft edge."""
    return np.clip(0.5 - inside * scale, 0.0, 1.0)


def _ellipse(u, v, cu, cv, ru, rv):
    return (np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2) - 1.0) * min(ru, rv)


def _polyline(u, v, points, half_width):
    """Distance to a polyline, minus half its width: a stroke."""
    best = np.full(u.shape, np.inf, dtype=np.float32)
    for (u0, v0), (u1, v1) in zip(points[:-1], points[1:], strict=True):
        du, dv = u1 - u0, v1 - v0
        t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv + 1e-9), 0, 1)
        best = np.minimum(best, np.hypot(u - u0 - t * du, v - v0 - t * dv))
    return best - half_width


def _curve(p0, p1, p2, n=7):
    """A quadratic Bezier through control points, as n points."""
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return [tuple(p) for p in pts]


EVERYWHERE = (slice(None), slice(None))


class Canvas:
    def __init__(self, rgb: np.ndarray, u: np.ndarray, v: np.ndarray, scale: float):
        self.rgb, self.u, self.v, self.scale = rgb, u, v, scale

    def paint(self, inside: np.ndarray, colour, alpha: float | np.ndarray = 1.0,
              window: tuple[slice, slice] = EVERYWHERE) -> np.ndarray:
        """Blends `colour` (one, or one per pixel) in where `inside` < 0, anti-aliased; `inside` and
        `alpha` cover `window`. Returns the coverage. Only the rows and columns it reaches are
        blended (an eye or a nostril is a few percent of the frame; elsewhere the blend adds 0)."""
        a = _coverage(inside, self.scale) * alpha
        rows, columns = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
        if not len(rows):
            return a
        inner = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
        colour = np.asarray(colour, dtype=np.float32)
        if colour.ndim == 3:
            colour = colour[window][inner]
        rgb = self.rgb[window][inner]  # a view: painted in place
        rgb += (colour - rgb) * a[inner][..., None]
        return a

    def stroke(self, points, half_width: float, colour, alpha: float = 1.0) -> None:
        """paint(_polyline(u, v, points, half_width), colour, alpha), reckoned only in the rows and
        columns that reach the points' box widened by the half width and a pixel: nothing outside
        it is covered, so the frame is the same to the bit, and a brow or a wrinkle costs its own
        pixels instead of the whole frame's (strokes were 40% of a face's rendering)."""
        reach = half_width + 1.0 / self.scale  # coverage is 0 from half a pixel past the edge
        (u_low, v_low), (u_high, v_high) = np.min(points, axis=0) - reach, np.max(points, axis=0) + reach
        near = (self.u >= u_low) & (self.u <= u_high) & (self.v >= v_low) & (self.v <= v_high)
        rows, columns = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
        if not len(rows):
            return
        window = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
        self.paint(_polyline(self.u[window], self.v[window], points, half_width), colour, alpha, window)


# --- the face -------------------------------------------------------------------------------

EXPRESSION_SHAPES = {
    # name: (eye openness, brow inner dy, brow outer dy, brow lift, mouth width, mouth curve,
    #        mouth open, lip raise, asymmetry); v grows downwards, so dy > 0 lowers a brow.
    "angry": (0.65, 0.10, -0.03, 0.03, 0.85, -0.03, 0.0, 0.0, 0.0),
    "contemptuous": (0.85, 0.0, 0.0, 0.0, 0.95, 0.0, 0.0, 0.0, 0.09),
    "disgusted": (0.55, 0.07, 0.0, 0.04, 0.9, -0.07, 0.035, 0.04, 0.0),
    "fearful": (1.45, -0.09, 0.02, -0.06, 1.15, -0.04, 0.06, 0.0, 0.0),
    "happy": (0.6, 0.0, 0.0, -0.02, 1.25, 0.11, 0.055, 0.0, 0.0),
    "neutral": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    "sad": (0.8, -0.10, 0.04, 0.0, 0.95, -0.09, 0.0, 0.0, 0.0),
    "surprised": (1.55, -0.05, -0.05, -0.11, 0.55, 0.0, 0.13, 0.0, 0.0),
}


def render_face(person: Person, pose: Pose, expression: str, rng: np.random.Generator) -> np.ndarray:
    """One face as uint8 (SIZE, SIZE, 3)."""
    return render_face_with_landmarks(person, pose, expression, rng)[0]


def render_face_with_landmarks(person: Person, pose: Pose, expression: str,
                               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One face as uint8 (SIZE, SIZE, 3), and where its five landmarks were drawn: (5, 2) x, y in
    pixels (pixel j spans [j, j+1)), in a face detector's order: the eye on the picture's left, the
    one on its right, the nose tip (the end of the nose's ridge, above the nostrils), the mouth
    corner on the left, the one on the right."""
    shape = np.random.default_rng(person.rng_seed)  # identity: the same face in every expression
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    rgb = _background(rng, x, y, pose.plain_background)
    cos, sin = np.cos(pose.tilt), np.sin(pose.tilt)
    dx, dy = x - pose.centre[0], y - pose.centre[1]
    u = (dx * cos + dy * sin) / pose.scale
    v = (-dx * sin + dy * cos) / pose.scale
    canvas = Canvas(rgb, u, v, pose.scale)

    male, young = person.male, person.young
    skin = person.skin
    hair = np.array(HAIR_RGB[person.hair_colour], dtype=np.float32) * (1 + shape.normal(0, 0.06))
    top = -1.3 * (1 + shape.normal(0, 0.04))
    chin = 1.18 * (1 + shape.normal(0, 0.05)) + (0.06 if male else 0.0)
    jaw_power = (3.4 if male else 2.0) + shape.normal(0, 0.25) - (0.0 if young else -0.4)
    taper = (0.12 if male else 0.32) + shape.normal(0, 0.05) - (0.05 if young else 0.1)
    width = (1.06 if male else 0.97) * (1 + shape.normal(0, 0.04)) * (1.0 if young else 1.03)

    def face_inside(margin: float = 0.0) -> np.ndarray:
        vv = v
        r_low = np.clip(vv / (chin + margin), 0, None)
        low = (np.clip(1 - r_low**jaw_power, 0, None) ** (1 / jaw_power)) * (1 - taper * r_low**2)
        low = np.where(r_low < 1, low, -(vv - chin - margin))
        r_up = np.clip(vv / (top - margin), 0, None)
        up = np.where(r_up < 1, np.sqrt(np.clip(1 - r_up**2, 0, None)), -(top - margin - vv))
        half = np.where(vv >= 0, low, up) * (width + margin)
        return np.abs(u) - half

    # clothes and neck
    canvas.paint(_ellipse(u, v, 0, 2.75, 2.5 if male else 2.1, 1.2), shape.random(3) * 0.8 + 0.1)
    neck = np.maximum(np.abs(u) - (0.5 if male else 0.4), np.maximum(0.4 - v, v - 2.2))
    canvas.paint(neck, skin * 0.8)

    _hair_back(canvas, person.hair_style, hair, shape, chin)
    for side in (-1, 1):  # ears
        canvas.paint(_ellipse(u, v, side * width * 0.98, 0.0, 0.13, 0.22), skin * 0.9)
    face = canvas.paint(face_inside(), skin)
    # soft light: one side brighter, the face's rim darker
    light = shape.normal(0, 0.35, 2)
    shade = 1 + 0.12 * (light[0] * u + light[1] * v) - 0.12 * np.clip(u**2 + 0.5 * v**2 - 0.4, 0, 1)
    canvas.rgb *= (1 + (shade - 1) * face)[..., None]

    eyes_open, inner_dy, outer_dy, lift, mouth_w, curve, opening, lip_raise, asym = (
        EXPRESSION_SHAPES[expression]
    )
    eye_y = -0.1 + shape.normal(0, 0.03)
    eye_dx = 0.38 + shape.normal(0, 0.02)
    eye_w = (0.16 if male else 0.17) * (1.08 if young else 0.95)
    eye_h = (0.075 if male else 0.09) * eyes_open * (1.1 if young else 0.9)
    iris_colour = shape.choice([(0.25, 0.15, 0.08), (0.2, 0.35, 0.55), (0.25, 0.4, 0.2), (0.1, 0.07, 0.05)])
    brow_colour = np.clip(hair * 0.7 if person.hair_colour != "blond" else hair * 0.6, 0, 1)
    for side in (-1, 1):
        cu = side * eye_dx
        if not young:  # eye bags
            canvas.stroke(_curve((cu - 0.12, eye_y + 0.09), (cu, eye_y + 0.16), (cu + 0.12, eye_y + 0.09)),
                          0.008, skin * 0.7, 0.6)
        white = _ellipse(u, v, cu, eye_y, eye_w, max(eye_h, 0.012))
        a_white = canvas.paint(white, (0.93, 0.92, 0.9))
        iris = canvas.paint(_ellipse(u, v, cu, eye_y, 0.07, 0.07), iris_colour, a_white)
        canvas.paint(_ellipse(u, v, cu, eye_y, 0.032, 0.032), (0.02, 0.02, 0.02), iris > 0)
        lid = np.maximum(np.abs(white + 0.004) - (0.018 if male else 0.028), v - eye_y)
        canvas.paint(lid, (0.1, 0.07, 0.06))
        if not male:  # lashes at the outer corner
            canvas.stroke([(cu + side * eye_w * 0.9, eye_y - eye_h * 0.4),
                           (cu + side * (eye_w + 0.06), eye_y - eye_h - 0.03)], 0.012, (0.08, 0.06, 0.05))
        # brows: inner end, arch, outer end; expressions move the ends
        brow_y = eye_y - 0.24 - (0.02 if not male else 0) + lift
        asym_lift = -0.06 if (asym and side > 0) else 0.0
        inner = (side * 0.13, brow_y + inner_dy + asym_lift)
        arch = (side * 0.36, brow_y - (0.05 if not male else 0.03) + asym_lift)
        outer = (side * 0.6, brow_y + 0.03 + outer_dy + asym_lift)
        canvas.stroke(_curve(inner, arch, outer), 0.045 if male else 0.024, brow_colour)
        if not young:  # crow's feet
            for k in (-1, 0, 1):
                canvas.stroke([(cu + side * (eye_w + 0.04), eye_y + k * 0.03),
                               (cu + side * (eye_w + 0.13), eye_y + k * 0.06)], 0.006, skin * 0.72, 0.8)
    # nose
    nose_y = 0.3 + shape.normal(0, 0.02) - (0.02 if lip_raise else 0)
    nose_w = (0.1 if male else 0.08) * (1.3 if lip_raise else 1.0)
    canvas.stroke([(0.04, -0.05), (0.07, nose_y - 0.06)], 0.012, skin * 0.8, 0.7)
    for side in (-1, 1):
        canvas.paint(_ellipse(u, v, side * nose_w * 0.6, nose_y, 0.035, 0.02), skin * 0.45)
    if lip_raise:  # disgust wrinkles the nose
        for k in (0, 1):
            canvas.stroke([(-0.08, 0.02 + 0.05 * k), (0.08, 0.02 + 0.05 * k)], 0.007, skin * 0.65)
    if not young:  # forehead lines and nasolabial folds
        for k in range(3):
            fy = -0.72 + 0.1 * k
            canvas.stroke(_curve((-0.4, fy), (0, fy - 0.04), (0.4, fy)), 0.007, skin * 0.72, 0.8)
        for side in (-1, 1):
            canvas.stroke(_curve((side * 0.14, nose_y), (side * 0.3, nose_y + 0.1), (side * 0.3, 0.68)),
                          0.009, skin * 0.7, 0.8)
    mouth_corners = _mouth(canvas, shape, male, young, mouth_w, curve, opening, lip_raise, asym, skin)
    if male:
        _facial_hair(canvas, shape, hair, face_inside, chin)
    else:
        canvas.paint(_ellipse(u, v, -0.5, 0.3, 0.16, 0.1), (0.9, 0.45, 0.45), 0.18 if young else 0.08)
        canvas.paint(_ellipse(u, v, 0.5, 0.3, 0.16, 0.1), (0.9, 0.45, 0.45), 0.18 if young else 0.08)
    _hair_front(canvas, person.hair_style, hair, shape, face_inside, top, young)
    points = np.array([(-eye_dx, eye_y), (eye_dx, eye_y), (0.0, nose_y - 0.06), *mouth_corners])
    x = pose.centre[0] + pose.scale * (points[:, 0] * cos - points[:, 1] * sin)
    y = pose.centre[1] + pose.scale * (points[:, 0] * sin + points[:, 1] * cos)
    return _finish(canvas.rgb, rng), np.stack([x, y], axis=1)


def _mouth(canvas, shape, male, young, mouth_w, curve, opening, lip_raise, asym, skin):
    u, v = canvas.u, canvas.v
    centre = 0.6 + shape.normal(0, 0.02)
    half_w = (0.27 if male else 0.24) * mouth_w
    r = np.clip(u / half_w, -1.5, 1.5)
    line = centre - curve * r**2 - asym * np.clip(r, 0, None) ** 2 - lip_raise
    profile = np.sqrt(np.clip(1 - r**2, 0, None))
    thickness = (0.03 if male else 0.05) * (1.0 if young else 0.7) * (0.5 if curve < -0.02 and not opening else 1.0)
    lip_colour = skin * np.array([0.85, 0.55, 0.55]) if male else np.array([0.72, 0.25, 0.3])
    if opening == 0 and thickness < 0.03:  # pressed lips
        thickness *= 0.6
    outer = np.maximum(np.abs(u) - half_w, np.abs(v - line - 0.2 * thickness * profile)
                       - (opening + thickness) * profile)
    canvas.paint(outer, lip_colour)
    if opening:
        inner = np.maximum(np.abs(u) - half_w * 0.92, np.abs(v - line) - opening * profile)
        mouth = canvas.paint(inner, (0.25, 0.05, 0.06))
        teeth = np.maximum(inner, v - (line - opening * profile * 0.25))
        canvas.paint(teeth, (0.95, 0.94, 0.9), mouth)
    else:
        canvas.paint(np.maximum(np.abs(u) - half_w, np.abs(v - line) - 0.008), lip_colour * 0.45)
    return [(side * half_w, centre - curve - asym * (side > 0) - lip_raise) for side in (-1, 1)]  # line at |r| = 1


def _facial_hair(canvas, shape, hair, face_inside, chin):
    u, v = canvas.u, canvas.v
    kind = shape.choice(["none", "none", "stubble", "beard", "moustache"])
    if kind == "none":
        return
    colour = hair * 0.8
    on_face = face_inside()
    if kind in ("beard", "stubble"):
        region = np.maximum(on_face, 0.3 - v)
        density = 0.85 if kind == "beard" else 0.3
        grain = np.clip(shape.normal(0.5, 0.35, u.shape), 0, 1) * density
        canvas.paint(region, colour, grain + (0.0 if kind == "stubble" else 0.35))
    if kind in ("beard", "moustache"):
        canvas.stroke(_curve((-0.25, 0.55), (0, 0.46), (0.25, 0.55)), 0.035, colour)


def _hair_texture(canvas, hair):
    u, v = canvas.u, canvas.v
    streaks = 1 + 0.1 * np.sin(u * 38 + 4 * np.sin(v * 5)) + 0.12 * np.clip(-v - 0.9, 0, 0.5)
    return np.clip(hair[None, None, :] * streaks[..., None], 0, 1)


def _hair_back(canvas, style, hair, shape, chin):
    u, v = canvas.u, canvas.v
    texture = _hair_texture(canvas, hair)
    if style == "long":
        length = 2.1 + shape.random() * 0.6
        back = np.maximum(np.abs(u) - 1.25 - 0.1 * np.clip(v, 0, None), np.maximum(-0.3 - v, v - length))
        back = np.maximum(back, _ellipse(u, v, 0, length - 1.2, 1.6, 1.35))  # rounded ends
        canvas.paint(np.minimum(back, _ellipse(u, v, 0, -0.35, 1.27, 1.18)), texture)
    elif style == "bob":
        back = np.maximum(np.abs(u) - 1.22, np.maximum(-0.3 - v, v - chin * 0.8))
        back = np.maximum(back, _ellipse(u, v, 0, -0.1, 1.5, chin * 0.95))
        canvas.paint(np.minimum(back, _ellipse(u, v, 0, -0.35, 1.24, 1.16)), texture)
    elif style == "curly":
        angle = np.arctan2(v + 0.4, u)
        canvas.paint(_ellipse(u, v, 0, -0.4, 1.45, 1.3) + 0.05 * np.sin(14 * angle), texture)
    elif style == "bun":
        canvas.paint(_ellipse(u, v, 0, -1.5, 0.45, 0.38), texture)


def _hair_front(canvas, style, hair, shape, face_inside, top, young):
    u, v = canvas.u, canvas.v
    texture = _hair_texture(canvas, hair)
    head = face_inside(0.1)
    hairline = -0.6 + shape.normal(0, 0.04) - (0.0 if young else 0.08)
    if style == "bald":
        sides = np.maximum(head, np.maximum(0.78 - np.abs(u), np.maximum(-0.6 - v, v + 0.05)))
        canvas.paint(sides, texture, 0.9)
        return
    if style == "bangs":
        edge = -0.42 + 0.03 * np.sin(u * 22)
    elif style in ("long", "bob"):
        parting = shape.uniform(-0.3, 0.3)
        edge = hairline - 0.15 + 0.35 * np.abs(u - parting) ** 1.5 + 0.2 * u**2
    else:
        edge = hairline + 0.35 * u**2
    canvas.paint(np.maximum(head, v - edge), texture)
    if style == "long":  # strands falling past the cheeks
        for side in (-1, 1):
            strand = np.maximum(np.abs(u - side * 1.02) - 0.15, np.maximum(-0.6 - v, v - 0.9))
            canvas.paint(strand, texture)


def _background(rng, x, y, plain):
    if plain:  # RaFD-like studio backdrop
        base = np.full(3, 0.92) + rng.normal(0, 0.02, 3)
        rgb = np.broadcast_to(base, (SIZE, SIZE, 3)).astype(np.float32).copy()
        return rgb * (1 - 0.06 * (y / SIZE))[..., None]
    a, b = rng.random(3), rng.random(3)
    direction = rng.normal(size=2)
    t = (x * direction[0] + y * direction[1]) / SIZE
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    rgb = (a + (b - a) * t[..., None]).astype(np.float32)
    for _ in range(rng.integers(0, 4)):  # out-of-focus shapes behind the person
        cx, cy, r = rng.random() * SIZE, rng.random() * SIZE, 8 + rng.random() * 30
        blob = np.clip(1 - np.hypot(x - cx, y - cy) / r, 0, 1) ** 0.5 * 0.5
        rgb += (rng.random(3) - rgb) * blob[..., None]
    return rgb


def background_picture(rng: np.random.Generator, plain: bool) -> np.ndarray:
    """A face-free picture: what is drawn behind a person, without the person, blurred and noisy
    as the faces are (detector tuning counts false positives on these)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    return _finish(_background(rng, x, y, plain), rng)


def _finish(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.2, 1.1))))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(1.0, 6.0), (SIZE, SIZE, 3))
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


# --- the two trees ---------------------------------------------------------------------------

CELEBA, RAFD = 0, 1


def celeba_face(seed: int, index: int, level: bool = False) -> tuple[np.ndarray, dict[str, bool]]:
    """A CelebA-like face (varied scene, framing and tilt) and its 40 attributes; `level`: the same
    face and scene with no tilt (for measuring how crops of turned faces come out)."""
    image, attributes, _ = celeba_face_with_landmarks(seed, index, level)
    return image, attributes


def celeba_face_with_landmarks(seed: int, index: int,
                               level: bool = False) -> tuple[np.ndarray, dict[str, bool], np.ndarray]:
    """celeba_face's face and attributes, and its five landmarks (render_face_with_landmarks)."""
    rng = np.random.default_rng([seed, CELEBA, index])
    person = sample_person(rng)
    smiling = bool(rng.random() < 0.4)
    pose = Pose(
        centre=(SIZE / 2 + rng.normal(0, 4), SIZE * 0.52 + rng.normal(0, 4)),
        scale=SIZE * 0.23 * rng.uniform(0.85, 1.15),
        tilt=float(np.deg2rad(rng.normal(0, 7))),
        plain_background=bool(rng.random() < 0.1),
    )
    if level:
        pose.tilt = 0.0
    image, landmarks = render_face_with_landmarks(person, pose, "happy" if smiling else "neutral", rng)
    attributes = dict.fromkeys(CELEBA_ATTRIBUTES, False)
    attributes.update(hair_labels(person))
    attributes.update({
        "Male": person.male, "Young": person.young, "Smiling": smiling,
        "Mouth_Slightly_Open": smiling, "Bald": person.hair_style == "bald",
        "Bangs": person.hair_style == "bangs", "No_Beard": True,
    })  # fmt: skip
    return image, attributes, landmarks


def rafd_face(seed: int, identity: int, expression: str) -> np.ndarray:
    """A RaFD-like face: frontal, centred, on a plain backdrop; one identity in every expression."""
    return rafd_face_with_landmarks(seed, identity, expression)[0]


def rafd_face_with_landmarks(seed: int, identity: int, expression: str) -> tuple[np.ndarray, np.ndarray]:
    """rafd_face's face, and its five landmarks (render_face_with_landmarks)."""
    person = sample_person(np.random.default_rng([seed, RAFD, identity]))
    rng = np.random.default_rng([seed, RAFD, identity, RAFD_EXPRESSIONS.index(expression)])
    pose = Pose(
        centre=(SIZE / 2 + rng.normal(0, 1.5), SIZE * 0.5 + rng.normal(0, 1.5)),
        scale=SIZE * 0.235 * rng.uniform(0.95, 1.05),
        tilt=float(np.deg2rad(rng.normal(0, 2))),
        plain_background=True,
    )
    return render_face_with_landmarks(person, pose, expression, rng)


def attribute_file(rows: list[tuple[str, dict[str, bool]]]) -> str:
    """list_attr_celeba.txt as distributed: count, attribute names, then `file  1 -1 ...` rows."""
    lines = [str(len(rows)), " ".join(CELEBA_ATTRIBUTES)]
    for name, attributes in rows:
        values = " ".join(" 1" if attributes[a] else "-1" for a in CELEBA_ATTRIBUTES)
        lines.append(f"{name} {values}")
    return "\n".join(lines) + "\n"


def make_faces(out: Path, n: int, seed: int = 0, rafd_identities: int | None = None,
               progress=None) -> dict[str, int]:
    """Write `out/celeba` (n faces) and `out/rafd/{train,test}/<expression>/` (8 per identity).

    RaFD gets n // 8 identities unless given; about a tenth of them (at least one) form the test
    split, so test faces are of people never seen in training, as in a by-subject RaFD split.
    """
    out = Path(out)
    images = out / "celeba" / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(n):
        image, attributes = celeba_face(seed, index)
        name = f"{index + 1:06d}.jpg"
        Image.fromarray(image).save(images / name, quality=95)
        rows.append((name, attributes))
        if progress:
            progress()
    (out / "celeba" / "list_attr_celeba.txt").write_text(attribute_file(rows))
    # how train knows these faces (train/data.py data_framing): framed by the renderer
    mark = json.dumps({"rendered_by": "starbatch make-faces", "framing": "synthetic", "size": SIZE}) + "\n"
    (out / "celeba" / "rendered.json").write_text(mark)
    identities = rafd_identities if rafd_identities is not None else max(2, n // 8)
    test_count = max(1, identities // 10)
    for identity in range(identities):
        split = "test" if identity >= identities - test_count else "train"
        for expression in RAFD_EXPRESSIONS:
            folder = out / "rafd" / split / expression
            folder.mkdir(parents=True, exist_ok=True)
            image = rafd_face(seed, identity, expression)
            Image.fromarray(image).save(folder / f"{identity:04d}_{expression}.jpg", quality=95)
        if progress:
            progress()
    (out / "rafd" / "rendered.json").write_text(mark)
    return {"celeba": n, "rafd_identities": identities, "rafd_test_identities": test_count}


# --- pictures without a face, for measuring face detectors -----------------------------------

FACE_FREE_KINDS = ("rendered background", "gradient", "noise", "random shapes", "blank face")


def face_free_picture(index: int, seed: int = 1) -> np.ndarray:
    """A (SIZE, SIZE, 3) uint8 picture with no face: kind `index % 5` of FACE_FREE_KINDS, each from
    its own seed. The renderer's scenes without the person; linear gradients; smooth or grainy
    noise; random ellipses and rectangles; and a face's shape in skin colour with no features,
    which a detector that only looks for skin blobs would box."""
    rng = np.random.default_rng([seed, index])
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    kind = FACE_FREE_KINDS[index % len(FACE_FREE_KINDS)]
    if kind == "rendered background":
        return _finish(_background(rng, x, y, bool(rng.random() < 0.2)), rng)
    if kind == "gradient":
        a, b, direction = rng.random(3), rng.random(3), rng.normal(size=2)
        t = x * direction[0] + y * direction[1]
        t = (t - t.min()) / (np.ptp(t) + 1e-6)
        return ((a + (b - a) * t[..., None]) * 255).astype(np.uint8)
    if kind == "noise":
        noise = rng.normal(128, rng.uniform(5, 80), (SIZE, SIZE, 3))
        if rng.random() < 0.5:  # smooth: blobs a quarter of the picture across
            small = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).resize((SIZE // 4, SIZE // 4))
            noise = np.asarray(small.resize((SIZE, SIZE), Image.BICUBIC), dtype=np.float32)
        return np.clip(noise, 0, 255).astype(np.uint8)
    if kind == "random shapes":
        image = Image.new("RGB", (SIZE, SIZE), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 15))):
            left, top = (int(v) for v in rng.integers(-20, SIZE, 2))
            width, height = (int(v) for v in rng.integers(4, 70, 2))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((left, top, left + width, top + height), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        return np.asarray(image)
    # blank face: the head's outline in a skin tone, on a background, with no eyes, nose or mouth
    rgb = _background(rng, x, y, bool(rng.random() < 0.3))
    scale = SIZE * 0.23 * rng.uniform(0.85, 1.15)
    u, v = (x - SIZE / 2 - rng.normal(0, 4)) / scale, (y - SIZE * 0.52 - rng.normal(0, 4)) / scale
    canvas = Canvas(rgb, u, v, scale)
    canvas.paint(_ellipse(u, v, 0, 0, 1.0, 1.25), SKIN_TONES[rng.integers(len(SKIN_TONES))])
    return _finish(canvas.rgb, rng)


def place_face(picture: np.ndarray, face: np.ndarray, landmarks: np.ndarray, side: float, turn: float,
               centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """`face` (a square (S, S, 3) picture, e.g. a rendered frame) resized to `side` px, turned `turn`
    degrees (counter-clockwise on screen) about its centre and pasted with its centre at `centre`
    onto a copy of `picture`; and its landmarks (N, 2; pixel j spans [j, j+1)) moved with it.
    Returns the new picture and the landmarks' place in it."""
    import cv2

    small = np.asarray(Image.fromarray(face).resize((round(side), round(side)), Image.BICUBIC))
    scale = small.shape[0] / face.shape[0]
    angle = np.deg2rad(turn)
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])  # y points down
    half = small.shape[0] / 2
    shift = np.asarray(centre, dtype=np.float64) - rotation @ (half, half)
    # OpenCV puts pixel centres at integers: move the map by half a pixel on both sides
    opencv_shift = shift + rotation @ (0.5, 0.5) - 0.5
    out = picture.copy()
    cv2.warpAffine(small, np.hstack([rotation, opencv_shift[:, None]]), (picture.shape[1], picture.shape[0]),
                   dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return out, np.asarray(landmarks, dtype=np.float64) * scale @ rotation.T + shift
