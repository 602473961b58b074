"""A face found tilted is cropped upright, as the model was trained to see faces, and its change is
turned back onto the photo, touching nothing outside the turned square."""

import numpy as np
import torch
from PIL import Image

from starbatch.editing import model_input, paste_edit
from starbatch.face_detection import FaceBox, face_boxes
from starbatch.images import Photo
from starbatch.train.faces import celeba_face


def rendered(index: int, angle: float, canvas: int = 256) -> np.ndarray:
    """A 256 px training face in the middle of a `canvas` px square, turned `angle` degrees
    (counter-clockwise)."""
    face = Image.fromarray(celeba_face(0, index)[0]).resize((256, 256), Image.BICUBIC)
    picture = Image.new("RGB", (canvas, canvas), face.getpixel((0, 0)))
    picture.paste(face, ((canvas - 256) // 2, (canvas - 256) // 2))
    return np.asarray(picture.rotate(angle, resample=Image.BICUBIC, fillcolor=face.getpixel((0, 0))))


def photo(rgb: np.ndarray) -> Photo:
    return Photo(rgb, "RGB", "PNG")


def test_the_model_sees_a_tilted_face_upright():
    upright = rendered(1, 0)
    reference = model_input(photo(upright), face_boxes(upright)[0], 64)
    tilted = rendered(1, -20)  # turned 20 degrees clockwise: upright found nothing
    (box,) = face_boxes(tilted)
    assert box.turn == 20
    turned = model_input(photo(tilted), box, 64)
    as_found = model_input(photo(tilted), FaceBox(box.left, box.top, box.side), 64)
    centre = (slice(None), slice(16, 48), slice(16, 48))
    assert np.abs(turned - reference)[centre].mean() < 0.03
    assert np.abs(as_found - reference)[centre].mean() > 0.06


def test_a_turned_crops_change_goes_back_inside_the_turned_square_only():
    tilted = rendered(5, 20, canvas=440)
    (box,) = face_boxes(tilted)
    assert box.turn == -20 and box.left > 0 and box.top > 0 and box.left + box.side < 440
    before = torch.from_numpy(model_input(photo(tilted), box, 64))
    pasted = paste_edit(photo(tilted), box, before, before + 0.1)  # +0.1 in [-1, 1]: +12.75 in uint8
    change = pasted.rgb.astype(int) - tilted.astype(int)
    ys, xs = np.mgrid[0:440, 0:440] + 0.5
    # the crop's axes in the photo (OpenCV's counter-clockwise turn, y down)
    angle = np.deg2rad(box.turn)
    dx, dy = xs - (box.left + box.side / 2), ys - (box.top + box.side / 2)
    along = np.abs(dx * np.cos(angle) + dy * np.sin(angle))
    across = np.abs(-dx * np.sin(angle) + dy * np.cos(angle))
    inside = np.maximum(along, across) < box.side / 2 - box.side / 32 - 2
    outside = np.maximum(along, across) > box.side / 2 + 2
    unclipped = tilted.max(axis=2) < 240
    assert (change[outside] == 0).all()
    assert np.abs(change[inside & unclipped] - 12.75).max() <= 1
    # the turned square's corners poke out of the upright square of the same place: they are edited
    upright_square = (np.abs(dx) < box.side / 2) & (np.abs(dy) < box.side / 2)
    assert (change[inside & ~upright_square] != 0).any(axis=1).mean() > 0.9
