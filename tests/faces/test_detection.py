"""Face detection: the model sees each face where it is, and a photo or clip with none fails clearly."""

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.faces.detection import FaceBox, centre_box, detect_faces, face_boxes, face_crop
from starbatch.inference.compositing import model_input, paste_edit
from starbatch.inference.editor import EditorSpec
from starbatch.media.images import read_photo
from starbatch.models.family import EditOptions
from starbatch.synthetic.faces import celeba_face
from starbatch.synthetic.pictures import face_like, face_photo

ONE_FACE = dict(width=400, height=300, faces=[(230, 90, 128)], seed=1)  # off-centre, right of the middle
TWO_FACES = dict(width=480, height=240, faces=[(20, 60, 130), (290, 30, 180)], seed=3)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def overlap(a: FaceBox, b: FaceBox) -> float:
    w = min(a.left + a.side, b.left + b.side) - max(a.left, b.left)
    h = min(a.top + a.side, b.top + b.side) - max(a.top, b.top)
    inter = max(0, w) * max(0, h)
    return inter / (a.side**2 + b.side**2 - inter)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 0


def test_an_off_centre_face_is_found_and_cropped_as_the_training_faces_were_framed():
    boxes = face_boxes(face_photo(**ONE_FACE))
    assert len(boxes) == 1
    assert overlap(boxes[0], FaceBox(230, 90, 128)) > 0.7  # the pasted 128 px render is the training framing


def test_a_rendered_training_face_crops_to_about_its_whole_frame():
    faces = detect_faces(celeba_face(1, 0)[0])
    assert len(faces) == 1
    unclamped = face_crop(faces[0], 10_000, 10_000)
    assert overlap(FaceBox(unclamped.left, unclamped.top, unclamped.side), FaceBox(0, 0, 128)) > 0.75


def test_heads_tilted_20_degrees_are_found_where_they_are():
    """Frontal cascades miss most heads tilted 20 degrees (0.54 found before the turned search,
    benchmarks/results/face_detection_cpu.md); the box must land on the face, not just exist."""
    found = 0
    for index in range(10):
        upright = Image.fromarray(celeba_face(0, index)[0]).resize((256, 256), Image.BICUBIC)
        tilted = upright.rotate(20 if index % 2 else -20, resample=Image.BICUBIC,
                                fillcolor=upright.getpixel((0, 0)))
        faces = detect_faces(np.asarray(tilted))
        if faces:
            centre_x, centre_y = faces[0].centre
            found += abs(centre_x - 128) < 40 and abs(centre_y - 133) < 40
    assert found >= 8


def test_face_free_pictures_give_no_face():
    ys, xs = np.mgrid[0:120, 0:160]
    gradient = np.stack([xs, ys, xs + ys], axis=2).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    for picture in (gradient, noise, face_like(160, 120, seed=3)):
        assert detect_faces(picture) == []


def test_every_example_photo_has_its_face_found():
    """The README's demo runs `starbatch edit examples/photos ...` with the default --faces detect."""
    photos = sorted((Path(__file__).parents[2] / "examples" / "photos").glob("*.jpg"))
    assert len(photos) == 6
    assert all(len(face_boxes(read_photo(path).rgb)) == 1 for path in photos)


def test_sixteen_bit_photos_are_searched_too():
    photo = face_photo(**ONE_FACE).astype(np.uint16) * 257
    assert overlap(face_boxes(photo)[0], FaceBox(230, 90, 128)) > 0.7


def test_a_further_face_in_unnatural_colours_is_dropped_but_black_and_white_photos_keep_all_faces():
    photo = face_photo(**TWO_FACES)
    blue = photo.copy()
    blue[:, :240] = blue[:, :240, ::-1]  # the left face with red and blue swapped: no skin chroma
    assert [box.left > 240 for box in face_boxes(blue)] == [True]  # (badges and patches, on real photos)
    grey = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert len(face_boxes(grey)) == 2


def test_crops_stay_inside_the_photo_and_shrink_when_it_is_too_small():
    from starbatch.faces.detection import CROP_SCALE, Detection

    side = round(60 * CROP_SCALE)
    assert face_crop(Detection(-10, -10, 60), 300, 200) == FaceBox(0, 0, side, head=True)  # shifted in
    assert face_crop(Detection(250, 150, 60), 300, 200) == FaceBox(300 - side, 200 - side, side, head=True)
    assert face_crop(Detection(20, 20, 80), 100, 90) == FaceBox(10, 0, 90, head=True)  # shrunk to fit


def test_only_the_face_is_edited_and_far_pixels_stay_bit_identical(tmp_path, model):
    photo = face_photo(**ONE_FACE)
    Image.fromarray(photo).save(tmp_path / "person.png")
    result = run("edit", tmp_path / "person.png", "--to", "Blond_Hair", "-m", model, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    edited = np.asarray(Image.open(tmp_path / "out" / "person.png"))
    box = face_boxes(photo)[0]
    inside = np.zeros(photo.shape[:2], bool)
    inside[box.top : box.top + box.side, box.left : box.left + box.side] = True
    assert not changed(photo, edited)[~inside].any()  # everything outside the face's crop is untouched
    assert changed(photo, edited)[inside].mean() > 0.4
    assert not changed(photo, edited)[:, :200].any()  # the centre square's left part: not where the face is
    # within the crop, the change covers the head and spares the corners (background)
    middle = box.side // 4
    centre = changed(photo, edited)[box.top + middle : box.top + 3 * middle, box.left + middle : box.left + 3 * middle]
    corner = changed(photo, edited)[box.top : box.top + box.side // 8, box.left : box.left + box.side // 8]
    assert centre.mean() > 0.9 and not corner.any()


def test_two_faces_get_two_edited_regions(tmp_path, model):
    photo = face_photo(**TWO_FACES)
    Image.fromarray(photo).save(tmp_path / "pair.png")
    result = run("edit", tmp_path / "pair.png", "--expression", "happy", "-m", model, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    diff = changed(photo, np.asarray(Image.open(tmp_path / "out" / "pair.png")))
    columns = diff.any(axis=0)
    assert columns[40:140].all() and columns[320:440].all()  # both faces edited
    assert not columns[180:280].any()  # the gap between them untouched


def test_a_photo_without_a_face_fails_on_one_line_and_the_others_are_edited(tmp_path, model):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(face_photo(**ONE_FACE)).save(photos / "person.jpg", quality=95)
    Image.fromarray(face_like(200, 160, seed=4)).save(photos / "wall.jpg", quality=95)
    result = run("edit", photos, "--to", "Young", "-m", model, "-o", tmp_path / "out", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    assert f"{photos / 'wall.jpg'}: no face found (--faces center edits the centre square)" in result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == ["person.jpg"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["edited"], report["failed"], report["faces"]) == (1, 1, "detect")
    assert report["failures"][0]["error"].startswith("no face found")


def test_faces_center_is_the_central_square_edit(tmp_path, model):
    photo = face_photo(**ONE_FACE)
    Image.fromarray(photo).save(tmp_path / "person.png")
    result = run("edit", tmp_path / "person.png", "--expression", "sad", "-m", model, "-o", tmp_path / "out",
                 "--faces", "center")  # fmt: skip
    assert result.exit_code == 0, result.output
    editor = EditorSpec.from_options(model, EditOptions(expression="sad"), "cpu", "fp32").build()
    photo = read_photo(tmp_path / "person.png")
    box = centre_box(*photo.size)
    before = torch.from_numpy(model_input(photo, box, 64))
    expected = paste_edit(photo, box, before, editor(before[None])[0]).rgb
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "person.png")), expected)


def test_crop_only_writes_the_largest_face(tmp_path, model):
    photo = face_photo(**TWO_FACES)
    Image.fromarray(photo).save(tmp_path / "pair.png")
    result = run("edit", tmp_path / "pair.png", "--expression", "happy", "-m", model, "-o", tmp_path / "out",
                 "--crop-only")  # fmt: skip
    assert result.exit_code == 0, result.output
    editor = EditorSpec.from_options(model, EditOptions(expression="happy"), "cpu", "fp32").build()
    largest = face_boxes(photo)[0]
    assert largest.left > 240  # the right-hand face is the larger one
    x = torch.from_numpy(model_input(read_photo(tmp_path / "pair.png"), largest, 64))[None]
    expected = ((editor(x)[0] + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "pair.png")), expected)


def test_video_with_a_face_is_edited_with_one_crop_and_without_a_face_fails(tmp_path, model, make_clip):
    import av

    face_clip = make_clip(tmp_path / "face.mp4", width=160, height=128, frames=12, face=True)
    result = run("video", face_clip, "--expression", "happy", "-m", model, "-o", tmp_path / "face_out.mp4",
                 "--crf", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    with av.open(str(face_clip)) as a, av.open(str(tmp_path / "face_out.mp4")) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
    diffs = [np.abs(x.to_ndarray(format="rgb24").astype(int) - y.to_ndarray(format="rgb24").astype(int)).max(axis=2)
             for x, y in pairs]  # fmt: skip
    # Right of the face only the codec's chroma rounding differs; the face is edited in every frame.
    assert all(d[:, 120:].mean() < 4 and d[20:80, 20:80].mean() > 20 for d in diffs)

    empty_clip = make_clip(tmp_path / "gradients.mp4", width=160, height=128, frames=12)
    result = run("video", empty_clip, "--expression", "happy", "-m", model, "-o", tmp_path / "empty_out.mp4")
    assert result.exit_code == 1
    assert result.output.strip() == (f"starbatch: error: {empty_clip}: no face found in 8 sampled frames "
                                     "(--faces center edits the centre square)")  # fmt: skip
    assert not (tmp_path / "empty_out.mp4").exists()
