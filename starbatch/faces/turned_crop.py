"""Crops of tilted faces: taken turned upright, as the model was trained to see faces, and their
change turned back onto the photo.

A FaceBox with `turn` a degrees is the square of its left/top/side, turned a degrees
counter-clockwise about its centre (OpenCV's sense, y down): the angle that stands the face
upright (detection._tilted found it in the picture turned by a; _levelled measured it from
the eyes). Outside the photo the crop repeats the border pixels; the change
(already faded or masked by the caller) goes back only onto the photo.
"""

import numpy as np

from starbatch.faces.detection import FaceBox


def _photo_to_crop(box: FaceBox) -> np.ndarray:
    """(2, 3) affine map from photo pixels to crop pixels (pixel centres at integers)."""
    import cv2

    centre = (box.left + (box.side - 1) / 2, box.top + (box.side - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, box.turn, 1.0)
    matrix[:, 2] -= (box.left, box.top)
    return matrix


def turned_pixels(rgb: np.ndarray, box: FaceBox) -> np.ndarray:
    """The (side, side, 3) upright crop, in the photo's dtype (bilinear)."""
    import cv2

    return cv2.warpAffine(np.ascontiguousarray(rgb), _photo_to_crop(box), (box.side, box.side),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def turned_back(change: np.ndarray, box: FaceBox, width: int, height: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """The crop's (side, side, 3) float change placed on the photo: (rows, columns) of the region
    it covers and the change there, zero outside the turned square."""
    import cv2

    angle = np.deg2rad(box.turn)
    reach = box.side / 2 * (abs(np.cos(angle)) + abs(np.sin(angle))) + 1
    centre_x, centre_y = box.left + box.side / 2, box.top + box.side / 2
    left, top = max(0, int(np.floor(centre_x - reach))), max(0, int(np.floor(centre_y - reach)))
    right, bottom = min(width, int(np.ceil(centre_x + reach))), min(height, int(np.ceil(centre_y + reach)))
    crop_to_region = cv2.invertAffineTransform(_photo_to_crop(box))
    crop_to_region[:, 2] -= (left, top)
    placed = cv2.warpAffine(np.ascontiguousarray(change, dtype=np.float32), crop_to_region,
                            (right - left, bottom - top), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    return (slice(top, bottom), slice(left, right)), placed.reshape(bottom - top, right - left, -1)
