"""Where the model looks in a photo: every face the detector finds (retinaface.py), framed the way
the model's training faces were (alignment.py); or, with `--faces center`, the photo's central
square, as starbatch did before it looked for faces.

A found face becomes a FaceCrop: the 2x3 similarity from photo pixels to the model's square crop,
fitted from the face's five landmarks to the framing's template, with the face it came from (box,
score, landmarks) for the report. The `none` framing (inputs that are aligned crops already) takes
the whole photo as the crop and looks for no face.
"""

from dataclasses import dataclass

import numpy as np

from starbatch.faces import alignment, retinaface
from starbatch.faces.retinaface import MIN_FACE, Face

FACE_MODES = ("detect", "center")
NO_FACE = "no face found"


@dataclass(frozen=True)
class FaceBox:
    """A square region of the photo, in pixels: `--faces center`'s crop, resized to the model's size."""

    left: int
    top: int
    side: int


@dataclass(frozen=True, eq=False)
class FaceCrop:
    """One face framed for the model: `affine` maps photo pixels to the (size, size) crop; `face`
    is what the detector found (None for the `none` framing's whole photo). `weight` scales the
    change pasted back (video fades an edit in and out with it; 1 for photos)."""

    affine: np.ndarray
    size: int
    framing: str
    face: Face | None = None
    weight: float = 1.0

    def corners(self) -> np.ndarray:
        """(4, 2) photo pixels of the crop's top-left, top-right, bottom-right and bottom-left."""
        return alignment.crop_corners(self.affine, self.size)

    def report(self) -> dict:
        """The face as --report lists it: box, score, landmarks and the crop's corners, in input pixels."""
        entry = {}
        if self.face is not None:
            entry = {"box": [round(v, 2) for v in self.face.box], "score": round(self.face.score, 4),
                     "landmarks": _rounded(self.face.landmarks)}  # fmt: skip
        entry["crop_corners"] = _rounded(self.corners())
        return entry


Placement = FaceBox | FaceCrop


def report_of(box: Placement) -> dict:
    """A placement as --report lists it; the central square has only its corners."""
    if isinstance(box, FaceCrop):
        return box.report()
    right, bottom = box.left + box.side, box.top + box.side
    return {"crop_corners": [[box.left, box.top], [right, box.top], [right, bottom], [box.left, bottom]]}


def centre_box(width: int, height: int) -> FaceBox:
    """The central square: what `--faces center` edits (and all starbatch saw before detection)."""
    side = min(width, height)
    return FaceBox((width - side) // 2, (height - side) // 2, side)


def find_faces(rgb: np.ndarray, min_face: float = MIN_FACE) -> list[Face]:
    """The faces of `min_face` px (box side) and more in an 8- or 16-bit (H, W, 3) photo, largest
    first; [] when there is none."""
    if rgb.dtype == np.uint16:  # the detector reads 8 bits: the top ones
        rgb = (rgb >> 8).astype(np.uint8)
    return retinaface.detect(np.ascontiguousarray(rgb), min_face)


def face_crop(face: Face, framing_name: str, size: int) -> FaceCrop:
    """The face framed as `framing_name` frames its faces, at the model's `size`."""
    return FaceCrop(alignment.framing(framing_name).crop_transform(face.landmarks, size), size, framing_name, face)


def placements(rgb: np.ndarray, faces: str, framing_name: str, size: int,
               min_face: float = MIN_FACE) -> list[Placement]:
    """What to edit in a photo: with faces="detect", one crop per face of `min_face` px or more
    found, largest first ([] when none is; the `none` framing: the whole photo); with "center",
    the central square."""
    height, width = rgb.shape[:2]
    if faces == "center":
        return [centre_box(width, height)]
    if faces != "detect":
        raise ValueError(f"faces={faces!r}: choose one of {FACE_MODES}")
    framing = alignment.framing(framing_name)
    if not framing.uses_landmarks:
        return [FaceCrop(framing.crop_transform(None, size, (width, height)), size, framing_name)]
    return [face_crop(face, framing_name, size) for face in find_faces(rgb, min_face)]


def _rounded(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]
