"""Video I/O: what probe reads off a clip."""

import av
import numpy as np
import pytest

from starbatch.media.video import EncodeSettings, Segment, SegmentWriter, decode_segment, plan_segments, probe


def test_probe_reads_every_frame_time_and_the_keyframes(tmp_path, make_clip):
    info = probe(make_clip(tmp_path / "in.mp4", frames=20, gop=5))
    assert info.frame_count == 20 and info.frame_pts == tuple(range(0, 20 * 512, 512))
    assert info.keyframes[0][0] == 0 and len(info.keyframes) >= 4  # a GOP of 5 (and scene cuts)



def test_segments_start_at_keyframes_and_cover_every_frame_once(tmp_path, make_clip):
    info = probe(make_clip(tmp_path / "in.mp4", frames=20, gop=5))
    segments = plan_segments(info, 3)
    keyframe_times = {pts for pts, _ in info.keyframes}
    assert len(segments) == 3 and segments[0].start is None and segments[-1].end is None
    assert all(s.start in keyframe_times for s in segments[1:])
    assert sum(s.frame_count for s in segments) == info.frame_count
    assert all(sum(s.owns(pts) for s in segments) == 1 for pts in info.frame_pts)


@pytest.mark.parametrize("codec", ["libx264", "libx265", "libvpx-vp9"])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_crf_0_is_lossless_with_every_crf_codec_at_every_bit_depth(tmp_path, codec, pix_fmt):
    """x264's crf 0 is lossless at 8 bits only and x265's never: --crf 0 asks each for lossless
    (frames written as decoded come back bit for bit), in the input's pixel format where it has it."""
    source = tmp_path / "in.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.options = 64, 48, pix_fmt, {"qp": "0"}
        for _ in range(4):
            noise = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noise, format="rgb24")))
        container.mux(stream.encode())
    info = probe(source)
    out = tmp_path / "out.mp4"
    writer = SegmentWriter(out, info, EncodeSettings(codec=codec, crf=0))
    for frame in decode_segment(source, Segment(None, None, None, info.frame_count)):
        writer.write_decoded(frame, frame.pts, frame.duration)
    writer.close()

    def stored(path):
        with av.open(str(path)) as container:
            return [(frame.format.name, [bytes(plane) for plane in frame.planes])
                    for frame in container.decode(video=0)]

    expected = stored(source)
    if pix_fmt not in {f.name for f in av.Codec(codec, "w").video_formats}:  # VP9 here: 8 bits only
        assert {name for name, _ in stored(out)} == {"yuv420p"}
    else:
        assert stored(out) == expected and len(expected) == 4
