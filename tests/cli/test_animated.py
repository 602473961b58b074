"""Animated PNG and WebP, and TIFFs of several pages: every frame is edited where it shows a face and
written back with its display time and the loop count; a frame without a face stays as it was."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.synthetic.faces import celeba_face

DURATIONS = [100, 120, 140, 160]


def frames_with_a_face_then_none() -> list[Image.Image]:
    """Three frames of a face moving right on a gradient, then the gradient alone."""
    face = np.asarray(Image.fromarray(celeba_face(1, 0)[0]).resize((96, 96), Image.BICUBIC))
    yy, xx = np.mgrid[0:128, 0:160]
    frames = []
    for k in range(4):
        picture = np.stack([xx % 256, (yy * 2) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
        if k < 3:
            picture[16:112, 8 + 8 * k : 104 + 8 * k] = face
        frames.append(Image.fromarray(picture))
    return frames


def read_frames(path):
    with Image.open(path) as image:
        frames = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            frames.append((np.asarray(image.convert("RGB")).astype(int), image.info.get("duration"),
                           image.info.get("loop")))
        return frames


SAVES = {"webp": dict(lossless=True, duration=DURATIONS, loop=0), "png": dict(duration=DURATIONS, loop=0),
         "tiff": dict(compression="tiff_lzw")}


@pytest.mark.parametrize("suffix", sorted(SAVES))
def test_every_frame_is_edited_and_kept_with_its_timing(tmp_path, model, suffix):
    frames = frames_with_a_face_then_none()
    source = tmp_path / f"in.{suffix}"
    frames[0].save(source, save_all=True, append_images=frames[1:], **SAVES[suffix])
    out = tmp_path / f"out.{suffix}"
    result = CliRunner().invoke(app, ["edit", str(source), "-o", str(out), "--expression", "happy", "-m", str(model),
                                      "--framing", "synthetic", "--report", str(tmp_path / "r.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    before, after = read_frames(source), read_frames(out)
    assert len(after) == 4 and [d for _, d, _ in after] == [d for _, d, _ in before]  # durations (ms)
    assert [loop for _, _, loop in after] == [loop for _, _, loop in before]
    assert all(np.abs(a - b).mean() > 0.5 for (a, _, _), (b, _, _) in zip(before[:3], after[:3], strict=True))
    assert np.array_equal(before[3][0], after[3][0])  # no face there: as it was (lossless formats)
    faces = json.loads((tmp_path / "r.json").read_text())["files"][0]["faces"]
    assert [face["frame"] for face in faces] == [0, 1, 2]


def test_an_animation_asked_for_as_a_jpeg_fails_on_one_line_and_writes_nothing(tmp_path, model):
    frames = frames_with_a_face_then_none()
    source = tmp_path / "in.webp"
    frames[0].save(source, save_all=True, append_images=frames[1:], **SAVES["webp"])
    result = CliRunner().invoke(app, ["edit", str(source), "-o", str(tmp_path / "out.jpg"), "--expression", "happy",
                                      "-m", str(model), "--framing", "synthetic"])  # fmt: skip
    assert result.exit_code == 1
    assert "4 frames, and a JPEG file holds one picture" in result.output
    assert not (tmp_path / "out.jpg").exists()


def test_a_lossless_webp_is_written_lossless(tmp_path, model):
    """Pillow does not say how a WebP was coded; its chunks do (VP8L), and a lossless one stays so:
    away from the face the edited photo is the input's pixels (q95 lossy changed them)."""
    source = tmp_path / "in.webp"
    frames_with_a_face_then_none()[0].save(source, lossless=True)
    out = tmp_path / "out.webp"
    result = CliRunner().invoke(app, ["edit", str(source), "-o", str(out), "--expression", "happy", "-m", str(model),
                                      "--framing", "synthetic"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (before, _, _), (after, _, _) = read_frames(source)[0], read_frames(out)[0]
    assert np.array_equal(before[:, 136:], after[:, 136:]) and not np.array_equal(before, after)


@pytest.mark.parametrize(("suffix", "saved"), [("jpg", dict(format="MPO", quality=95)),
                                               ("heic", dict(quality=90))])
def test_pictures_side_by_side_keep_every_picture_at_the_formats_quality(tmp_path, model, suffix, saved):
    """An MPO (.jpg holding a camera's pictures: a stereo pair, a preview) or a HEIF of several
    images (a phone's burst) is written back as one, at the quality its stills get (it was its
    first picture alone; an MPO's at Pillow's quality 75)."""
    if suffix == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()  # for Pillow to write the input and read the output here
    face, plain = frames_with_a_face_then_none()[0], frames_with_a_face_then_none()[3]
    source = tmp_path / f"in.{suffix}"
    face.save(source, save_all=True, append_images=[plain], **saved)
    out = tmp_path / f"out.{suffix}"
    result = CliRunner().invoke(app, ["edit", str(source), "-o", str(out), "--expression", "happy", "-m", str(model),
                                      "--framing", "synthetic"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.n_frames == 2 and image.format == ("MPO" if suffix == "jpg" else "HEIF")
    before, after = read_frames(source), read_frames(out)
    assert np.abs(before[0][0] - after[0][0]).mean() > 0.5  # the face edited
    # the picture without a face is its pixels encoded once more, as that format's stills are
    again = tmp_path / f"again.{suffix}"
    Image.fromarray(before[1][0].astype(np.uint8)).save(again, **({"quality": 95, "subsampling": 2}
                                                               if suffix == "jpg" else {"quality": 90}))
    assert np.array_equal(after[1][0], np.asarray(Image.open(again).convert("RGB")).astype(int))


def test_every_frame_of_an_animation_stored_sideways_is_turned_upright(tmp_path):
    """EXIF orientation 6 (viewers turn it 90 degrees clockwise) applies to every frame: reading the
    first frame reset the tag, and the later ones stayed sideways."""
    from starbatch.media.images import read_photo

    frames = frames_with_a_face_then_none()
    exif = frames[0].getexif()
    exif[0x0112] = 6
    source = tmp_path / "sideways.png"
    frames[0].save(source, save_all=True, append_images=frames[1:], exif=exif.tobytes(), **SAVES["png"])
    pictures = read_photo(source).pictures
    turned = [np.rot90(np.asarray(frame), -1) for frame in frames]  # 90 degrees clockwise
    assert [p.rgb.shape for p in pictures] == [(160, 128, 3)] * 4
    assert all(np.array_equal(p.rgb, t) for p, t in zip(pictures, turned, strict=True))
