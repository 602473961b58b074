"""Video I/O: what probe reads off a clip."""

from starbatch.media.video import plan_segments, probe


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
