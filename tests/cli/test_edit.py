"""`starbatch edit` on a photo tree as a user runs it."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.models.model_file import save_model
from starbatch.models.stargan_v1.official import import_official
from starbatch.synthetic.pictures import face_like
from tests.models import official_stargan as official

GOOD = ["portrait.jpg", "trip/landscape.png", "trip/alpha.png", "trip/gray.png", "trip/day2/photo.webp",
        "trip/day2/scan.bmp", "trip/day2/scan.tiff", "cmyk.jpg", "deep16.png", "rotated.jpg"]
BAD = ["truncated.jpg", "notimage.png", "empty.webp", "bomb.png"]


def digest(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# These photos are face-free stand-ins (factories.face_like) and the tests are about files, formats
# and runs, not faces: they edit the central square. Face detection has its own tests.
CENTRE = ("--faces", "center")


def test_edits_every_good_file_in_its_own_size_mode_and_format(tmp_path, model, write_photo_tree):
    photos = tmp_path / "photos"
    write_photo_tree(photos)
    before = digest(photos)
    result = run("edit", photos, "--to", "Black_Hair,Young", "-m", model, "-o", tmp_path / "out",
                 "--report", tmp_path / "report.json", *CENTRE)
    assert result.exit_code == 1, result.output  # the bad files fail the run
    assert digest(photos) == before  # no input touched
    for name in GOOD:
        source, output = Image.open(photos / name), Image.open(tmp_path / "out" / name)
        expected_size = source.size[::-1] if name == "rotated.jpg" else source.size
        assert output.size == expected_size, name
        assert (output.mode, output.format) == (source.mode, source.format), name
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["edited"] == len(GOOD) and report["failed"] == len(BAD)
    failed = {os.path.relpath(f["input"], photos): f["error"] for f in report["failures"]}
    assert sorted(failed) == sorted(BAD)
    assert "decompression bomb" in failed["bomb.png"] and "truncated" in failed["truncated.jpg"]
    assert failed["empty.webp"] == "empty file (0 bytes)" and "damaged or wrong format" in failed["notimage.png"]
    for name in BAD:
        assert f"{photos / name}:" in result.output  # each bad file named with its cause, one line
        assert not (tmp_path / "out" / name).exists()
    assert "Traceback" not in result.output
    assert not list((tmp_path / "out").rglob(".*partial"))


def test_exif_rotation_is_applied_and_reset(tmp_path, model, write_photo_tree):
    photos = tmp_path / "photos"
    files = write_photo_tree(photos)
    run("edit", files["rotated.jpg"], "--to", "Male", "-m", model, "-o", tmp_path / "out", *CENTRE)
    output = Image.open(tmp_path / "out" / "rotated.jpg")
    assert output.size == (80, 120)
    assert output.getexif().get(0x0112, 1) == 1


def test_pixels_outside_the_face_square_are_untouched(tmp_path, model):
    wide = face_like(240, 100, seed=3)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    result = run("edit", tmp_path / "wide.png", "--to", "Blond_Hair", "-m", model, "-o", tmp_path / "out",
                 *CENTRE)
    assert result.exit_code == 0, result.output
    edited = np.asarray(Image.open(tmp_path / "out" / "wide.png"))
    left, side = (240 - 100) // 2, 100
    np.testing.assert_array_equal(edited[:, :left], wide[:, :left])
    np.testing.assert_array_equal(edited[:, left + side:], wide[:, left + side:])
    assert np.abs(edited[:, left + 10 : left + side - 10].astype(int) - wide[:, left + 10 : left + side - 10]).max() > 5


def test_crop_only_matches_the_official_forward(tmp_path):
    reference = official.trained_like(official.Generator(conv_dim=16, c_dim=5, repeat_num=2), seed=4)
    torch.save(reference.state_dict(), tmp_path / "G.ckpt")
    config, g_state, _ = import_official(tmp_path / "G.ckpt", "celeba", image_size=64)
    save_model(tmp_path / "celeba.safetensors", config, {"generator": g_state})
    photo = face_like(150, 110, seed=5)
    Image.fromarray(photo).save(tmp_path / "face.jpg", quality=95)
    result = run("edit", tmp_path / "face.jpg", "--to", "Black_Hair", "--from", "Blond_Hair,Young",
                 "-m", tmp_path / "celeba.safetensors", "-o", tmp_path / "out", "--crop-only", *CENTRE)
    assert result.exit_code == 0, result.output
    # The official pipeline: centre square crop, torchvision-style Resize (PIL bilinear), [-1, 1].
    image = Image.open(tmp_path / "face.jpg").convert("RGB")
    crop = image.crop((20, 0, 130, 110)).resize((64, 64), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        y = reference(x, torch.tensor([[1.0, 0, 0, 0, 1]]))
    expected = ((y[0] + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    ours = np.asarray(Image.open(tmp_path / "out" / "face.png"))
    assert ours.shape == (64, 64, 3)
    assert np.abs(ours.astype(int) - expected).max() <= 1


def test_rerun_skips_finished_outputs_and_overwrite_redoes_them(tmp_path, model):
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    first = run("edit", tmp_path / "a.png", "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert first.exit_code == 0
    stamp = (tmp_path / "out" / "a.png").stat().st_mtime_ns
    again = run("edit", tmp_path / "a.png", "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert "skipping 1 already edited" in again.output
    assert (tmp_path / "out" / "a.png").stat().st_mtime_ns == stamp
    redo = run("edit", tmp_path / "a.png", "--to", "Young", "-m", model, "-o", tmp_path / "out", "--overwrite",
               *CENTRE)
    assert redo.exit_code == 0 and (tmp_path / "out" / "a.png").stat().st_mtime_ns != stamp


def test_output_folder_inside_the_input_is_not_read_back(tmp_path, model):
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    for _ in range(2):
        result = run("edit", tmp_path, "--to", "Young", "-m", model, "-o", tmp_path / "edited", *CENTRE)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "edited").rglob("*.png")) == ["a.png"]


def test_unknown_attribute_fails_before_any_work(tmp_path, model):
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    result = run("edit", tmp_path, "--to", "Blond_Hiar", "-m", model, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "Did you mean 'Blond_Hair'" in result.output and "Valid: Black_Hair" in result.output
    assert not (tmp_path / "out").exists()


def test_without_classifier_or_from_the_error_says_what_to_do(tmp_path, random_model):
    model = random_model(tmp_path / "noD.safetensors", "celeba", with_discriminator=False)
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    result = run("edit", tmp_path / "a.png", "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 2 and "give them with --from" in result.output
    ok = run("edit", tmp_path / "a.png", "--to", "Young", "--from", "Male", "-m", model, "-o", tmp_path / "out",
             *CENTRE)
    assert ok.exit_code == 0, ok.output


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("STARBATCH_MODEL", raising=False)
    monkeypatch.setattr("starbatch.cli.common.BUNDLED_MODEL", tmp_path / "none.safetensors")
    result = run("edit", tmp_path, "--to", "Young")
    assert result.exit_code == 2 and "no model" in result.output


def test_help_does_not_import_torch_ray_or_opencv():
    code = ("import sys; from typer.testing import CliRunner; from starbatch.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "print(sorted(m for m in ('torch', 'ray', 'cv2') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_run_killed_midway_resumes_to_a_complete_decodable_tree(tmp_path, model):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(40):
        Image.fromarray(face_like(160, 120, seed=i)).save(photos / f"{i:02d}.jpg", quality=90)
    command = [sys.executable, "-m", "starbatch", "edit", str(photos), "--to", "Black_Hair",
               "-m", str(model), "-o", str(tmp_path / "out"), "--batch-size", "2", *CENTRE]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((tmp_path / "out").glob("*.jpg"))) < 4:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((tmp_path / "out").glob("*.jpg")))
    assert 0 < done_before < 40, "the kill should land mid-run"
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipping {done_before} already edited" in resumed.stderr
    outputs = sorted((tmp_path / "out").glob("*.jpg"))
    assert len(outputs) == 40
    for path in outputs:
        Image.open(path).load()  # every output decodes completely
    assert not list((tmp_path / "out").glob(".*partial"))


def test_full_disk_names_the_file_and_the_run_goes_on(tmp_path, model, monkeypatch):
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(face_like(64, 64)).save(tmp_path / name)
    import starbatch.engines.photos

    real_write = starbatch.engines.photos.write_atomically

    def write_or_fill_disk(path, data):
        if path.name == "b.png":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(starbatch.engines.photos, "write_atomically", write_or_fill_disk)
    result = run("edit", tmp_path, "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 1
    assert f"{tmp_path / 'b.png'}: disk full while writing the output" in result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png", "c.png"]
    assert not list((tmp_path / "out").glob(".*partial"))


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png_and_tiff_keep_their_depth_and_alpha(tmp_path, model, channels, suffix):
    import cv2

    rng = np.random.default_rng(channels)
    deep = (face_like(96, 64, seed=3).astype(np.uint16) * 257) ^ rng.integers(0, 256, (64, 96, 3), dtype=np.uint16)
    planes = [deep[:, :, ::-1]] + ([rng.integers(0, 65536, (64, 96, 1), dtype=np.uint16)] if channels == 4 else [])
    source = np.concatenate(planes, axis=2)
    name = f"deep{suffix}"
    assert cv2.imwrite(str(tmp_path / name), source)
    result = run("edit", tmp_path / name, "--to", "Black_Hair", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == source.shape
    # centre square of a 96x64 photo: columns 16..79 are edited, the rest comes back to the bit
    assert np.array_equal(written[:, :16], source[:, :16]) and np.array_equal(written[:, 80:], source[:, 80:])
    assert (written[:, 16:80, :3] != source[:, 16:80, :3]).any()
    assert np.array_equal(written[:, :, 3:], source[:, :, 3:])  # alpha untouched
    assert (written[:, :16].astype(np.int64) & 0xFF).any()  # low bytes survive: not 8-bit data scaled up


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_16_bit_colour_photo_with_an_orientation_tag_is_edited_upright(tmp_path, model, suffix, deep_tiff,
                                                                       with_orientation):
    """Stored 96 wide and 64 high, shown turned a quarter clockwise (orientation 6): the model sees,
    and the output keeps, the upright 64 x 96 picture at 16 bits."""
    import cv2

    stored = np.random.default_rng(6).integers(0, 65536, (64, 96, 3), dtype=np.uint16)
    data = deep_tiff(stored, 6) if suffix == ".tiff" else with_orientation(
        cv2.imencode(".png", stored[:, :, ::-1])[1].tobytes(), 6)
    (tmp_path / f"turned{suffix}").write_bytes(data)
    result = run("edit", tmp_path / f"turned{suffix}", "--to", "Black_Hair", "-m", model, "-o", tmp_path / "out",
                 *CENTRE)
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(tmp_path / "out" / f"turned{suffix}"), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    upright = np.rot90(stored, -1)
    assert written.dtype == np.uint16 and written.shape == upright.shape == (96, 64, 3)
    # the centre square of the upright picture is rows 16..79: above and below come back exactly
    assert np.array_equal(written[:16], upright[:16]) and np.array_equal(written[80:], upright[80:])
    assert (written[16:80] != upright[16:80]).any()
