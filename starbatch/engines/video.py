"""Editing a clip's frames with the batch function: decode ahead, G in batches, encode behind.

A frame goes through the same pieces as a photo (model_input, the Editor, paste_edit), turned
upright first when the clip carries a display rotation and turned back after, so the model sees
faces standing up while the encoder gets pixels as stored (the rotation stays in metadata).

Faces are followed (faces/tracking.py): a detector pass every half second, each face's crop a
smoothed similarity transform to the model's framing, edits that fade out where a face leaves (a
cut) and in where one appears; frames without a face pass through unchanged. A clip in which no
face is found at all follows --no-face (copy: the unchanged frames re-encoded, exit 0; skip: no
output; fail: an error). `--faces center` edits every frame's central square.
"""

import functools
import io
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from starbatch.engines.pipeline import WriteBehind, batches, read_ahead
from starbatch.engines.video_parts import ClipParts, PartWriter
from starbatch.errors import NoFaceFound, StarbatchError
from starbatch.faces.detection import Placement, centre_box, find_faces, placements
from starbatch.faces.pixel_aspect import Scale, detector_as_shown, placements_as_shown, shown_scale
from starbatch.faces.retinaface import MIN_FACE, Face
from starbatch.faces.tracking import FaceFollower, detect_every, searched_anyway
from starbatch.files import partial_path
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
    frame_at,
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
    crops: list[Placement]  # [] : the frame passes through unchanged
    model_inputs: list[np.ndarray]
    decoded: av.VideoFrame  # as decoded: what a frame without a crop is encoded from


@dataclass
class SegmentResult:
    """What one segment's edit did: frames written, face crops edited, and the frames the detector
    searched with the crops edited in them (the report)."""

    frames: int = 0
    crops: int = 0
    searched: list[dict] = field(default_factory=list)


def upright_photo(frame: av.VideoFrame, rotation: int) -> Photo:
    """The frame as a player shows it, in RGB: 16 bits a channel for a clip of more than 8 bits, so
    an edited frame's pixels away from the face come back as they were."""
    deep = any(component.bits > 8 for component in frame.format.components)
    rgb = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
    return Photo(np.ascontiguousarray(upright(rgb, rotation)), "RGB;16" if deep else "RGB", "PNG")


def clip_samples(info: VideoInfo, frames: int = 8) -> list[Photo]:
    """About `frames` upright frames spread over the clip: where the conditioning comes from."""
    return [upright_photo(frame, info.rotation) for frame in sample_frames(info, frames)]


def clip_request(editor: Editor, info: VideoInfo, samples: list[Photo], faces: str = "center") -> Any:
    """The clip's conditioning, fixed once from the sampled frames' crops (v1: D's logits averaged
    over them give the source labels): each sample's largest face, aligned, with faces="detect";
    the central squares where no sample shows a face, or with "center"."""
    if not samples:
        raise StarbatchError(f"{info.path}: no decodable frame to estimate the source labels from")
    size = editor.image_size
    inputs = []
    if faces == "detect":
        for photo in samples:  # found and framed as the frames' crops are
            found = placements_as_shown(photo.rgb, faces, editor.framing, size, editor.min_face, clip_scale(info))
            if found:
                inputs.append(model_input(photo, found[0], size))
    if not inputs:
        inputs = [model_input(photo, centre_box(*photo.size), size) for photo in samples]
    return editor.settled_request(torch.from_numpy(np.stack(inputs)))


def fix_clip(editor: Editor, info: VideoInfo, faces: str) -> Any:
    """The request every frame shares, decided once from sampled frames (None: the editor's does
    not read the images)."""
    if not editor.conditioning.reads_images:
        return None
    return clip_request(editor, info, clip_samples(info), faces)


def frame_durations(info: VideoInfo) -> dict[int, int]:
    """Each frame's display time: the gap to the next frame; the last one lasts to the stream's end.

    (A decoded frame's own duration is its packet's, which in MP4 is a gap in decode order.)"""
    pts = info.frame_pts
    durations = {a: b - a for a, b in zip(pts, pts[1:], strict=False)}
    if pts and info.end_pts is not None and info.end_pts > pts[-1]:
        durations[pts[-1]] = info.end_pts - pts[-1]
    return durations


PlannedFrame = tuple[list[Placement], list[Face] | None]  # a frame's crops, and its detector pass if searched


def clip_every(info: VideoInfo) -> int:
    """Frames between the clip's detector passes."""
    return detect_every(info.average_rate and float(info.average_rate))


def segment_searches(info: VideoInfo, segment: Segment, min_face: float = MIN_FACE) -> dict[int, list[Face]]:
    """The detector passes a whole-clip follower makes in any case (`searched_anyway`) that fall in
    this segment, by clip frame index: what Ray workers find in parallel before the driver follows."""
    every, found = clip_every(info), {}
    find = detector_as_shown(functools.partial(find_faces, min_face=min_face), clip_scale(info))  # as the follower
    for offset, frame in enumerate(decode_segment(info.path, segment)):
        index = segment.first_frame + offset
        if searched_anyway(index, info.frame_count, every):
            found[index] = find(upright_photo(frame, info.rotation).rgb)
    return found


def clip_scale(info: VideoInfo) -> Scale:
    """How the clip's upright frames are stretched when shown (pixels not square: pixel_aspect.py)."""
    return shown_scale(info.pixel_aspect, info.rotation)


def follow_clip(info: VideoInfo, searched: dict[int, list[Face]], framing: str, size: int,
                min_face: float = MIN_FACE) -> list[PlannedFrame]:
    """Every frame's crops, following the faces through the whole clip from detector passes made
    beforehand (`segment_searches`); the frames a bisection needs besides are decoded and searched
    here. The crops are those a whole-clip `edit_segment` makes, so segments meet without a jump."""

    def rgb_of(index: int) -> np.ndarray | None:
        frame = frame_at(info, index)
        return None if frame is None else upright_photo(frame, info.rotation).rgb

    def detect(rgb: np.ndarray | None) -> list[Face]:
        return [] if rgb is None else find_faces(rgb, min_face)

    follower = FaceFollower(detect, framing, size, clip_every(info), searched, clip_scale(info))
    return [(crops, found) for _, crops, found in follower.follow(range(info.frame_count), rgb_of)]


def edit_segment(
    info: VideoInfo,
    segment: Segment,
    editor: Editor,
    writer: SegmentWriter | PartWriter,
    batch_size: int = 8,
    on_frames: Callable[[int], None] = lambda n: None,
    faces: str = "detect",
    planned: list[PlannedFrame] | None = None,
    skip: int = 0,
) -> SegmentResult:
    """Decode, edit and encode one segment with I/O overlapping the model.

    faces="detect": every face followed from the segment's first frame (faces/tracking.py) and
    aligned to the editor's framing, or the crops `planned` for the segment's frames (`follow_clip`;
    a frame past them passes through); "center": each frame's central square. The first `skip`
    frames (a resumed clip's finished parts) are decoded and followed, not edited or written."""
    gaps = frame_durations(info)
    result = SegmentResult()
    size = editor.image_size
    whole_frame = faces == "detect" and editor.framing == "none"  # aligned crops: every frame whole

    def upright_frames() -> Iterator[tuple[av.VideoFrame, Photo]]:
        for frame in decode_segment(info.path, segment):
            yield frame, upright_photo(frame, info.rotation)

    def placed() -> Iterator[tuple[tuple[av.VideoFrame, Photo], list[Placement]]]:
        if faces == "center" or whole_frame:
            for item in upright_frames():
                yield item, placements(item[1].rgb, faces, editor.framing, size, editor.min_face)
            return
        if planned is None:
            follower = FaceFollower(functools.partial(find_faces, min_face=editor.min_face), editor.framing, size,
                                    clip_every(info), scale=clip_scale(info))
            followed = follower.follow(upright_frames(), lambda item: item[1].rgb)
        else:
            followed = ((item, *(planned[index] if index < len(planned) else ([], None)))
                        for index, item in enumerate(upright_frames()))  # fmt: skip
        for index, (item, crops, found) in enumerate(followed):
            if found is not None:
                result.searched.append({"frame": segment.first_frame + index, "pts": item[0].pts,
                                        "found": len(found), "faces": [crop.report() for crop in crops]})
            yield item, crops

    skipped_crops = [0]  # counted on the reading thread, added at the end

    def prepared() -> Iterator[FrameItem]:
        for index, ((frame, photo), crops) in enumerate(placed()):
            if index < skip:
                skipped_crops[0] += len(crops)
                on_frames(1)
                continue
            duration = gaps.get(frame.pts) or frame.duration
            yield FrameItem(frame.pts, duration, photo, crops, [model_input(photo, crop, size) for crop in crops],
                            frame)

    def encode(batch: list[FrameItem], edited: torch.Tensor | None) -> None:
        start = 0
        for item in batch:
            photo = item.photo
            for crop, before in zip(item.crops, item.model_inputs, strict=True):
                photo = paste_edit(photo, crop, torch.from_numpy(before), edited[start])
                start += 1
            # A frame without a crop is not taken through RGB and back where the encoder takes it as
            # decoded: with a lossless --crf 0 it stays bit-exact. (Converted directly 4:4:4 -> 4:2:0
            # by swscale it came out further off than through RGB.)
            if not item.crops and writer.takes_as_decoded(item.decoded):
                writer.write_decoded(item.decoded, item.pts, item.duration)
            else:
                writer.write(as_stored(photo.rgb, info.rotation), item.pts, item.duration)
        on_frames(len(batch))

    with WriteBehind(encode, threads=1, depth=2) as behind:  # one encoder, frames in order
        for batch in batches(read_ahead(prepared(), depth=2 * batch_size), batch_size,
                             weight=lambda item: max(1, len(item.crops))):  # fmt: skip
            inputs = [x for item in batch for x in item.model_inputs]
            result.crops += len(inputs)
            behind.submit(None, batch, editor(torch.from_numpy(np.stack(inputs))) if inputs else None)
            _raise_first(behind.settled())
        _raise_first(behind.drain())
    result.frames = writer.frames
    result.crops += skipped_crops[0]
    return result


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
    no_face: str = "copy",
    resume: dict | None = None,
) -> dict:
    """`starbatch video` in-process: the clip followed and edited in one pass, written in parts
    (engines/video_parts.py), then the join that brings the audio back.

    `faces`: "detect" (faces followed; a clip in which none is found follows `no_face`: "copy"
    writes its frames unchanged, "skip" writes nothing, "fail" raises NoFaceFound and writes
    nothing) or "center" (each frame's central square). `resume`: the run's settings; parts an
    interrupted run with the same settings finished are kept (None: none are)."""
    start = time.perf_counter()
    info = probe(input_path)
    settled = fix_clip(editor, info, faces)
    if settled is not None:
        editor.use(settled)
    parts = ClipParts(output, info, resume)
    if parts.finished:
        print(f"resuming {info.path}: {parts.finished} of {parts.count} parts ({parts.done_frames} of "
              f"{info.frame_count} frames) were edited by an earlier run with these settings", file=sys.stderr)
    bar = _progress(info, progress)
    writer = parts.writer(settings or EncodeSettings())
    try:
        result = edit_segment(info, plan_segments(info, 1)[0], editor, writer, batch_size, bar.update, faces,
                              skip=parts.done_frames)  # fmt: skip
        writer.close()
    except BaseException:  # Ctrl-C included: the finished parts stay for the rerun
        writer.abandon()
        bar.close()
        raise
    bar.close()
    if faces == "detect" and not result.crops:
        try:
            return without_face(info, output, no_face, time.perf_counter() - start, [result], parts.all())
        finally:
            parts.remove()
    join(info, parts.all(), output)  # a join that fails (a full disk) keeps the parts for the rerun
    parts.remove()
    return summarize(info, output, time.perf_counter() - start, [result], parts.done_frames)


def without_face(info: VideoInfo, output: Path, no_face: str, seconds: float, results: list[SegmentResult],
                 parts: list[Path | bytes]) -> dict:  # fmt: skip
    """A clip in which no face was found in any frame: --no-face copy writes it unchanged (the input
    file's bytes where the output is the same kind of file; else its frames, re-encoded as they
    are), skip writes nothing, fail raises NoFaceFound and writes nothing."""
    if no_face == "fail":
        raise NoFaceFound(f"{info.path}: no face found in any frame (--no-face copy writes it unchanged)")
    if no_face == "skip":
        print(f"no face found in {info.path}: nothing written (--no-face skip)", file=sys.stderr)
        return {"input": str(info.path), "output": None, "status": "no face", "frames": info.frame_count,
                "faces_edited": 0, "seconds": round(seconds, 3)}  # fmt: skip
    if output.suffix.lower() == info.path.suffix.lower():
        partial = partial_path(output)  # a clip may be large: copied, not read into memory
        shutil.copyfile(info.path, partial)
        os.replace(partial, output)
    else:
        join(info, parts, output)
    return summarize(info, output, seconds, results)


def edit_segment_to_bytes(info: VideoInfo, segment: Segment, editor: Editor, settings: EncodeSettings,
                          batch_size: int = 8, faces: str = "detect", planned: list[PlannedFrame] | None = None,
                          ) -> tuple[bytes, SegmentResult]:  # fmt: skip
    """One segment as an MP4 in memory, with what its edit did: what a Ray actor returns to the driver."""
    sink = io.BytesIO()
    writer = SegmentWriter(sink, info, settings, segment.first_frame)
    try:
        result = edit_segment(info, segment, editor, writer, batch_size, faces=faces, planned=planned)
    finally:
        writer.close()
    return sink.getvalue(), result


def summarize(info: VideoInfo, output: Path, seconds: float, results: list[SegmentResult], resumed: int = 0) -> dict:
    """The clip's summary line and report; `resumed`: frames an earlier run had finished (not in the rate)."""
    fps = (info.frame_count - resumed) / seconds if seconds > 0 else 0.0
    crops = sum(result.crops for result in results)
    status = "edited" if crops else "no face"
    earlier = f"; {resumed} of them by the earlier run" if resumed else ""
    print(f"edited {info.frame_count} frames ({crops} face crops{'' if crops else ': no face found, frames unchanged'}"
          f") in {seconds:.1f} s ({fps:.2f} frames/s{earlier}) -> {output}", file=sys.stderr)  # fmt: skip
    return {"input": str(info.path), "output": str(output), "status": status, "frames": info.frame_count,
            "faces_edited": crops, "seconds": round(seconds, 3), "frames_per_second": round(fps, 3),
            "resumed_frames": resumed,
            "sampled_frames": [entry for result in results for entry in result.searched]}  # fmt: skip


def _progress(info: VideoInfo, enabled: bool):
    from starbatch.engines.progress import Progress

    return Progress(total=info.frame_count, unit="frame", desc=info.path.name, file=sys.stderr,
                    dynamic_ncols=True, disable=not enabled)  # fmt: skip
