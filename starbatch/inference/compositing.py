"""Between a photo and the model: the crop at model size, and G's change pasted back.

Data flow (DESIGN.md, "Data flow of edit"): each face's crop (faces/detection.py) is warped out of
the photo to the model's framing (faces/alignment.py) and its change warped back under the
framing's head mask; with --faces center the central square is resized to the model size and its
change pasted back as an upsampled residual, so untouched detail keeps its full resolution.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.faces import alignment
from starbatch.faces.detection import NO_FACE, FaceBox, FaceCrop, Placement, placements
from starbatch.faces.retinaface import MIN_FACE
from starbatch.media.images import Photo, read_photo


def model_input(photo: Photo, box: Placement, image_size: int) -> np.ndarray:
    """(3, S, S) float32 in [-1, 1]: a face's crop warped out of the photo to the model's framing,
    or the central square resized as the official loader does.

    For the square, 8-bit sources go through Pillow's bilinear resize on uint8 (torchvision's Resize
    on PIL), so results match the official pipeline; 16-bit sources are resized in float to keep
    their depth. A face's crop keeps the photo's depth too (warp_crop works in its dtype).
    """
    if isinstance(box, FaceCrop):
        if box.size != image_size:
            raise ValueError(f"a {box.size} px crop for a {image_size} px model")
        crop = alignment.warp_crop(photo.rgb, box.affine, box.size).astype(np.float32) / photo.max_value
        return np.ascontiguousarray(crop.transpose(2, 0, 1)) * 2.0 - 1.0
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


def reference_input(path: Path, image_size: int, faces: str = "detect", framing: str = "celeba-hq",
                    min_face: float = MIN_FACE) -> np.ndarray:
    """A reference photo's largest face (the central square with faces="center") as a model input,
    found and aligned as every edited photo is (engines/photos.py prepare)."""
    if not Path(path).is_file():
        raise StarbatchError(f"--ref {path}: no such file")
    try:
        photo = read_photo(Path(path))
    except StarbatchError as error:
        raise StarbatchError(f"--ref {path}: {error}") from None
    boxes = placements(photo.rgb, faces, framing, image_size, min_face)
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


def paste_edit(photo: Photo, box: Placement, before: torch.Tensor, after: torch.Tensor) -> Photo:
    """The photo with G's change (after - before, at model size) put back where its crop came from.

    A face's change is warped back through its crop's transform and blended under the framing's
    head mask (alignment.head_mask) times the crop's weight: StarGAN's instance norm shifts the
    colours of large flat areas, and a crop's shifted background would show as a box. The central
    square (--faces center) takes the change whole, upsampled, fading out over 1/32 of its side
    where it meets the rest of the image. Pixels the change does not reach come back bit-exact.
    """
    if isinstance(box, FaceCrop):
        return _paste_face(photo, box, before, after)
    residual = ((after.float() - before.float()) / 2)[None]  # [-1, 1] units -> [0, 1] units
    change = F.interpolate(residual, size=(box.side, box.side), mode="bilinear",
                           align_corners=False)[0].permute(1, 2, 0).numpy()  # fmt: skip
    change *= fade_mask(photo.size, box)[:, :, None]
    region = (slice(box.top, box.top + box.side), slice(box.left, box.left + box.side))
    crop = photo.rgb[region].astype(np.float32)
    edited = np.clip(crop + change * photo.max_value, 0, photo.max_value) + 0.5
    rgb = photo.rgb.copy()
    rgb[region] = edited.astype(photo.rgb.dtype)
    return replace(photo, rgb=rgb)


def _paste_face(photo: Photo, box: FaceCrop, before: torch.Tensor, after: torch.Tensor) -> Photo:
    if box.weight <= 0:
        return photo
    scale = photo.max_value / 2  # [-1, 1] -> the photo's units
    before_px = (before.float().permute(1, 2, 0).numpy() + 1) * scale
    after_px = (after.float().permute(1, 2, 0).numpy() + 1) * scale
    mask = alignment.head_mask(box.framing, box.size)
    if box.weight < 1:
        mask = mask * np.float32(box.weight)
    rgb = alignment.paste_back(photo.rgb, box.affine, before_px, after_px, mask)
    return replace(photo, rgb=rgb)


def fade_mask(size: tuple[int, int], box: FaceBox) -> np.ndarray:
    """(side, side) weights over the central square: 1 inside, fading over 1/32 of the side where it
    meets the rest of the photo."""
    width, height = size
    ramp = max(1, box.side // 32)
    steps = np.minimum(np.arange(box.side) + 1, ramp).astype(np.float32) / ramp
    near = np.ones(box.side, dtype=np.float32)
    rows, cols = near.copy(), near.copy()
    if box.top > 0:
        rows = np.minimum(rows, steps)
    if box.top + box.side < height:
        rows = np.minimum(rows, steps[::-1])
    if box.left > 0:
        cols = np.minimum(cols, steps)
    if box.left + box.side < width:
        cols = np.minimum(cols, steps[::-1])
    return rows[:, None] * cols[None, :]
