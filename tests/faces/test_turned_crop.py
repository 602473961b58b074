"""A face found tilted is cropped upright, as the model was trained to see faces, and its change is
turned back onto the photo, touching nothing outside the turned square."""

import numpy as np
import torch
from PIL import Image

from starbatch.faces.detection import FaceBox, detect_faces, face_boxes
from starbatch.inference.compositing import HEAD_ELLIPSE, HEAD_FEATHER, model_input, paste_edit
from starbatch.media.images import Photo
from starbatch.synthetic.faces import celeba_face


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


def turned_paste(head: bool):
    """A tilted face's crop given +0.1 everywhere (+12.75 in uint8), pasted back; with the crop's
    own coordinates (0-1 along its turned sides) for every photo pixel."""
    tilted = rendered(5, 20, canvas=440)
    (found,) = face_boxes(tilted)
    assert abs(found.turn + 20) < 4 and found.left > 0 and found.top > 0 and found.left + found.side < 440
    box = FaceBox(found.left, found.top, found.side, found.turn, head=head)
    before = torch.from_numpy(model_input(photo(tilted), box, 64))
    change = paste_edit(photo(tilted), box, before, before + 0.1).rgb.astype(int) - tilted.astype(int)
    ys, xs = np.mgrid[0:440, 0:440] + 0.5
    angle = np.deg2rad(box.turn)  # OpenCV's counter-clockwise turn, y down
    dx, dy = xs - (box.left + box.side / 2), ys - (box.top + box.side / 2)
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / box.side + 0.5
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / box.side + 0.5
    return tilted, box, change, u, v, (np.abs(dx) < box.side / 2) & (np.abs(dy) < box.side / 2)


def test_a_turned_crops_change_goes_back_inside_the_turned_square_only():
    tilted, box, change, u, v, upright_square = turned_paste(head=False)
    edge = 1 / 32 + 2 / box.side
    inside = (np.minimum(u, v) > edge) & (np.maximum(u, v) < 1 - edge)
    outside = (np.minimum(u, v) < -2 / box.side) | (np.maximum(u, v) > 1 + 2 / box.side)
    unclipped = tilted.max(axis=2) < 240
    assert (change[outside] == 0).all()
    assert np.abs(change[inside & unclipped] - 12.75).max() <= 1
    # the turned square's corners poke out of the upright square of the same place: they are edited
    assert (change[inside & ~upright_square] != 0).any(axis=1).mean() > 0.9


def test_a_found_faces_change_covers_its_turned_head_and_spares_the_crops_corners():
    tilted, box, change, u, v, _ = turned_paste(head=True)
    centre_x, centre_y, half_width, half_height = HEAD_ELLIPSE
    radius = np.hypot((u - centre_x) / half_width, (v - centre_y) / half_height)
    unclipped = tilted.max(axis=2) < 240
    assert np.abs(change[(radius < HEAD_FEATHER[0] - 0.05) & unclipped] - 12.75).max() <= 1
    assert (change[radius > HEAD_FEATHER[1] + 0.05] == 0).all()  # the crop's corners and sides too


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
