"""Photo-like pictures for tests and benchmarks: a face-like stand-in, and photos with rendered faces."""

import numpy as np
from PIL import Image

from starbatch.synthetic.faces import celeba_face


def face_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 picture with smooth structure and texture, a stand-in for a photo: a
    skin-coloured ellipse on a gradient, which the face detector must not take for a face."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, r = width / 2, height / 2, min(width, height) / 3
    face = ((x - cx) ** 2 / (0.8 * r) ** 2 + (y - cy) ** 2 / r**2) < 1
    rgb = np.stack([x / width * 200, y / height * 180, np.full_like(x, 90)], axis=2)
    rgb[face] = [225, 180, 150]
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def face_photo(width: int, height: int, faces: list[tuple[int, int, int]], seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 photo with rendered CelebA-style faces (`celeba_face(seed, i)` for the
    i-th entry) resized to `side` and pasted with their top-left at (left, top), on a face-free
    gradient with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([40 + x / width * 150, 60 + y / height * 120, np.full_like(x, 150)], axis=2)
    rgb += rng.normal(0, 4, rgb.shape)
    photo = np.clip(rgb, 0, 255).astype(np.uint8)
    for index, (left, top, side) in enumerate(faces):
        face = Image.fromarray(celeba_face(seed, index)[0]).resize((side, side), Image.BICUBIC)
        photo[top : top + side, left : left + side] = np.asarray(face)
    return photo
