"""Editing a clip's frames with the batch function: decode ahead, G in batches, encode behind.

A frame goes through the same pieces as a photo (model_input, the Editor, paste_edit), turned
upright first when the clip carries a display rotation and turned back after, so the model sees
faces standing up while the encoder gets pixels as stored (the rotation stays in metadata).

The face is found once per clip (the median of the largest face's box over the frames sampled
for the source labels, which also shows early that a clip has no face), then followed: faces/tracking.py
searches every half second, holds the crop still while the face stays near it and glides it
to where the face went. `--faces center` edits every frame's central square.
"""

import io
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from starbatch.engines.pipeline import WriteBehind, batches, read_ahead
from starbatch.errors import NoFaceFound, StarbatchError
from starbatch.faces.detection import Detection, FaceBox, centre_box, detect_faces, face_crop
from starbatch.faces.tracking import FaceTrack, detect_every, follow_face
from starbatch.inference.compositing import model_input, paste_edit
from starbatch.inference.editor import Editor
from starbatch.media.images import Photo
from starbatch.media.video import (
    EncodeSettings,
    Segment,
    SegmentWriter,
    VideoInfo,
    as_stored,
    decode_segment,
    join,
    plan_segments,
    probe,
    sample_frames,
    upright,
)


@dataclass
class FrameItem:
    pts: int
    duration: int | None
    photo: Photo  # upright RGB
    box: FaceBox
    model_input: np.ndarray


def upright_photo(frame: av.VideoFrame, rotation: int) -> Photo:
    return Photo(np.ascontiguousarray(upright(frame.to_ndarray(format="rgb24"), rotation)), "RGB", "PNG")


def clip_samples(info: VideoInfo, frames: int = 8) -> list[Photo]:
    """About `frames` upright frames spread over the clip: where the crop and the conditioning come from."""
    return [upright_photo(frame, info.rotation) for frame in sample_frames(info, frames)]


def clip_face(info: VideoInfo, samples: list[Photo]) -> Detection:
    """Where the clip's face is: the median of the largest face's box over the sampled frames."""
    largest = [faces[0] for faces in (detect_faces(photo.rgb) for photo in samples) if faces]
    if not largest:
        raise NoFaceFound(f"{info.path}: no face found in {len(samples)} sampled frames "
                          "(--faces center edits the centre square)")  # fmt: skip
    return Detection(*(float(np.median([getattr(face, name) for face in largest]))
                       for name in ("left", "top", "side", "turn")))  # fmt: skip


def clip_request(editor: Editor, info: VideoInfo, samples: list[Photo], box: FaceBox | None = None) -> Any:
    """The clip's conditioning, fixed once from the sampled frames' crops (v1: D's logits averaged
    over them give the source labels)."""
    if not samples:
        raise StarbatchError(f"{info.path}: no decodable frame to estimate the source labels from")
    inputs = [model_input(photo, box or centre_box(*photo.size), editor.image_size) for photo in samples]
    return editor.settled_request(torch.from_numpy(np.stack(inputs)))


def fix_clip(editor: Editor, info: VideoInfo, faces: str) -> tuple[Detection | None, Any]:
    """What the frames share, decided once from the same sampled frames: the face to follow (None:
    each frame's central square) and the request (None: the editor's does not read the images)."""
    reads_images = editor.conditioning.reads_images
    samples = clip_samples(info) if faces == "detect" or reads_images else []
    face = clip_face(info, samples) if faces == "detect" else None
    box = face_crop(face, *samples[0].size) if face is not None else None
    return face, clip_request(editor, info, samples, box) if reads_images else None


def frame_durations(info: VideoInfo) -> dict[int, int]:
    """Each frame's display time: the gap to the next frame; the last one lasts to the stream's end.

    (A decoded frame's own duration is its packet's, which in MP4 is a gap in decode order.)"""
    pts = info.frame_pts
    durations = {a: b - a for a, b in zip(pts, pts[1:], strict=False)}
    if pts and info.end_pts is not None and info.end_pts > pts[-1]:
        durations[pts[-1]] = info.end_pts - pts[-1]
    return durations


def edit_segment(
    info: VideoInfo,
    segment: Segment,
    editor: Editor,
    writer: SegmentWriter,
    batch_size: int = 8,
    on_frames: Callable[[int], None] = lambda n: None,
    face: Detection | None = None,
) -> int:
    """Decode, edit and encode one segment with I/O overlapping the model; returns frames written.

    `face` is the clip's face (clip_face), followed from there; None edits each frame's central
    square."""
    gaps = frame_durations(info)

    def upright_frames() -> Iterator[tuple[av.VideoFrame, Photo]]:
        for frame in decode_segment(info.path, segment):
            yield frame, upright_photo(frame, info.rotation)

    def prepared() -> Iterator[FrameItem]:
        if face is None:
            placed = ((item, centre_box(*item[1].size)) for item in upright_frames())
        else:
            followed = follow_face(upright_frames(), lambda item: item[1].rgb, FaceTrack(face),
                                   detect_every(info.average_rate and float(info.average_rate)))
            placed = ((item, face_crop(where, *item[1].size)) for item, where in followed)
        for (frame, photo), box in placed:
            duration = gaps.get(frame.pts) or frame.duration
            yield FrameItem(frame.pts, duration, photo, box, model_input(photo, box, editor.image_size))

    def encode(batch: list[FrameItem], edited: torch.Tensor) -> None:
        for item, after in zip(batch, edited, strict=True):
            pasted = paste_edit(item.photo, item.box, torch.from_numpy(item.model_input), after)
            writer.write(as_stored(pasted.rgb, info.rotation), item.pts, item.duration)
        on_frames(len(batch))

    with WriteBehind(encode, threads=1, depth=2) as behind:  # one encoder, frames in order
        for batch in batches(read_ahead(prepared(), depth=2 * batch_size), batch_size):
            behind.submit(None, batch, editor(torch.from_numpy(np.stack([b.model_input for b in batch]))))
            _raise_first(behind.settled())
        _raise_first(behind.drain())
    return writer.frames


def _raise_first(settled: Iterator[tuple[Any, BaseException | None]]) -> None:
    for _, error in settled:
        if error is not None:
            raise error


def edit_video(
    input_path: Path,
    output: Path,
    editor: Editor,
    settings: EncodeSettings | None = None,
    batch_size: int = 8,
    progress: bool = True,
    faces: str = "detect",
) -> dict:
    """`starbatch video` in-process: one segment, then the join that brings the audio back.

    `faces`: "detect" (the face is followed; a clip with no face in its sampled frames raises
    NoFaceFound before anything is written) or "center" (each frame's central square)."""
    start = time.perf_counter()
    info = probe(input_path)
    face, settled = fix_clip(editor, info, faces)
    if settled is not None:
        editor.use(settled)
    temporary = output.with_name(f".{output.stem}.video.partial.mp4")
    bar = _progress(info, progress)
    try:
        writer = SegmentWriter(temporary, info, settings or EncodeSettings())
        try:
            edit_segment(info, plan_segments(info, 1)[0], editor, writer, batch_size, bar.update, face)
        finally:
            writer.close()
        bar.close()
        join(info, [temporary], output)
    finally:
        bar.close()
        temporary.unlink(missing_ok=True)
    return summarize(info, output, time.perf_counter() - start)


def edit_segment_to_bytes(info: VideoInfo, segment: Segment, editor: Editor, settings: EncodeSettings,
                          batch_size: int = 8, face: Detection | None = None) -> bytes:  # fmt: skip
    """One segment as an MP4 in memory: what a Ray actor returns to the driver."""
    sink = io.BytesIO()
    writer = SegmentWriter(sink, info, settings, segment.first_frame)
    try:
        edit_segment(info, segment, editor, writer, batch_size, face=face)
    finally:
        writer.close()
    return sink.getvalue()


def summarize(info: VideoInfo, output: Path, seconds: float) -> dict:
    fps = info.frame_count / seconds if seconds > 0 else 0.0
    print(f"edited {info.frame_count} frames in {seconds:.1f} s ({fps:.2f} frames/s) -> {output}",
          file=sys.stderr)  # fmt: skip
    return {"input": str(info.path), "output": str(output), "frames": info.frame_count,
            "seconds": round(seconds, 3), "frames_per_second": round(fps, 3)}  # fmt: skip


def _progress(info: VideoInfo, enabled: bool):
    from starbatch.engines.progress import Progress

    return Progress(total=info.frame_count, unit="frame", desc=info.path.name, file=sys.stderr,
                    dynamic_ncols=True, disable=not enabled)  # fmt: skip
