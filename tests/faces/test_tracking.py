"""Following a face through a clip: the crop holds still through detection noise and follows a face
that moves, frame by frame."""

import av
import numpy as np
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.faces.detection import Detection
from starbatch.faces.tracking import FaceTrack, detect_every


def test_the_crop_holds_through_jitter_and_moves_with_the_face():
    track = FaceTrack(Detection(100.0, 100.0, 80.0))
    assert track.update([Detection(104.0, 97.0, 84.0)]) == Detection(100.0, 100.0, 80.0)
    assert track.update([]) == Detection(100.0, 100.0, 80.0)  # nothing found: held
    assert track.update([Detection(130.0, 100.0, 80.0)]) == Detection(130.0, 100.0, 80.0)
    assert track.update([Detection(130.0, 100.0, 100.0)]) == Detection(130.0, 100.0, 100.0)
    assert track.update([Detection(130.0, 100.0, 100.0, 3.0)]).turn == 0.0  # eye levelling wanders
    assert track.update([Detection(130.0, 100.0, 100.0, 12.0)]).turn == 12.0  # the head tilted


def test_of_two_faces_the_one_nearest_the_crop_is_followed():
    track = FaceTrack(Detection(10.0, 10.0, 50.0))
    far_and_larger, near = Detection(300.0, 20.0, 90.0), Detection(30.0, 12.0, 52.0)
    assert track.update([far_and_larger, near]) == near


def test_detection_runs_about_twice_a_second():
    assert detect_every(30.0) == 15 and detect_every(24.0) == 12 and detect_every(1.0) == 1
    assert detect_every(None) == 12  # no frame rate in the container: assume 25


def test_a_face_walking_across_the_clip_stays_edited(tmp_path, model, make_clip):
    walk, frames, side = 5, 30, 96  # the face moves 145 px, half the frame's width, in one second
    clip = make_clip(tmp_path / "walk.mp4", width=288, height=128, frames=frames, face=True, walk=walk)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "--expression", "happy", "-m", str(model),
                                      "-o", str(out), "--crf", "0"])
    assert result.exit_code == 0, result.output
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
    assert len(pairs) == frames
    for index, (before, after) in enumerate(pairs):
        diff = np.abs(before.to_ndarray(format="rgb24").astype(int)
                      - after.to_ndarray(format="rgb24").astype(int)).max(axis=2)
        columns = np.nonzero(diff.mean(axis=0) > 8)[0]  # columns the edit changed
        face_centre = 2 + index * walk + side / 2
        edited_centre = (columns.min() + columns.max()) / 2
        # the crop is 1.56 face boxes wide and clamped to the frame; a fixed crop would be 70 px off
        assert abs(edited_centre - face_centre) < 24, (index, edited_centre, face_centre)
        assert columns.min() <= face_centre - 30 and columns.max() >= face_centre + 30, index
