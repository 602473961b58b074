"""Tiny clips made on the spot for the video and Ray tests, and what to compare them by."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(
    path: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 20,
    time_base: Fraction = Fraction(1, 15360),
    step: int = 512,
    variable: bool = False,
    rotation: int = 0,
    audio_seconds: float | None = None,
    gop: int = 5,
    codec: str = "libx264",
    first_pts: int = 0,
    face: bool = False,
    walk: int = 0,
) -> Path:
    """A clip of moving gradients; `variable` gives irregular frame gaps (VFR); `face` puts a
    synthetic face (train/faces.py) on them, upright as a player shows the clip, drifting a
    pixel per frame, or with `walk` that many pixels a frame to the right."""
    pts = [first_pts]
    for i in range(1, frames):
        pts.append(pts[-1] + (step + (i % 3) * step // 2 if variable else step))
    container = av.open(str(path), "w", options={"movie_timescale": str(time_base.denominator)})
    video = container.add_stream(codec)
    video.width, video.height = width, height
    video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    video.codec_context.time_base = time_base
    video.time_base = time_base
    video.options = {"g": str(gop), "keyint_min": str(gop)} if codec == "libx264" else {
        "x265-params": f"keyint={gop}:min-keyint={gop}:log-level=error"}
    if rotation:
        video.set_display_rotation(rotation)
    audio = None
    if audio_seconds:
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
    yy, xx = np.mgrid[0:height, 0:width]
    portrait = _face(min(width, height) * 3 // 4) if face else None
    for i, p in enumerate(pts):
        rgb = np.stack([(xx * 4 + i * 9) % 256, (yy * 5 + i * 3) % 256, (xx + yy + i * 7) % 256], axis=2)
        if portrait is not None:
            shown = np.rot90(rgb, rotation // 90).copy()  # as a player shows it (video.upright)
            side = portrait.shape[0]
            x = 2 + (i * walk if walk else i % 4)
            shown[2 : 2 + side, x : x + side] = portrait
            rgb = np.rot90(shown, -(rotation // 90))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
        frame.pts, frame.time_base = p, time_base
        frame.duration = (pts[i + 1] - p) if i + 1 < len(pts) else step
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if audio is not None:
        samples = int(audio_seconds * 48000)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    container.close()
    return path


def _face(side: int) -> np.ndarray:
    from PIL import Image

    from starbatch.train.faces import celeba_face

    return np.asarray(Image.fromarray(celeba_face(1, 0)[0]).resize((side, side), Image.BICUBIC))


def frame_times(path: Path) -> list[Fraction]:
    """Presentation times in seconds of every decoded frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def audio_packets(path: Path) -> list[tuple[bytes, Fraction]]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        stream = container.streams.audio[0]
        return [(bytes(p), p.pts * p.time_base) for p in container.demux(stream) if p.size]


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = next(container.decode(stream))
        return {"size": (first.width, first.height), "rotation": first.rotation,
                "duration": stream.duration * stream.time_base if stream.duration else None,
                "codec": stream.codec_context.name}  # fmt: skip
