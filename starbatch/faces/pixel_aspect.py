"""Faces in pictures whose pixels are not square: anamorphic video (DV, DVD, broadcast), stored
narrower or wider than it is shown (its sample aspect ratio).

A face stored squeezed is squeezed for the detector and the model too (DVD's 16:9 720x576 by 1.42),
so faces are found and framed as a player shows the picture: the detector reads a copy resized to
the shown geometry, the follower and the framing work there, and each crop's transform is then
composed with the stretch, so it cuts the shown face's square out of the stored pixels (and pastes
the edit back into them) and the report's corners are stored pixels, as its boxes and landmarks.
"""

from collections.abc import Callable
from fractions import Fraction

import cv2
import numpy as np

from starbatch.faces import alignment
from starbatch.faces.detection import FaceCrop, Placement, face_crop, find_faces, placements
from starbatch.faces.retinaface import Face

Scale = tuple[float, float]  # shown pixels per stored pixel, along x and y of the upright picture
SQUARE: Scale = (1.0, 1.0)


def shown_scale(pixel_aspect: Fraction | None, rotation: int) -> Scale:
    """(sx, sy) of the upright picture: a stored pixel's width / height is `pixel_aspect`; turned a
    quarter (a phone's rotation metadata), that stretch is vertical."""
    if not pixel_aspect or pixel_aspect == 1:
        return SQUARE
    return (1.0, float(pixel_aspect)) if rotation % 180 == 90 else (float(pixel_aspect), 1.0)


def as_shown(rgb: np.ndarray, scale: Scale) -> np.ndarray:
    """The upright picture resized to the geometry a player shows it at."""
    if scale == SQUARE:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale[0])), max(1, round(height * scale[1])))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


def detector_as_shown(find: Callable[[np.ndarray], list[Face]], scale: Scale) -> Callable[[np.ndarray], list[Face]]:
    """`find` run on the picture as shown: faces in shown pixels (the follower's coordinates)."""
    if scale == SQUARE:
        return find
    return lambda rgb: find(as_shown(rgb, scale))


def in_stored_pixels(crop: Placement, scale: Scale) -> Placement:
    """A crop made in shown pixels, as one of the stored picture: its transform composed with the
    stretch, its face's box and landmarks scaled back."""
    if scale == SQUARE or not isinstance(crop, FaceCrop):
        return crop
    sx, sy = scale
    affine = np.asarray(crop.affine, dtype=np.float64).copy()
    affine[:, 0] *= sx  # photo -> crop: a stored x is sx shown pixels
    affine[:, 1] *= sy
    face = crop.face
    if face is not None:
        left, top, right, bottom = face.box
        face = Face((left / sx, top / sy, right / sx, bottom / sy), face.score,
                    np.asarray(face.landmarks) / np.array([sx, sy]))
    return FaceCrop(affine, crop.size, crop.framing, face, crop.weight)


def placements_as_shown(rgb: np.ndarray, faces: str, framing: str, size: int, min_face: float,
                        scale: Scale) -> list[Placement]:
    """detection.placements, with faces found and framed as the picture is shown (the follower's
    crops are so); the central square and the whole picture stay squares of stored pixels."""
    if scale == SQUARE or faces != "detect" or not alignment.framing(framing).uses_landmarks:
        return placements(rgb, faces, framing, size, min_face)
    return [in_stored_pixels(face_crop(face, framing, size), scale)
            for face in find_faces(as_shown(rgb, scale), min_face)]
