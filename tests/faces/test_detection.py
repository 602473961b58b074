"""Faces in the product: each face found is aligned to the model's framing, edited there and only
there; a photo without a face is written unchanged; the report says where every crop came from."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.faces.alignment import FRAMINGS, crop_corners, framing
from starbatch.faces.detection import centre_box, placements
from starbatch.inference.compositing import model_input, paste_edit
from starbatch.inference.editor import EditorSpec
from starbatch.media.images import read_photo
from starbatch.models.family import FRAMINGS as HEADER_FRAMINGS
from starbatch.models.family import EditOptions
from starbatch.synthetic.faces import place_face
from starbatch.synthetic.pictures import face_like, face_photo

ONE_FACE = dict(width=400, height=300, faces=[(230, 90, 128)], seed=1)  # off-centre, right of the middle
TWO_FACES = dict(width=480, height=240, faces=[(20, 60, 130), (290, 30, 180)], seed=3)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 0


def inside(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which pixel centres of a (H, W) photo lie inside the crop's quadrilateral."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    result = np.ones(shape, bool)
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):  # clockwise on screen (y down)
        result &= (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]) >= 0
    return result


def test_the_header_and_the_aligner_know_the_same_framings():
    assert set(HEADER_FRAMINGS) == set(FRAMINGS)


def test_a_real_face_turned_in_a_larger_photo_is_cropped_where_it_came_from(astronaut, backdrop):
    """The product's crop (placements) lands where the portrait's own crop went when the portrait
    was turned and moved: within 3% of the side on average over eight placements (the issue's goal;
    benchmarks/face_detection.py measures it over many). One placement alone is not a measure: this
    one's errors spread 1.8-3.3%, and a CPU with other vector units rounds the network differently
    (the first placement gave 2.4% on an Intel Xeon, 3.0% on an AMD EPYC)."""
    (reference,) = placements(astronaut, "detect", "celeba", 128)

    def turn(corners):  # degrees counter-clockwise on screen (y points down)
        return -np.degrees(np.arctan2(*(corners[1] - corners[0])[::-1]))

    errors, turn_errors = [], []
    for index, (side, degrees, centre) in enumerate([
            (200, 20, (380, 260)), (160, -25, (250, 200)), (240, 10, (320, 240)), (140, 30, (200, 300)),
            (180, -15, (420, 220)), (220, -30, (330, 250)), (120, 25, (450, 330)), (260, -5, (300, 250))]):
        photo, landmarks = place_face(backdrop(640, 480, index), astronaut, reference.face.landmarks, side, degrees,
                                      centre)
        (crop,) = placements(photo, "detect", "celeba", 128)
        true = crop_corners(framing("celeba").crop_transform(landmarks, 128), 128)
        errors.append(np.hypot(*(crop.corners() - true).T).mean() / np.hypot(*(true[1] - true[0])))
        turn_errors.append(abs(turn(crop.corners()) - turn(reference.corners()) - degrees))
    assert np.mean(errors) < 0.03
    # turned with the face: 2.4 degrees off alone would move the corners by the goal's 3% (0.71 d)
    assert np.mean(turn_errors) < 2.4


def test_only_the_face_is_edited_and_pixels_outside_its_crop_stay_bit_identical(tmp_path, model):
    photo = face_photo(**ONE_FACE)
    Image.fromarray(photo).save(tmp_path / "person.png")
    result = run("edit", tmp_path / "person.png", "--to", "Blond_Hair", "-m", model, "-o", tmp_path / "out",
                 "--framing", "synthetic", "--report", tmp_path / "r.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    edited = np.asarray(Image.open(tmp_path / "out" / "person.png"))
    (entry,) = json.loads((tmp_path / "r.json").read_text())["files"]
    (face,) = entry["faces"]
    assert entry["status"] == "edited" and face["score"] > 0.9 and len(face["landmarks"]) == 5
    crop = inside(np.array(face["crop_corners"]), photo.shape[:2])
    assert not changed(photo, edited)[~crop].any()
    # the head mask: the face's middle changes, the crop's corners (background) do not
    left, top, right, bottom = face["box"]
    middle = changed(photo, edited)[int(top + (bottom - top) / 4) : int(bottom - (bottom - top) / 4),
                                    int(left + (right - left) / 4) : int(right - (right - left) / 4)]  # fmt: skip
    assert middle.mean() > 0.9
    corner = np.array(face["crop_corners"][0]).astype(int) + 4
    assert not changed(photo, edited)[corner[1] : corner[1] + 8, corner[0] : corner[0] + 8].any()


def test_two_faces_get_two_edited_regions(tmp_path, model):
    photo = face_photo(**TWO_FACES)
    Image.fromarray(photo).save(tmp_path / "pair.png")
    result = run("edit", tmp_path / "pair.png", "--expression", "happy", "-m", model, "-o", tmp_path / "out",
                 "--framing", "synthetic")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 faces edited in 1 photo, 0 without a face" in result.output
    diff = changed(photo, np.asarray(Image.open(tmp_path / "out" / "pair.png")))
    columns = diff.any(axis=0)
    assert columns[50:130].all() and columns[330:430].all()  # both faces edited
    assert not columns[195:270].any()  # the gap between them untouched


def face_and_wall(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(face_photo(**ONE_FACE)).save(photos / "person.jpg", quality=95)
    Image.fromarray(face_like(200, 160, seed=4)).save(photos / "wall.jpg", quality=95)
    return photos


def test_a_photo_without_a_face_is_copied_byte_for_byte_and_reported(tmp_path, model):
    photos = face_and_wall(tmp_path)
    result = run("edit", photos, "--to", "Young", "-m", model, "-o", tmp_path / "out", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "1 face edited in 1 photo, 1 without a face" in result.output
    assert (tmp_path / "out" / "wall.jpg").read_bytes() == (photos / "wall.jpg").read_bytes()
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["edited"], report["without_face"], report["failed"]) == (1, 1, 0)
    statuses = {entry["input"]: (entry["status"], len(entry["faces"])) for entry in report["files"]}
    assert statuses == {str(photos / "person.jpg"): ("edited", 1), str(photos / "wall.jpg"): ("no face", 0)}


@pytest.mark.parametrize("policy, code", [("skip", 0), ("fail", 1)])
def test_no_face_skip_writes_nothing_and_fail_fails_that_photo(tmp_path, model, policy, code):
    photos = face_and_wall(tmp_path)
    result = run("edit", photos, "--to", "Young", "-m", model, "-o", tmp_path / "out", "--no-face", policy)
    assert result.exit_code == code, result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == ["person.jpg"]
    assert (f"failed  {photos / 'wall.jpg'}: no face found" in result.output) == (policy == "fail")


def test_min_face_leaves_smaller_faces_alone_and_a_rerun_with_another_is_told(tmp_path, model):
    """A 53 px and a 140 px face (detector boxes): --min-face 120 edits the large one only, and
    every pixel of the small one comes back as it was."""
    photo = face_photo(width=640, height=400, faces=[(20, 120, 110), (250, 20, 360)], seed=3)
    Image.fromarray(photo).save(tmp_path / "two.png")
    counts = {}
    for min_face in (40, 120):
        out, report = tmp_path / f"out{min_face}", tmp_path / f"r{min_face}.json"
        result = run("edit", tmp_path / "two.png", "--to", "Young", "-m", model, "-o", out, "--report", report,
                     "--min-face", min_face)  # fmt: skip
        assert result.exit_code == 0, result.output
        (entry,) = json.loads(report.read_text())["files"]
        counts[min_face] = len(entry["faces"])
        edited = np.asarray(Image.open(out / "two.png").convert("RGB"))
        assert changed(photo[140:220, 20:130], edited[140:220, 20:130]).any() == (min_face == 40)
    assert counts == {40: 2, 120: 1}
    result = run("edit", tmp_path / "two.png", "--to", "Young", "-m", model, "-o", tmp_path / "out120")
    assert result.exit_code == 2 and "min_face 120 -> 40" in result.output


def test_min_face_travels_in_the_spec_ray_workers_build_their_editors_from(model):
    spec = EditorSpec.from_options(model, EditOptions(to="Young"), "cpu", "fp32", min_face=120)
    assert spec.min_face == 120 and spec.build().min_face == 120


def test_min_face_below_what_the_search_sees_is_refused(tmp_path, model):
    result = run("edit", tmp_path, "--to", "Young", "-m", model, "--min-face", 20)
    assert result.exit_code == 2 and "--min-face" in result.output


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


@pytest.mark.parametrize("framing_name", ["celeba", "none"])
def test_crop_only_writes_the_largest_faces_crop_in_the_framing_asked_for(tmp_path, model, framing_name):
    photo = face_photo(**TWO_FACES)
    Image.fromarray(photo).save(tmp_path / "pair.png")
    result = run("edit", tmp_path / "pair.png", "--expression", "happy", "-m", model, "-o", tmp_path / "out",
                 "--crop-only", "--framing", framing_name)  # fmt: skip
    assert result.exit_code == 0, result.output
    editor = EditorSpec.from_options(model, EditOptions(expression="happy"), "cpu", "fp32").build()
    largest = placements(photo, "detect", framing_name, 64)[0]
    if framing_name == "celeba":
        assert largest.corners()[:, 0].min() > 240  # the right-hand face is the larger one
    else:  # the inputs are aligned crops: the whole photo, no face looked for
        np.testing.assert_allclose(largest.corners(), [(0, 0), (480, 0), (480, 240), (0, 240)])
    x = torch.from_numpy(model_input(read_photo(tmp_path / "pair.png"), largest, 64))[None]
    expected = ((editor(x)[0] + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "pair.png")), expected)


def test_a_model_file_states_its_framing(tmp_path, model, random_model):
    from starbatch.cli.common import BUNDLED_MODEL
    from starbatch.models.model_file import read_header
    from starbatch.models.registry import read_config

    assert json.loads(read_header(BUNDLED_MODEL)[0]["starbatch"])["framing"] == "synthetic"  # stored, not guessed
    assert read_config(model).framing == "celeba"  # no notes: taken for imported official weights
    assert EditorSpec.from_options(model, EditOptions(to="Young"), framing="none").framing == "none"  # --framing
    result = run("info", BUNDLED_MODEL)
    assert "synthetic" in result.output


def test_a_16_bit_photo_is_aligned_and_keeps_its_depth(tmp_path, model):
    photo = face_photo(**ONE_FACE).astype(np.uint16) * 257
    crops = placements(photo, "detect", "synthetic", 64)
    assert len(crops) == 1
    from starbatch.media.images import Photo

    deep = Photo(photo, "RGB;16", "PNG")
    x = torch.from_numpy(model_input(deep, crops[0], 64))
    pasted = paste_edit(deep, crops[0], x, -x).rgb
    assert pasted.dtype == np.uint16 and (pasted % 257 != 0).any()  # edited at 16 bits, not 8
