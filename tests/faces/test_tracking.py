"""Following faces through a clip: each crop holds still through landmark noise, follows a face
that moves, fades out where its face leaves and in where one appears, and never stays on a frame
without its face."""

import json

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.faces.retinaface import Face
from starbatch.faces.tracking import FADE, FaceFollower, detect_every, searched_anyway

# A level face 60 px across (eyes 30 px apart) whose landmarks are placed by its eyes' midpoint.
SHAPE = np.array([(-15, 0), (15, 0), (0, 15), (-12, 30), (12, 30)], dtype=np.float64)


def face_at(x: float, y: float) -> Face:
    return Face((x - 30, y - 30, x + 30, y + 50), 0.99, SHAPE + (x, y))


def follow(script: dict, frames: int, every: int = 6):
    """Run a follower over frames 0..frames-1 whose faces `script(index)` gives; returns per frame
    the (centre x, weight) of each crop, and the frames the detector searched."""
    searched = []

    def detect(index):
        searched.append(int(index))
        return script(int(index))

    follower = FaceFollower(detect, "synthetic", 64, every)
    out = []
    for _, crops, _ in follower.follow(range(frames), lambda index: np.int64(index)):
        out.append([(float(crop.corners().mean(axis=0)[0]), crop.weight) for crop in crops])
    return out, searched


def test_a_still_face_gets_one_crop_that_never_moves_through_landmark_noise():
    rng = np.random.default_rng(0)
    noise = {i: rng.normal(0, 0.4, 2) for i in range(40)}
    out, _ = follow(lambda i: [face_at(100 + noise[i][0], 80 + noise[i][1])], 40)
    centres = {round(crops[0][0], 6) for crops in out}  # a micro-pixel: the same transform, up to float sums
    assert all(len(crops) == 1 and crops[0][1] == 1.0 for crops in out)
    assert len(centres) == 1  # held: no jitter


def test_a_moving_face_is_followed_frame_by_frame():
    out, _ = follow(lambda i: [face_at(100 + 4 * i, 80)], 30)
    centres = np.array([crops[0][0] for crops in out])
    true = 100 + 4 * np.arange(30)
    offset = centres[0] - true[0]  # the framing's centre is not the eyes' midpoint
    assert np.abs(centres - true - offset).max() < 1e-6  # a steady walk glides exactly


def test_a_face_that_leaves_at_a_cut_fades_out_and_is_gone_from_the_next_frame():
    cut = 15  # frames 0..14 show the face, 15.. do not; passes at 0, 6, 12, 18, 24, 29
    out, searched = follow(lambda i: [face_at(100, 80)] if i < cut else [], 30)
    assert all(not crops for crops in out[cut:])  # no crop over a picture without its face
    weights = [crops[0][1] for crops in out[:cut]]
    assert weights[: cut - FADE] == [1.0] * (cut - FADE)
    assert np.all(np.diff(weights[cut - FADE - 1 :]) < 0) and 0 < weights[-1] < 0.5  # fading, not cut off
    assert len(searched) <= 6 + 3  # the passes, and a bisection of the six frames where the face went


def test_a_face_that_appears_fades_in_from_its_first_frame():
    arrival = 9
    out, _ = follow(lambda i: [face_at(100, 80)] if i >= arrival else [], 30)
    assert all(not crops for crops in out[:arrival])
    weights = [crops[0][1] for crops in out[arrival:]]
    assert np.all(np.diff(weights[: FADE + 1]) > 0) and weights[FADE:] == [1.0] * (len(weights) - FADE)


def test_a_cut_from_one_face_to_another_elsewhere_ends_one_edit_and_starts_the_other():
    cut = 10
    out, _ = follow(lambda i: [face_at(100, 80)] if i < cut else [face_at(300, 90)], 24)
    assert all(len(crops) == 1 and crops[0][0] < 200 for crops in out[:cut])
    assert all(len(crops) == 1 and crops[0][0] > 200 for crops in out[cut:])  # never glides across


@pytest.mark.parametrize("enters", [True, False])
def test_a_moving_face_that_appears_or_leaves_is_followed_to_its_first_and_last_frames(enters):
    """A face walking in (found first at frame 9) or out (last at 14): its crop glides with it from
    the first frame and up to the last one, where the bisection found it, not held at the pass's place."""
    def script(i):
        return [face_at(100 + 5 * i, 80)] if (i >= 9 if enters else i < 15) else []

    out, _ = follow(script, 30)
    shown = [(i, crops[0][0]) for i, crops in enumerate(out) if crops]
    assert [i for i, _ in shown] == (list(range(9, 30)) if enters else list(range(15)))
    offsets = [x - (100 + 5 * i) for i, x in shown]
    assert max(offsets) - min(offsets) < 1e-6


def test_a_cut_to_another_face_nearby_is_a_cut_not_a_glide():
    """A film cuts from one face to another a face width away (nearer than SAME_FACE crop sides): the
    edit ends on the first face and starts on the second, and no frame gets a crop in between."""
    cut = 10  # passes at 0, 6, 12: the pass after the cut finds a face near enough to be the first one
    out, searched = follow(lambda i: [face_at(100, 80)] if i < cut else [face_at(160, 80)], 24)
    before, after = out[0][0][0], out[-1][0][0]
    assert abs(after - before - 60) < 1e-6
    assert all(len(crops) == 1 and abs(crops[0][0] - before) < 1e-6 for crops in out[:cut])
    assert all(len(crops) == 1 and abs(crops[0][0] - after) < 1e-6 for crops in out[cut:])
    assert [crops[0][1] for crops in out[cut - FADE - 1:cut]] == sorted((c[0][1] for c in out[cut - FADE - 1:cut]),
                                                                       reverse=True)  # fades out up to the cut
    assert out[cut][0][1] < 1 and out[cut + FADE][0][1] == 1.0  # and the other fades in from it
    assert 9 in searched  # the window's middle, where neither face would be under a glide


def test_a_face_moving_fast_still_glides():
    out, _ = follow(lambda i: [face_at(100 + 12 * i, 80)], 24)  # 72 px a pass: the middle frame confirms it
    centres = np.array([crops[0][0] for crops in out])
    assert np.allclose(np.diff(centres), 12) and all(crops[0][1] == 1.0 for crops in out)


def test_two_faces_are_followed_each_with_its_own_crop():
    out, _ = follow(lambda i: [face_at(100 + i, 80), face_at(300 - i, 80)], 20)
    assert all(len(crops) == 2 for crops in out)
    assert all(sorted(x for x, _ in crops)[0] < 130 and sorted(x for x, _ in crops)[1] > 260 for crops in out)


def test_detection_runs_about_twice_a_second():
    assert detect_every(30.0) == 15 and detect_every(24.0) == 12 and detect_every(1.0) == 1
    assert detect_every(None) == 12  # no frame rate in the container: assume 25


def frames_of(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]


def test_a_face_walking_across_the_clip_stays_edited(tmp_path, model, make_clip):
    walk, frames, side = 5, 30, 96  # the face moves 145 px, half the frame's width, in one second
    clip = make_clip(tmp_path / "walk.mp4", width=288, height=128, frames=frames, face=True, walk=walk)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model),
                                      "-o", str(out), "--crf", "0", "--framing", "synthetic"])
    assert result.exit_code == 0, result.output
    pairs = list(zip(frames_of(clip), frames_of(out), strict=True))
    assert len(pairs) == frames
    for index, (before, after) in enumerate(pairs):
        diff = np.abs(before - after).max(axis=2)
        columns = np.nonzero(diff.mean(axis=0) > 8)[0]  # columns the edit changed
        face_centre = 2 + index * walk + side / 2
        edited_centre = (columns.min() + columns.max()) / 2
        assert abs(edited_centre - face_centre) < 16, (index, edited_centre, face_centre)
        assert columns.min() <= face_centre - 30 and columns.max() >= face_centre + 30, index


def test_a_clip_without_a_face_is_written_unchanged_or_fails_with_no_face_fail(tmp_path, model, make_clip):
    clip = make_clip(tmp_path / "gradients.mp4", width=160, height=128, frames=12)
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model),
                                      "-o", str(tmp_path / "copy.mp4"), "--crf", "0"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copy.mp4").read_bytes() == clip.read_bytes()  # written unchanged: the same file
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model),
                                      "-o", str(tmp_path / "fail.mp4"), "--no-face", "fail"])
    assert result.exit_code == 1
    assert result.output.strip().endswith(f"starbatch: error: {clip}: no face found in any frame "
                                          "(--no-face copy writes it unchanged)")  # fmt: skip
    assert not (tmp_path / "fail.mp4").exists()


def test_a_face_smaller_than_min_face_is_not_followed(tmp_path, model, make_clip):
    """The clip's face (a 96 px rendered portrait) is edited by default; --min-face 120 looks for none
    that small."""
    clip = make_clip(tmp_path / "face.mp4", width=160, height=128, frames=12, face=True)
    outcomes = {}
    for min_face in ("40", "120"):
        result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model), "-o",
                                          str(tmp_path / f"out{min_face}.mp4"), "--no-face", "fail",
                                          "--min-face", min_face])  # fmt: skip
        outcomes[min_face] = (result.exit_code, "no face found in any frame" in result.output)
    assert outcomes == {"40": (0, False), "120": (1, True)}


def cut_clip(tmp_path, make_clip, cut: int, frames: int = 30, gop: int = 250, pix_fmt: str = "yuv444p",
             colour: tuple[int, int, int] | None = None):
    """A clip whose face's frames are followed from `cut` on by a title card (a face-free clip's),
    encoded losslessly in `pix_fmt`; `colour` (primaries, transfer, matrix) tags it, and its
    pixels are turned into YUV by that matrix, as a camera's are."""
    face = frames_of(make_clip(tmp_path / "face.mp4", width=160, height=128, frames=frames, face=True))
    card = frames_of(make_clip(tmp_path / "card.mp4", width=160, height=128, frames=frames))
    clip = tmp_path / "cut.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 128, pix_fmt
        stream.options = {"crf": "0", "g": str(gop), "keyint_min": str(gop)}
        if colour:
            context = stream.codec_context
            context.color_primaries, context.color_trc, context.colorspace = colour
        for picture in face[:cut] + card[cut:]:
            frame = av.VideoFrame.from_ndarray(picture.astype(np.uint8), format="rgb24")
            if colour:
                frame = frame.reformat(format=pix_fmt, dst_colorspace=colour[2])
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return clip


def planes(path):
    """Every frame's planes as stored, and the stream's pixel format and colour tags."""
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        tags = (context.pix_fmt, context.color_primaries, context.color_trc, context.colorspace)
        return [stored(frame) for frame in container.decode(video=0)], tags


def stored(frame: av.VideoFrame) -> np.ndarray:
    """A frame's planes as stored (samples, without line padding), one after the other: luma rows first."""
    rows = []
    for plane, component in zip(frame.planes, frame.format.components, strict=False):
        width = plane.width * (2 if component.bits > 8 else 1)
        rows.append(np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :width])
    return np.concatenate([r.reshape(-1) for r in rows])


def test_at_a_cut_to_a_picture_without_a_face_the_edit_stops_on_the_cut(tmp_path, model, make_clip):
    cut = 14
    clip = cut_clip(tmp_path, make_clip, cut)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model), "-o", str(out),
                                      "--crf", "0", "--framing", "synthetic", "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    diffs = [np.abs(a - b).max(axis=2) for a, b in zip(frames_of(clip), frames_of(out), strict=True)]
    assert all(d[20:80, 20:80].mean() > 20 for d in diffs[: cut - FADE])  # the face edited up to the fade
    assert all(d.mean() < 4 for d in diffs[cut:])  # after the cut only the codec's rounding differs
    sampled = json.loads((tmp_path / "r.json").read_text())["sampled_frames"]
    assert sampled[0]["frame"] == 0 and len(sampled[0]["faces"][0]["crop_corners"]) == 4


# yuvj: full-range, as webcams' MJPEG decodes (4:2:2 as many do); 4:4:4 and 10 bits as editing
# software and phones write them; all but the first tagged BT.709, as most HD video is
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p", "yuvj422p", "yuv444p", "yuv420p10le"])
def test_a_clip_keeps_its_pixel_format_colours_and_frames_without_a_face_bit_for_bit(tmp_path, model, make_clip,
                                                                                     pix_fmt):
    """Frames without a face are encoded from the decoded frames, not through RGB and back: with
    --crf 0 and the input's pixel format kept (chroma, bit depth, range), each is exactly the input's.
    An edited frame goes back from RGB by the matrix PyAV decoded it by (BT.709 here), at 16 bits a
    channel for a 10-bit clip, so away from the face it is its input frame through RGB and back at
    that depth (by BT.601 it was 7 levels of luma off on average; through 8 bits a 10-bit clip lost
    its 2 low bits, up to 12 levels); the output is tagged as the input (an untagged one stays so)."""
    cut, bt709 = 14, (1, 1, 1)  # AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace: BT.709
    colour = None if pix_fmt == "yuv420p" else bt709
    clip = cut_clip(tmp_path, make_clip, cut, pix_fmt=pix_fmt, colour=colour)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model), "-o", str(out),
                                      "--crf", "0", "--framing", "synthetic"])
    assert result.exit_code == 0, result.output
    (before, _), (after, tags) = planes(clip), planes(out)
    assert tags == (pix_fmt, *(colour or (2, 2, 2)))
    assert len(before) == len(after) == 30
    assert all(np.array_equal(a, b) for a, b in zip(before[cut:], after[cut:], strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(before[: cut - FADE], after[: cut - FADE], strict=True))

    deep = pix_fmt.endswith("10le")
    through = "rgb48le" if deep else "rgb24"

    def luma(frame):  # the right 30 columns, away from the face
        plane = frame.planes[0]
        samples = np.frombuffer(plane, np.uint16 if deep else np.uint8)
        return samples.reshape(plane.height, -1)[:, 130:160].astype(int)

    with av.open(str(clip)) as container:
        through_rgb = [luma(av.VideoFrame.from_ndarray(frame.to_ndarray(format=through), format=through)
                            .reformat(format=pix_fmt, dst_colorspace=colour and colour[2]))
                       for frame in container.decode(video=0)]
    with av.open(str(out)) as container:
        edited = [luma(frame) for frame in container.decode(video=0)]
    assert max(np.abs(edited[i] - through_rgb[i]).max() for i in range(cut - FADE)) <= 1  # one level of rounding


def test_a_follower_given_the_regular_passes_makes_the_crops_of_one_that_searched_itself():
    """Ray's workers make the regular passes (first, every `every`-th, last frame) and the driver
    follows from them: it searches only what a bisection adds, and the crops are the same."""
    cut = 15
    script = lambda i: [face_at(100 + 0.3 * i, 80)] if i < cut else [face_at(300, 90)]  # noqa: E731
    alone, searched_alone = follow(script, 30)
    given = {i: script(i) for i in range(30) if searched_anyway(i, 30, 6)}
    searched = []

    def detect(index):
        searched.append(int(index))
        return script(int(index))

    follower = FaceFollower(detect, "synthetic", 64, 6, given)
    out = [[(float(crop.corners().mean(axis=0)[0]), crop.weight) for crop in crops]
           for _, crops, _ in follower.follow(range(30), lambda index: np.int64(index))]
    assert out == alone
    assert searched and set(searched) == set(searched_alone) - set(given)  # the bisection's frames only


def test_following_a_whole_clip_from_its_segments_passes_is_following_it_in_one_go(tmp_path, make_clip):
    """follow_clip (Ray's driver) over the passes segment_searches made per keyframe segment, with
    a cut in the clip (the bisection's frames decoded on their own), gives the whole-clip follower's
    crops at every frame."""
    from starbatch.engines.video import follow_clip, segment_searches, upright_photo
    from starbatch.faces.detection import find_faces
    from starbatch.media.video import decode_segment, plan_segments, probe

    info = probe(cut_clip(tmp_path, make_clip, cut=17, gop=6))
    segments = plan_segments(info, 4)
    assert len(segments) >= 3
    searched = {}
    for segment in segments:
        searched.update(segment_searches(info, segment))
    planned = follow_clip(info, searched, "synthetic", 64)
    follower = FaceFollower(find_faces, "synthetic", 64, detect_every(info.average_rate and float(info.average_rate)))
    whole = follower.follow((upright_photo(f, 0).rgb for f in decode_segment(info.path, plan_segments(info, 1)[0])),
                            lambda rgb: rgb)  # fmt: skip
    expected = [[crop.corners() for crop in crops] for _, crops, _ in whole]
    assert len(planned) == len(expected) == 30
    assert sum(map(len, expected[:17])) == 17 and not any(expected[17:])  # the face followed, then gone
    for (crops, _), corners in zip(planned, expected, strict=True):
        assert len(crops) == len(corners)
        assert all(np.array_equal(crop.corners(), other) for crop, other in zip(crops, corners, strict=True))
