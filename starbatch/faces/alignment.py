"""Each face framed the way the model's training faces were: the crop out of the photo, and the
edit back in.

A model states its framing (DESIGN.md "Model families"); a framing turns a face's five landmarks
(retinaface.py's order) into the 2x3 affine transform from photo pixels to the model's square
crop of side `size`. The crop is warped out of the photo with that transform, rotation included;
whatever part of it lies outside the photo is the photo reflected at its edge, so a face at the
border keeps its place in the crop (a crop shifted back inside the photo would show the model a
face off its framing). After the model, the change it made (after - before) is warped back and
added under a feathered mask; every photo pixel the mask does not reach keeps its value exactly.

Coordinates are continuous pixels (pixel column j spans [j, j+1)), in the photo and in the crop
alike: the crop's corners are (0, 0) and (size, size). Templates are in crop units (0..1).
"""

from dataclasses import dataclass

import numpy as np

# Official StarGAN v1 saw CelebA's aligned 178x218 images, centre-cropped to 178x178 (rows 20..198),
# resized. CelebA aligned its images to about these landmarks (DESIGN.md, "Facts measured").
_CELEBA_ALIGNED = np.array([(69, 111), (108, 111), (88, 136), (72, 152), (105, 152)], dtype=np.float64)
CELEBA_TEMPLATE = (_CELEBA_ALIGNED - (0, 20)) / 178

# Our renderer's training frames (starbatch.synthetic.faces.celeba_face): where this package's detector
# reads the landmarks of its level faces, as a share of the frame (mean of 378 readings of
# celeba_face(1, i, level=True), shown at 128 and at 256 px, which agree within 0.001). Where the
# renderer draws them (its MEAN_LANDMARKS) differs by up to 0.013: the detector sees the eyes
# higher and the mouth corners lower and wider than the renderer's shapes are centred, and a
# template in the renderer's own terms would frame every detected face that much off.
SYNTHETIC_TEMPLATE = np.array([(0.4117, 0.4850), (0.5942, 0.4856), (0.5033, 0.5680), (0.4283, 0.6570),
                               (0.5770, 0.6575)])

AVERAGE_BELOW = 0.75  # a warp that shrinks more than this averages pixels first: bilinear would alias


@dataclass(frozen=True)
class Framing:
    """How a model's training faces were cropped; `crop_transform` gives the photo -> crop affine."""

    name: str
    uses_landmarks: bool = True

    def crop_transform(self, landmarks: np.ndarray | None, size: int,
                       photo_size: tuple[int, int] | None = None) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class TemplateFraming(Framing):
    """Five landmarks aligned to a template by the least-squares similarity (rotation, one scale,
    shift; no reflection), as CelebA's aligned images and our renderer's frames are."""

    template: np.ndarray = None

    def crop_transform(self, landmarks, size, photo_size=None):
        return similarity_transform(_points(landmarks), self.template * size)


@dataclass(frozen=True)
class EyesMouthFraming(Framing):
    """The CelebA-HQ / FFHQ crop (Karras et al.; the FFHQ alignment script): from the eyes'
    midpoint and the mouth's (the corners' midpoint). The square's "right" axis is eye_to_eye
    minus eye_to_mouth turned 90 degrees, so both the eye line and the face's vertical set the
    rotation; its half-side is max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|); its centre lies 0.1
    eye_to_mouth below the eyes."""

    def crop_transform(self, landmarks, size, photo_size=None):
        points = _points(landmarks)
        eyes = (points[0] + points[1]) / 2
        eye_to_eye = points[1] - points[0]
        eye_to_mouth = (points[3] + points[4]) / 2 - eyes
        # eye_to_mouth turned by -90 degrees in image axes (y down): a face's "down" becomes its "left"
        turned = np.array([eye_to_mouth[1], -eye_to_mouth[0]])
        right = eye_to_eye + turned
        half_side = max(2.0 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth))
        right *= half_side / np.hypot(*right)
        down = np.array([-right[1], right[0]])
        centre = eyes + 0.1 * eye_to_mouth
        corners = np.array([centre - right - down, centre + right - down, centre + right + down])
        return similarity_transform(corners, np.array([(0, 0), (size, 0), (size, size)], dtype=np.float64))


@dataclass(frozen=True)
class WholePhoto(Framing):
    """The inputs are aligned crops already: the whole photo is the model's square."""

    uses_landmarks: bool = False

    def crop_transform(self, landmarks, size, photo_size=None):
        if photo_size is None:
            raise ValueError("the 'none' framing needs the photo's size")
        width, height = photo_size
        return np.array([[size / width, 0.0, 0.0], [0.0, size / height, 0.0]])


FRAMINGS = {
    "celeba": TemplateFraming("celeba", template=CELEBA_TEMPLATE),
    "celeba-hq": EyesMouthFraming("celeba-hq"),
    "synthetic": TemplateFraming("synthetic", template=SYNTHETIC_TEMPLATE),
    "none": WholePhoto("none"),
}


def framing(name: str) -> Framing:
    """The framing called `name`; a ValueError naming the valid ones otherwise."""
    if name not in FRAMINGS:
        raise ValueError(f"unknown framing {name!r}: choose one of {', '.join(FRAMINGS)}")
    return FRAMINGS[name]


def _points(landmarks) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"expected five (x, y) landmarks, got an array of shape {points.shape}")
    return points


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, one scale, shift; no reflection) that maps `source` points
    (N, 2) onto `target` (N, 2) with the least squared error (Umeyama 1991)."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_c, target_c = source - source_mean, target - target_mean
    spread = (source_c**2).sum() / len(source)
    if spread < 1e-12:
        raise ValueError("the landmarks coincide: no transform fits them")
    u, singular, vt = np.linalg.svd(target_c.T @ source_c / len(source))
    sign = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])  # forbid a reflection
    rotation = u @ np.diag(sign) @ vt
    scale = (singular * sign).sum() / spread
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def invert(affine: np.ndarray) -> np.ndarray:
    """The 2x3 affine that undoes `affine`."""
    linear = np.linalg.inv(affine[:, :2])
    return np.hstack([linear, -linear @ affine[:, 2:]])


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by a 2x3 affine."""
    return np.asarray(points, dtype=np.float64) @ affine[:, :2].T + affine[:, 2]


def crop_corners(affine: np.ndarray, size: int) -> np.ndarray:
    """(4, 2) photo pixels of the crop's top-left, top-right, bottom-right and bottom-left corners."""
    return apply(invert(affine), np.array([(0, 0), (size, 0), (size, size), (0, size)], dtype=np.float64))


def warp_crop(rgb: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, C) crop of `rgb` that `affine` (photo -> crop) frames, bilinear, with the
    photo reflected past its edges. A crop that shrinks the photo below AVERAGE_BELOW is made at
    photo resolution and then area-averaged down, so small crops of large faces do not alias."""
    import cv2

    rgb, affine = _reflected_window(rgb, affine, size)
    shrink = _smallest_stretch(affine)
    if shrink >= AVERAGE_BELOW:
        crop = _warp(rgb, affine, (size, size), cv2.BORDER_REFLECT)
    else:
        fine = int(np.ceil(size / shrink))
        sharp = _warp(rgb, affine * (fine / size), (fine, fine), cv2.BORDER_REFLECT)
        crop = cv2.resize(sharp, (size, size), interpolation=cv2.INTER_AREA)
    return crop.reshape((size, size) + rgb.shape[2:])


def _reflected_window(rgb: np.ndarray, affine: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the photo the crop reads, mirrored past the photo's edges as far as the crop
    reaches, and the affine moved onto it. cv2.warpAffine's own border handling reads samples
    within a pixel of the edge off by up to 0.2 px; inside a padded window none is near an edge."""
    import cv2

    height, width = rgb.shape[:2]
    corners = crop_corners(affine, size)
    left, top = np.floor(corners.min(axis=0)).astype(int) - 2
    right, bottom = np.ceil(corners.max(axis=0)).astype(int) + 2
    if left >= 0 and top >= 0 and right <= width and bottom <= height:
        return rgb, affine
    # the photo's rows and columns that the window holds or mirrors, then the mirrored margins
    x0, x1 = _mirrored_span(left, right, width)
    y0, y1 = _mirrored_span(top, bottom, height)
    window = cv2.copyMakeBorder(np.ascontiguousarray(rgb[y0:y1, x0:x1]), max(-top, 0), max(bottom - height, 0),
                                max(-left, 0), max(right - width, 0), cv2.BORDER_REFLECT)
    origin = (min(left, x0), min(top, y0))
    moved = affine.astype(np.float64).copy()
    moved[:, 2] += moved[:, :2] @ origin
    return window.reshape(window.shape[:2] + rgb.shape[2:]), moved


def _mirrored_span(start: int, stop: int, length: int) -> tuple[int, int]:
    """The photo's indices [a, b) that a window [start, stop) reads directly or as a mirror image:
    a margin of m past an edge mirrors the m indices next to it."""
    low, high = max(start, 0), min(stop, length)
    if start < 0:
        high = max(high, min(-start, length))
    if stop > length:
        low = min(low, max(length - (stop - length), 0))
    return max(min(low, length - 1), 0), max(high, min(low + 1, length))


def feathered_mask(size: int, feather: float = 0.125) -> np.ndarray:
    """(size, size) float32 weights: 1 inside, falling smoothly to 0 over `feather` of the side at
    each edge, so a pasted crop shows no seam."""
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    ramp = np.clip(np.minimum(t, 1 - t) / feather, 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no kink where the ramp meets the flat middle
    return np.minimum(ramp[:, None], ramp[None, :])


def paste_back(photo: np.ndarray, affine: np.ndarray, before: np.ndarray, after: np.ndarray,
               mask: np.ndarray | None = None) -> np.ndarray:
    """`photo` with the model's change (after - before, (size, size, C) crops in the photo's units)
    warped back through `affine` and added under `mask` ((size, size) weights in 0..1; default
    feathered_mask). Pixels outside the warped mask come back bit-exact; the photo is not modified."""
    import cv2

    size = before.shape[0]
    mask = feathered_mask(size) if mask is None else np.asarray(mask, dtype=np.float32)
    height, width = photo.shape[:2]
    corners = crop_corners(affine, size)
    left, top = np.floor(corners.min(axis=0)).astype(int)
    right, bottom = np.ceil(corners.max(axis=0)).astype(int)
    left, top, right, bottom = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if left >= right or top >= bottom:
        return photo.copy()
    # the change and its weight, premultiplied, carried back into the photo's window
    change = (np.asarray(after, dtype=np.float32) - np.asarray(before, dtype=np.float32)).reshape(size, size, -1)
    layers = np.concatenate([change * mask[:, :, None], mask[:, :, None]], axis=2)
    back = invert(affine)
    back[:, 2] -= (left, top)
    window = (right - left, bottom - top)
    grow = _smallest_stretch(back)
    if grow < AVERAGE_BELOW:  # the face is smaller in the photo than in the crop: average the change down first
        coarse = max(1, int(np.ceil(size * grow)))
        layers = cv2.resize(layers, (coarse, coarse), interpolation=cv2.INTER_AREA).reshape(coarse, coarse, -1)
        back = back.copy()
        back[:, :2] *= size / coarse
    layers = _warp(layers, back, window, cv2.BORDER_CONSTANT)
    weight = layers[:, :, -1]
    inside = weight > 0
    region = photo[top:bottom, left:right]
    limit = np.iinfo(photo.dtype).max if np.issubdtype(photo.dtype, np.integer) else 1.0
    edited = np.clip(region.astype(np.float32) + layers[:, :, :-1].reshape(region.shape), 0, limit)
    if np.issubdtype(photo.dtype, np.integer):
        edited = np.floor(edited + 0.5)
    out = photo.copy()
    out[top:bottom, left:right][inside] = edited[inside].astype(photo.dtype)
    return out


def _smallest_stretch(affine: np.ndarray) -> float:
    """How much the affine shrinks the direction it shrinks most (its smaller singular value)."""
    return float(np.linalg.svd(affine[:, :2], compute_uv=False)[-1])


def _warp(image: np.ndarray, affine: np.ndarray, size: tuple[int, int], border: int) -> np.ndarray:
    """cv2.warpAffine in our pixel convention (OpenCV puts pixel centres at integers)."""
    import cv2

    shifted = affine.astype(np.float64).copy()
    shifted[:, 2] += shifted[:, :2] @ (0.5, 0.5) - 0.5
    if image.ndim == 2:
        return cv2.warpAffine(image, shifted, size, flags=cv2.INTER_LINEAR, borderMode=border)
    # OpenCV warps at most 4 channels at a time
    parts = [cv2.warpAffine(np.ascontiguousarray(image[:, :, k : k + 4]), shifted, size, flags=cv2.INTER_LINEAR,
                            borderMode=border).reshape(size[1], size[0], -1) for k in range(0, image.shape[2], 4)]
    return np.concatenate(parts, axis=2)


# Where a face's change goes (the Haar-era head mask, restated in landmarks so every framing gets
# it): an ellipse over the face and hair, centred 0.35 of the way from the eyes' midpoint to the
# mouth's, 2.4 eye distances wide and 2.86 high each way (on the renderer's frame: centre (0.5, 0.55),
# half-axes (0.42, 0.5)), feathered from 0.8 to 1.1 of its radius: StarGAN's instance norm shifts the
# colours of flat backgrounds, and a crop's shifted background would show as a box. Times a ramp
# over EDGE_FEATHER of the side at every edge that is 0 on the crop's outermost pixels, so the
# change warped back (bilinear) reaches no photo pixel outside the crop.
HEAD_ELLIPSE = (0.35, 2.4, 2.86)  # centre along eyes -> mouth; half-width, half-height in eye distances
HEAD_FEATHER = (0.8, 1.1)
EDGE_FEATHER = 1 / 16


def typical_landmarks(framing_: Framing) -> np.ndarray | None:
    """Where a typical face's five landmarks land in the framing's crop, in crop units (0..1); None
    for the whole-photo framing."""
    if isinstance(framing_, TemplateFraming):
        return framing_.template
    if not framing_.uses_landmarks:
        return None
    return apply(framing_.crop_transform(_CELEBA_ALIGNED, 1), _CELEBA_ALIGNED)


_masks: dict[tuple[str, int], np.ndarray] = {}


def head_mask(framing_name: str, size: int) -> np.ndarray:
    """(size, size) float32 weights for pasting a face's change back (HEAD_ELLIPSE); all ones for
    the `none` framing, whose crop is the whole photo. Cached, read-only."""
    key = (framing_name, size)
    if key not in _masks:
        points = typical_landmarks(framing(framing_name))
        if points is None:
            mask = np.ones((size, size), dtype=np.float32)
        else:
            eyes, mouth = points[:2].mean(axis=0), points[3:].mean(axis=0)
            eye_distance = np.hypot(*(points[1] - points[0]))
            along, half_width, half_height = HEAD_ELLIPSE
            centre_x, centre_y = eyes + along * (mouth - eyes)
            t = (np.arange(size, dtype=np.float64) + 0.5) / size
            radius = np.hypot(((t - centre_x) / (half_width * eye_distance))[None, :],
                              ((t - centre_y) / (half_height * eye_distance))[:, None])
            inner, outer = HEAD_FEATHER
            mask = np.clip((outer - radius) / (outer - inner), 0, 1).astype(np.float32)
            to_edge = np.minimum(t, 1 - t) * size  # pixels from the centre of each pixel to the edge
            ramp = np.clip((to_edge - 1) / max(EDGE_FEATHER * size - 1, 1), 0, 1)
            ramp = (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)
            mask *= np.minimum(ramp[:, None], ramp[None, :])
        mask.flags.writeable = False
        _masks[key] = mask
    return _masks[key]
