"""A face found tilted is cropped upright, as the model was trained to see faces, and its change is
turned back onto the photo, touching nothing outside the turned square."""

import numpy as np
import torch
from PIL import Image

from starbatch.editing import model_input, paste_edit
from starbatch.face_detection import FaceBox, detect_faces, face_boxes
from starbatch.images import Photo
from starbatch.train.faces import celeba_face


def rendered(index: int, angle: float, canvas: int = 256) -> np.ndarray:
    """A 256 px training face, level, in the middle of a `canvas` px square, turned `angle` degrees
    (counter-clockwise)."""
    face = Image.fromarray(celeba_face(0, index, level=True)[0]).resize((256, 256), Image.BICUBIC)
    picture = Image.new("RGB", (canvas, canvas), face.getpixel((0, 0)))
    picture.paste(face, ((canvas - 256) // 2, (canvas - 256) // 2))
    return np.asarray(picture.rotate(angle, resample=Image.BICUBIC, fillcolor=face.getpixel((0, 0))))


def photo(rgb: np.ndarray) -> Photo:
    return Photo(rgb, "RGB", "PNG")


def test_the_model_sees_a_tilted_face_upright():
    upright = rendered(3, 0)
    reference = model_input(photo(upright), face_boxes(upright)[0], 64)
    tilted = rendered(3, -20)  # turned 20 degrees clockwise
    (box,) = face_boxes(tilted)
    assert abs(box.turn - 20) < 4  # by the turned search or by the eyes
    turned = model_input(photo(tilted), box, 64)
    as_found = model_input(photo(tilted), FaceBox(box.left, box.top, box.side), 64)
    centre = (slice(None), slice(16, 48), slice(16, 48))
    assert np.abs(turned - reference)[centre].mean() < 0.03
    assert np.abs(as_found - reference)[centre].mean() > 0.06


def test_a_turned_crops_change_goes_back_inside_the_turned_square_only():
    tilted = rendered(5, 20, canvas=440)
    (box,) = face_boxes(tilted)
    assert abs(box.turn + 20) < 4 and box.left > 0 and box.top > 0 and box.left + box.side < 440
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


def test_a_face_found_upright_but_tilted_is_levelled_by_its_eyes():
    """Turned 15 degrees, the upright search still finds most faces; the line through the eyes
    gives the turn that stands them up. Level faces keep an upright crop."""
    levelled = 0
    for index in range(10):
        level = Image.fromarray(celeba_face(0, index, level=True)[0]).resize((256, 256), Image.BICUBIC)
        assert [face.turn for face in detect_faces(np.asarray(level))] == [0.0]
        angle = 15 if index % 2 else -15
        faces = detect_faces(np.asarray(level.rotate(angle, resample=Image.BICUBIC,
                                                     fillcolor=level.getpixel((0, 0)))))
        levelled += bool(faces) and abs(faces[0].turn + angle) < 4
    assert levelled >= 7
