"""Between a photo and the model: the crop at model size, and G's change pasted back.

Data flow (DESIGN.md, "Data flow of edit"): each face's crop (faces/detection.py; the central
square with --faces center) is resized to the model size; G's change is pasted back as an
upsampled residual so untouched detail keeps its full resolution.
"""

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.faces.detection import NO_FACE, FaceBox, face_boxes
from starbatch.faces.turned_crop import turned_back, turned_pixels
from starbatch.media.images import Photo, read_photo

# Where a found face's change goes, in crop sides: the training framing (synthetic/faces.py) puts the
# face's centre at 0.52 of the frame, its half-width at 0.23 and the hair up to ~0.3 either side
# and ~0.3 above; the ellipse covers that, its feather reaches long hair at the shoulders.
HEAD_ELLIPSE = (0.5, 0.55, 0.42, 0.5)  # centre x, centre y, half-width, half-height
HEAD_FEATHER = (0.8, 1.1)  # of the ellipse's radius: the whole change inside, none beyond


def model_input(photo: Photo, box: FaceBox, image_size: int) -> np.ndarray:
    """(3, S, S) float32 in [-1, 1]: the crop resized as the official loader does.

    8-bit sources go through Pillow's bilinear resize on uint8 (torchvision's Resize on PIL), so
    results match the official pipeline; 16-bit sources are resized in float to keep their depth.
    """
    if box.turn:
        crop = turned_pixels(photo.rgb, box)
    else:
        crop = photo.rgb[box.top : box.top + box.side, box.left : box.left + box.side]
    size = (image_size, image_size)
    if crop.dtype == np.uint8:
        small = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR), dtype=np.float32)
        small /= 255.0
    else:
        channels = [
            np.asarray(Image.fromarray(crop[:, :, i].astype(np.float32) / 65535.0, "F")
                       .resize(size, Image.BILINEAR)) for i in range(3)
        ]  # fmt: skip
        small = np.stack(channels, axis=2)
    return np.ascontiguousarray(small.transpose(2, 0, 1)) * 2.0 - 1.0


def reference_input(path: Path, image_size: int, faces: str = "detect") -> np.ndarray:
    """A reference photo's largest face (the central square with faces="center") as a model input,
    found and cropped as every edited photo is (engines/photos.py prepare)."""
    if not Path(path).is_file():
        raise StarbatchError(f"--ref {path}: no such file")
    try:
        photo = read_photo(Path(path))
    except StarbatchError as error:
        raise StarbatchError(f"--ref {path}: {error}") from None
    boxes = face_boxes(photo.rgb, faces)
    if not boxes:
        raise StarbatchError(f"--ref {path}: {NO_FACE}")
    return model_input(photo, boxes[0], image_size)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, 3, H, W) -> uint8 (N, H, W, 3), rounding as torchvision's save_image."""
    scaled = ((images.float() + 1) / 2).mul(255).add(0.5).clamp(0, 255)
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def crop_photo(edited: torch.Tensor, image_format: str = "PNG") -> Photo:
    """--crop-only: the model-size output itself, as an 8-bit RGB photo."""
    return Photo(to_uint8(edited[None])[0], "RGB", image_format)


def paste_edit(photo: Photo, box: FaceBox, before: torch.Tensor, after: torch.Tensor) -> Photo:
    """Add G's change (after - before, at model size) upsampled onto the full-resolution crop.

    A found face's change is blended over its head only (head_mask): StarGAN's instance norm
    shifts the colours of large flat areas, and a crop's shifted background would show as a box.
    The central square (--faces center) takes the change whole, fading out over 1/32 of its side
    where it meets the rest of the image. Unchanged pixels come back bit-exact. A turned crop's
    change is turned back (turned_crop.py).
    """
    residual = ((after.float() - before.float()) / 2)[None]  # [-1, 1] units -> [0, 1] units
    change = F.interpolate(residual, size=(box.side, box.side), mode="bilinear",
                           align_corners=False)[0].permute(1, 2, 0).numpy()  # fmt: skip
    weight = head_mask(box.side) if box.head else fade_mask(photo.size, box, every_side=bool(box.turn))
    change *= weight[:, :, None]
    if box.turn:
        region, change = turned_back(change, box, *photo.size)
    else:
        region = (slice(box.top, box.top + box.side), slice(box.left, box.left + box.side))
    crop = photo.rgb[region].astype(np.float32)
    edited = np.clip(crop + change * photo.max_value, 0, photo.max_value) + 0.5
    rgb = photo.rgb.copy()
    rgb[region] = edited.astype(photo.rgb.dtype)
    return Photo(rgb, photo.mode, photo.format, photo.alpha, photo.save_options)


@functools.lru_cache(maxsize=8)
def head_mask(side: int) -> np.ndarray:
    """(side, side) weights over a face crop: 1 over the face and hair of the training framing (an
    ellipse HEAD_ELLIPSE), falling to 0 from HEAD_FEATHER[0] to HEAD_FEATHER[1] of its radius, so
    the crop's corners and sides (background) keep their pixels. Cached, read-only: a video's
    frames share one crop size for long stretches."""
    centre_x, centre_y, half_width, half_height = HEAD_ELLIPSE
    inner, outer = HEAD_FEATHER
    t = (np.arange(side, dtype=np.float32) + 0.5) / side
    radius = np.hypot(((t - centre_x) / half_width)[None, :], ((t - centre_y) / half_height)[:, None])
    mask = np.clip((outer - radius) / (outer - inner), 0.0, 1.0)
    mask.flags.writeable = False
    return mask


def fade_mask(size: tuple[int, int], box: FaceBox, every_side: bool = False) -> np.ndarray:
    """(side, side) weights over the central square: 1 inside, fading over 1/32 of the side where it
    meets the rest of the photo (on every side for a turned crop)."""
    width, height = size
    ramp = max(1, box.side // 32)
    steps = np.minimum(np.arange(box.side) + 1, ramp).astype(np.float32) / ramp
    near = np.ones(box.side, dtype=np.float32)
    rows, cols = near.copy(), near.copy()
    if box.top > 0 or every_side:
        rows = np.minimum(rows, steps)
    if box.top + box.side < height or every_side:
        rows = np.minimum(rows, steps[::-1])
    if box.left > 0 or every_side:
        cols = np.minimum(cols, steps)
    if box.left + box.side < width or every_side:
        cols = np.minimum(cols, steps[::-1])
    return rows[:, None] * cols[None, :]
