"""Anamorphic clips (pixels not square: DV, DVD, broadcast): faces are found and framed as a player
shows the picture, the edit lands on the stored pixels, and the output keeps the pixel aspect."""

import json
from fractions import Fraction

import av
import numpy as np
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.faces.pixel_aspect import shown_scale


def frames_of(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def encode(path, pictures, pixel_aspect=None):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = pictures[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "0"}
        if pixel_aspect:
            stream.codec_context.sample_aspect_ratio = pixel_aspect
        for picture in pictures:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")))
        container.mux(stream.encode())
    return path


def edit(clip, out, model):
    report = out.with_suffix(".json")
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model), "-o", str(out),
                                      "--framing", "synthetic", "--report", str(report)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return [face for frame in json.loads(report.read_text())["sampled_frames"] for face in frame["faces"]]


def test_a_squeezed_face_is_framed_as_shown_and_the_output_keeps_the_pixel_aspect(tmp_path, model, make_clip):
    shown = frames_of(make_clip(tmp_path / "shown.mp4", width=192, height=128, frames=12, face=True))
    squeezed = [np.asarray(Image.fromarray(p).resize((96, 128), Image.BICUBIC)) for p in shown]  # stored half as wide
    clip = encode(tmp_path / "anamorphic.mp4", squeezed, Fraction(2))
    faces = edit(clip, tmp_path / "out.mp4", model)
    square = edit(encode(tmp_path / "square.mp4", shown), tmp_path / "square_out.mp4", model)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(2)
    assert len(faces) == len(square) > 0
    for face, reference in zip(faces, square, strict=True):
        corners = np.array(face["crop_corners"]) * (2, 1)  # stored -> shown pixels
        sides = np.hypot(*(corners[1] - corners[0])), np.hypot(*(corners[3] - corners[0]))
        assert abs(sides[0] / sides[1] - 1) < 0.01  # a square as shown
        # where the square clip's crop is, within the detector's reading of a resampled face
        side = np.hypot(*np.subtract(reference["crop_corners"][1], reference["crop_corners"][0]))
        assert np.abs(corners - np.array(reference["crop_corners"])).mean() < 0.03 * side
    edited = frames_of(tmp_path / "out.mp4")
    assert all(np.abs(a.astype(int) - b).mean() > 1 for a, b in zip(edited, squeezed, strict=True))


def test_a_quarter_turned_clip_is_stretched_along_its_upright_height():
    assert shown_scale(Fraction(16, 11), 0) == (16 / 11, 1.0)
    assert shown_scale(Fraction(16, 11), 90) == shown_scale(Fraction(16, 11), 270) == (1.0, 16 / 11)
    assert shown_scale(None, 90) == shown_scale(Fraction(1), 0) == (1.0, 1.0)
