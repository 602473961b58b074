"""`starbatch video` on Ray: what following faces through the whole clip costs against following
them per segment.

Since the whole-clip following (engines/ray_pool.py), the workers first make the clip's regular
detector passes over their segments, the driver follows the faces from them, and each segment is
decoded again and edited with its crops; before, each segment followed its faces from its own first
frame in one pass (a crop jump of up to HOLD where segments met). Both run here, in the same run,
on the same pool size: the baseline by handing each segment no plan, as the old code did.

The clip: examples/face.mp4 re-encoded with a keyframe every 12 frames and played `--loops` times,
so it splits into segments. The model: the bundled demo model (--expression happy).

    python benchmarks/ray_video.py --workers 2 --loops 4
"""

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av

from starbatch.cli.common import BUNDLED_MODEL
from starbatch.engines.ray_pool import RayEngine, edit_video_ray
from starbatch.engines.video import fix_clip
from starbatch.inference.editor import EditorSpec
from starbatch.media.video import EncodeSettings, plan_segments, probe
from starbatch.models.family import EditOptions

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "face.mp4"


def looped_clip(out: Path, loops: int, gop: int = 12) -> Path:
    with av.open(str(EXAMPLE)) as source:
        frames = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
        rate = source.streams.video[0].average_rate
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop)}
        for picture in frames * loops:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return out


def per_segment(clip: Path, spec: EditorSpec, workers: int, settings: EncodeSettings) -> float:
    """The old way: each segment follows its faces from its own first frame (no plan). Seconds."""
    start = time.perf_counter()
    info = probe(clip)
    settled = fix_clip(spec.build("cpu", "fp32"), info, "detect")
    spec = replace(spec, request=settled) if settled is not None else spec
    engine = RayEngine(spec, workers)
    segments = plan_segments(info, 2 * engine.workers)
    engine.map_shards(segments, lambda actor, segment: actor.edit_segment.remote(info, segment, settings, 8, "detect"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loops", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(include_dashboard=False, logging_level="ERROR")
    settings = EncodeSettings()
    with tempfile.TemporaryDirectory() as folder:
        clip = looped_clip(Path(folder) / "clip.mp4", args.loops)
        frames = probe(clip).frame_count
        spec = EditorSpec.from_options(BUNDLED_MODEL, EditOptions(expression="happy"), "cpu", "fp32")
        old, new = [], []
        for _ in range(args.repeats):  # alternated, so a busy moment hits both
            old.append(per_segment(clip, spec, args.workers, settings))
            start = time.perf_counter()
            edit_video_ray(clip, Path(folder) / "out.mp4", spec, settings, workers=args.workers, progress=False)
            new.append(time.perf_counter() - start)
        segments = len(plan_segments(probe(clip), 2 * args.workers))
    print(f"{frames} frames in {segments} segments, {args.workers} Ray workers; best of {args.repeats}")
    print(f"  per segment (baseline): {min(old):.2f} s, {frames / min(old):.1f} frames/s")
    print(f"  whole clip (two passes): {min(new):.2f} s, {frames / min(new):.1f} frames/s")
    print(f"  time, whole clip / per segment: {min(new) / min(old):.2f}x")


if __name__ == "__main__":
    main()
