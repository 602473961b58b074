"""`starbatch video` in-process: every frame edited, with timing, size, rotation and audio intact."""

from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.engines.video import edit_video
from starbatch.inference.editor import Editor, EditorSpec
from starbatch.models.family import EditOptions
from starbatch.models.stargan_v1.conditioning import LabelConditioning

CLIPS = {
    "cfr with audio": dict(audio_seconds=0.5),
    "vfr with audio": dict(variable=True, audio_seconds=0.9),
    "audio shorter than video": dict(audio_seconds=0.2, frames=24),
    "rotated 90, no audio": dict(rotation=90, width=66, height=50),
    "odd size": dict(width=65, height=49, audio_seconds=0.3),
    "ntsc time base, late start": dict(time_base=Fraction(1001, 30000), step=1, first_pts=3),
    "hevc vfr": dict(codec="libx265", variable=True, audio_seconds=0.4),
}


def editor_for(model, to=None, expression="happy", from_labels=None) -> Editor:
    return EditorSpec.from_options(model, EditOptions(to, expression, from_labels), "cpu", "fp32").build()


# make_clip draws moving gradients, no face: tests about timing, audio and plumbing edit the centre.
CENTRE = dict(faces="center")


@pytest.mark.parametrize("kind", list(CLIPS))
def test_edited_clip_keeps_frames_times_duration_size_rotation_and_audio(tmp_path, model, kind, make_clip,
                                                                         frame_times, audio_packets, stream_facts):
    clip = make_clip(tmp_path / "in.mp4", **CLIPS[kind])
    output = tmp_path / "out.mp4"
    edit_video(clip, output, editor_for(model), progress=False, **CENTRE)
    assert frame_times(output) == frame_times(clip)
    assert audio_packets(output) == audio_packets(clip)
    before, after = stream_facts(clip), stream_facts(output)
    assert (after["size"], after["rotation"], after["duration"]) == (
        before["size"], before["rotation"], before["duration"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary left


def test_frames_are_actually_edited(tmp_path, model, make_clip):
    import av

    clip = make_clip(tmp_path / "in.mp4")
    output = tmp_path / "out.mp4"
    edit_video(clip, output, editor_for(model), progress=False, **CENTRE)
    with av.open(str(clip)) as a, av.open(str(output)) as b:
        first_in = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        first_out = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(first_in - first_out).mean() > 2


def test_source_labels_are_estimated_once_per_clip(tmp_path, model, monkeypatch, make_clip):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    editor = editor_for(model, to="Black_Hair", expression=None)
    calls = []
    monkeypatch.setattr(LabelConditioning, "_estimate", lambda self, x: calls.append(x) or None)
    edit_video(clip, tmp_path / "out.mp4", editor, batch_size=4, progress=False, **CENTRE)
    assert calls == []  # never per batch: one estimate for the clip, fixed before the first frame
    estimated = editor.request.source_labels
    assert set(estimated) == {"celeba", "rafd"} and estimated["celeba"].shape == (5,)


def run_cli(*args):
    return CliRunner().invoke(app, ["video", *map(str, args)])


def test_cli_writes_the_clip_and_refuses_to_overwrite(tmp_path, model, make_clip, frame_times):
    clip = make_clip(tmp_path / "talk.mp4", audio_seconds=0.4)
    result = run_cli(clip, "--expression", "happy", "--model", model, "--device", "cpu", "--faces", "center")
    assert result.exit_code == 0, result.output
    output = tmp_path / "talk_edited.mp4"
    assert frame_times(output) == frame_times(clip)
    again = run_cli(clip, "--expression", "happy", "--model", model)
    assert again.exit_code == 2 and "made with other settings (faces center -> detect)" in again.output


def test_unreadable_file_is_a_one_line_error(tmp_path, model):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    result = run_cli(bad, "--expression", "happy", "--model", model, "-o", tmp_path / "o.mp4")
    assert result.exit_code == 1  # the input failed (README, "Exit status")
    assert "broken.mp4: not a video FFmpeg can read" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_file_without_video_stream_is_a_one_line_error(tmp_path, model):
    import av

    audio_only = tmp_path / "voice.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    result = run_cli(audio_only, "--expression", "happy", "--model", model, "-o", tmp_path / "o.mp4")
    assert result.exit_code == 1 and "voice.m4a: has no video stream" in result.output


def test_hevc_into_mp4_is_tagged_hvc1_as_apple_players_need(tmp_path, model, make_clip, frame_times):
    import av

    from starbatch.media.video import EncodeSettings

    clip = make_clip(tmp_path / "in.mp4", frames=8)
    output = tmp_path / "out.mp4"
    edit_video(clip, output, editor_for(model), settings=EncodeSettings(codec="libx265"), progress=False, **CENTRE)
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "hvc1"  # FFmpeg's default: hev1
    assert frame_times(output) == frame_times(clip)


def tagged_clip(path, tags: dict):
    """Six grey frames at 25 fps whose video stream carries `tags`."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.metadata.update(tags)
        for i in range(6):
            picture = np.full((64, 64, 3), 20 * i, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_the_video_streams_language_and_handler_name_are_kept(tmp_path, model):
    import av

    clip = tagged_clip(tmp_path / "in.mp4", {"language": "fra", "handler_name": "Camera"})
    output = tmp_path / "out.mp4"
    edit_video(clip, output, editor_for(model), progress=False, **CENTRE)
    with av.open(str(output)) as container:
        kept = container.streams.video[0].metadata
    assert (kept.get("language"), kept.get("handler_name")) == ("fra", "Camera")  # were und, VideoHandler


def test_a_cameras_timecode_is_kept_in_a_mov(tmp_path, model):
    """A camera's MOV starts at a timecode (a tmcd track FFmpeg writes from the video's tag); the
    output keeps it, counted at the clip's rate (without the rate FFmpeg refused to write the file)."""
    import av

    clip = tagged_clip(tmp_path / "in.mov", {"timecode": "10:00:00:00"})
    output = tmp_path / "out.mov"
    edit_video(clip, output, editor_for(model), progress=False, **CENTRE)
    with av.open(str(output)) as container:
        assert container.streams.video[0].metadata.get("timecode") == "10:00:00:00"
        assert [s.metadata.get("timecode") for s in container.streams if s.type == "data"] == ["10:00:00:00"]
        assert sum(1 for _ in container.decode(video=0)) == 6
