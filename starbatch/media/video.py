"""Video I/O with PyAV: probe a clip, decode a segment, encode edited frames, join segments with audio.

Every edit goes through the same three steps, whatever the engine:
1. `probe` reads the packet table once (frame times, keyframes) and the first frame (size, rotation);
2. each `Segment` (the whole clip in-process; keyframe-aligned pieces on Ray) is decoded and its
   edited frames are encoded by `SegmentWriter` into an MP4 (in memory or a temporary file) whose
   frames keep the input's presentation times and durations;
3. `join` remuxes the segments' video packets with the input's audio and subtitle packets, copied
   byte for byte, into the output, written under a temporary name and renamed at the end.

Facts this relies on (DESIGN.md, measured on FFmpeg 8): frame times survive only when the encoder's
time base is the input's; MP4 keeps them exactly only when `movie_timescale` is the track's (edit
lists are in movie units, 1/1000 by default); rotation must be set before the first packet is muxed.

Frame times: a decoder outputs frames in display order, but the times it attaches are its packets'.
Where the container carries no presentation times (AVI: FFmpeg guesses them in decode order, so
B-frames, packed or not, come out with times out of order) or none at all (raw streams), the
decoded times are put back in order (`in_display_time`) and missing ones follow at the stream's rate.
"""

import heapq
import io
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from starbatch.errors import StarbatchError
from starbatch.media.pixel_formats import (
    FULL_CHROMA_CODECS,
    FULL_RANGE,
    SWSCALE_MATRICES,
    Colour,
    pixel_format_for,
)

COPIED_STREAM_TYPES = ("audio", "subtitle")
CODEC_ALIASES = {"h264": "libx264", "x264": "libx264", "hevc": "libx265", "h265": "libx265",
                 "x265": "libx265", "vp9": "libvpx-vp9"}  # fmt: skip
CRF_CODECS = ("libx264", "libx265", "libvpx-vp9")
MOV_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")
# Frames held to sort decoded times back into order: H.264 and HEVC reorder at most 16 frames.
REORDER_DEPTH = 16


@dataclass(frozen=True)
class VideoInfo:
    """What the edit must keep: frame times, size, time base, rotation; and where keyframes are."""

    path: Path
    width: int  # as stored (before display rotation)
    height: int
    time_base: Fraction
    rotation: int  # counter-clockwise degrees to display upright (VideoFrame.rotation convention)
    frame_pts: tuple[int, ...]  # every frame's presentation time, sorted
    keyframes: tuple[tuple[int, int], ...]  # (pts, dts) of keyframe packets in decode order
    average_rate: Fraction | None
    end_pts: int | None  # where the stream's last frame stops showing, when the container says
    copied_streams: int  # audio and subtitle streams carried over
    pixel_format: str = "yuv420p"  # the first frame's, as decoded (yuvj*: full-range, e.g. webcam MJPEG)
    colour: Colour = Colour()
    pixel_aspect: Fraction | None = None  # a pixel's width / height where not square (DV, DVD, broadcast)

    @property
    def frame_count(self) -> int:
        return len(self.frame_pts)


@dataclass(frozen=True)
class Segment:
    """Frames with start <= pts < end (None: open), decoded from the keyframe at `seek_dts`."""

    start: int | None
    end: int | None
    seek_dts: int | None
    frame_count: int
    first_frame: int = 0  # the clip's index of the segment's first frame (for error messages)

    def owns(self, pts: int) -> bool:
        return (self.start is None or pts >= self.start) and (self.end is None or pts < self.end)


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = None  # encoder default when None

    def resolved_codec(self) -> str:
        return CODEC_ALIASES.get(self.codec, self.codec)


# Without --codec: the first of these that the output's container can hold (.webm takes only VP8/VP9/AV1).
DEFAULT_CODECS = ("libx264", "libvpx-vp9", "mpeg4")


def default_codec(output: Path) -> str:
    """The encoder for `output` when the user names none (check_output refuses a container none fits)."""
    try:
        container = _named_container(output)
    except ValueError:  # no container for the name: check_output says so
        return DEFAULT_CODECS[0]
    try:
        for codec in DEFAULT_CODECS:
            try:
                container.add_stream(codec)
                return codec
            except ValueError:  # the container cannot hold this codec
                continue
        return DEFAULT_CODECS[0]
    finally:
        container.close()


def _named_container(output: Path) -> av.container.OutputContainer:
    named = io.BytesIO()
    named.name = Path(output).name  # FFmpeg picks the container from the name; nothing is written
    return av.open(named, "w")


def check_output(output: Path, settings: EncodeSettings) -> None:
    """Refuse, before any work, an encoder FFmpeg lacks, an extension it has no container for, or a
    container that cannot hold the encoder's video."""
    try:
        encoder = av.Codec(settings.resolved_codec(), "w")
    except ValueError:
        encoder = None
    if encoder is None or encoder.type != "video":
        raise StarbatchError(f"--codec {settings.codec}: not a video encoder FFmpeg has here; use libx264, "
                             "libx265, libvpx-vp9 or mpeg4")  # fmt: skip
    try:
        container = _named_container(output)
    except ValueError:
        raise StarbatchError(f"-o {output}: FFmpeg has no container for {Path(output).suffix}; "
                             "choose -o NAME.mp4, NAME.mov or NAME.mkv") from None  # fmt: skip
    try:
        container.add_stream(settings.resolved_codec())
    except ValueError:
        raise StarbatchError(f"-o {output}: a {Path(output).suffix} file cannot hold {settings.resolved_codec()} "
                             "video; choose another --codec, or -o NAME.mp4 or NAME.mkv") from None  # fmt: skip
    finally:
        container.close()


def check_copies(input_path: Path, output: Path) -> None:
    """Refuse, before any frame is edited, an input whose audio or subtitles `output`'s container
    cannot take as they are (they are copied, never re-encoded): e.g. AAC audio into .webm. An
    unreadable input is left to the run, which reports it as a failed input."""
    try:
        original = _open(input_path)
    except StarbatchError:
        return
    container = _named_container(output)
    try:
        for stream in original.streams:
            if stream.type not in COPIED_STREAM_TYPES:
                continue
            try:
                container.add_stream_from_template(stream)
            except ValueError:
                raise StarbatchError(_cannot_copy(input_path, stream, Path(output).suffix)) from None
    finally:
        container.close()
        original.close()


def _cannot_copy(input_path: Path, stream, suffix: str) -> str:
    return (f"{input_path}: its {stream.type} ({stream.codec_context.name}) cannot go into a {suffix} file "
            "(audio and subtitles are copied as they are); choose -o NAME.mkv")


def _open(path: Path) -> av.container.InputContainer:
    if not Path(path).is_file():
        raise StarbatchError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise StarbatchError(f"{path}: not a video FFmpeg can read ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The clip's main video stream (cover art pictures are not video)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise StarbatchError(f"{path}: has no video stream")


def probe(path: Path) -> VideoInfo:
    """Read the packet table and the first frame; fail with one line for anything unreadable."""
    path = Path(path)
    with _open(path) as container:
        stream = video_stream(container, path)
        pts, keyframes = [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe and packet.pts is not None:
                    keyframes.append((packet.pts, packet.dts if packet.dts is not None else packet.pts))
        except av.FFmpegError as error:
            raise StarbatchError(f"{path}: damaged video: {_reason(error)}") from None
        if None in pts:  # packets without presentation times (raw streams): frames follow at the stream's rate
            start, step = stream.start_time or 0, frame_step(stream)
            pts, keyframes = [start + i * step for i in range(len(pts))], []  # no times to seek by
        first = next(decode_segment(path, Segment(None, None, None, len(pts)), stream.index), None)
        if first is None:
            raise StarbatchError(f"{path}: no decodable video frame")
        copied = sum(s.type in COPIED_STREAM_TYPES for s in container.streams)
        end = stream.start_time + stream.duration if stream.start_time is not None and stream.duration else None
        return VideoInfo(
            path=path, width=first.width, height=first.height, time_base=stream.time_base,
            rotation=int(round(first.rotation or 0)) % 360, frame_pts=tuple(sorted(pts)),
            keyframes=tuple(keyframes), average_rate=stream.average_rate, end_pts=end,
            copied_streams=copied, pixel_format=first.format.name,
            colour=Colour(int(first.color_range), int(first.color_primaries), int(first.color_trc),
                          int(first.colorspace)),
            pixel_aspect=_pixel_aspect(stream),
        )  # fmt: skip


def _pixel_aspect(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's sample aspect ratio (the container's, else the codec's), None for square pixels
    or none stated."""
    for ratio in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if ratio and ratio > 0:
            return None if ratio == 1 else Fraction(ratio)
    return None


def frame_step(stream: av.video.stream.VideoStream) -> int:
    """One frame's length in the stream's time base, from its rate (1 when the rate is unknown)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return max(1, round(1 / (rate * stream.time_base))) if rate and stream.time_base else 1


def plan_segments(info: VideoInfo, count: int) -> list[Segment]:
    """Split at keyframes into at most `count` pieces of about equal frame counts.

    A segment owns frames by presentation time, so frames shown before their GOP's keyframe
    (open GOPs, leading B-frames) belong to the previous segment, which decodes on to reach them.
    """
    frames = np.asarray(info.frame_pts, dtype=np.int64)
    starts = sorted({pts: dts for pts, dts in info.keyframes}.items())
    per_segment = len(frames) / max(1, count)
    cuts: list[tuple[int, int]] = []  # (pts, dts) where a new segment starts
    for pts, dts in starts:
        before = int(np.searchsorted(frames, pts))
        made = len(cuts) + 1
        if before >= made * per_segment - 0.5 and before < len(frames) and len(cuts) < count - 1 and before > 0:
            cuts.append((pts, dts))
    bounds = [(None, None)] + cuts
    segments = []
    for i, (start, seek_dts) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else None
        low = 0 if start is None else int(np.searchsorted(frames, start))
        high = len(frames) if end is None else int(np.searchsorted(frames, end))
        segments.append(Segment(start, end, seek_dts, high - low, low))
    return segments


def decode_segment(path: Path, segment: Segment, stream_index: int | None = None) -> Iterator[av.VideoFrame]:
    """Yield the segment's frames in presentation order, their times strictly increasing.

    Undecodable packets are skipped (FFmpeg conceals them); any other decode failure is one line
    naming the file and the frame."""
    with _open(path) as container:
        stream = container.streams[stream_index] if stream_index is not None else video_stream(container, path)
        stream.thread_type = "AUTO"
        owned = 0

        def decoded() -> Iterator[av.VideoFrame]:
            try:
                if segment.seek_dts is not None:
                    container.seek(segment.seek_dts, stream=stream, backward=True, any_frame=False)
                for packet in container.demux(stream):
                    past_end = (segment.end is not None and packet.is_keyframe and packet.pts is not None
                                and packet.pts > segment.end)  # fmt: skip
                    yield from _decode(stream, None if past_end else packet)
                    if past_end:
                        return
            except av.FFmpegError as error:
                raise StarbatchError(f"{path}: frame {segment.first_frame + owned}: cannot decode it "
                                     f"({_reason(error)})") from None  # fmt: skip

        for frame in in_display_time(decoded(), frame_step(stream), stream.start_time or 0):
            if segment.owns(frame.pts):
                owned += 1
                yield frame
            elif segment.end is not None and frame.pts >= segment.end:
                return


def in_display_time(frames: Iterable[av.VideoFrame], step: int, start: int = 0,
                    depth: int = REORDER_DEPTH) -> Iterator[av.VideoFrame]:  # fmt: skip
    """Give frames, in the order the decoder shows them, their times in increasing order.

    The decoder's order is right; its times may be permuted (packets' guessed times), missing or
    repeated. Holding `depth` frames and giving the oldest the smallest time held sorts a permutation
    back; a missing time, or one not after the previous, becomes the previous plus one frame (`step`).
    Well-timed streams come out unchanged."""
    held: deque[av.VideoFrame] = deque()
    times: list[int] = []  # the held frames' own times, as a heap
    last = None

    def release() -> av.VideoFrame:
        nonlocal last
        frame = held.popleft()
        time = heapq.heappop(times) if frame.pts is not None else None
        if time is None or (last is not None and time <= last):
            time = start if last is None else last + step
        frame.pts = last = time
        return frame

    for frame in frames:
        held.append(frame)
        if frame.pts is not None:
            heapq.heappush(times, frame.pts)
        if len(held) > depth:
            yield release()
    while held:
        yield release()


def _decode(stream, packet) -> list[av.VideoFrame]:
    try:
        return stream.decode(packet)
    except av.error.EOFError:
        return []
    except av.error.InvalidDataError:
        return []  # a damaged packet: FFmpeg conceals what it can in later frames


def sample_frames(info: VideoInfo, count: int = 8) -> list[av.VideoFrame]:
    """About `count` frames spread over the clip (seeking to the keyframe before each)."""
    if not info.frame_pts:
        return []
    picks = sorted({int(i) for i in np.linspace(0, info.frame_count - 1, count)})
    frames = (frame_at(info, index) for index in picks)
    return [frame for frame in frames if frame is not None]


def frame_at(info: VideoInfo, index: int) -> av.VideoFrame | None:
    """The clip's frame `index` (presentation order), decoded from the keyframe before it; None when
    it cannot be decoded."""
    pts = info.frame_pts[index]
    seek = None
    for key_pts, key_dts in sorted(info.keyframes):
        if key_pts <= pts:
            seek = key_dts
    return next(decode_segment(info.path, Segment(pts, None, seek, 1, index)), None)


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate stored pixels as a player would (counter-clockwise by `rotation`), so faces stand up."""
    return np.rot90(rgb, (rotation // 90) % 4)


def encoded_pixel_format(info: VideoInfo, codec: str) -> str:
    """The pixel format `codec` writes this clip in (pixel_formats.py)."""
    return pixel_format_for(info.pixel_format, info.width, info.height, codec)


def encodes_as_decoded(frame: av.VideoFrame, info: VideoInfo, codec: str) -> bool:
    """Whether `codec`'s encoder takes `frame` as it was decoded: the clip's size, the encoded pixel format."""
    return (frame.width, frame.height) == (info.width, info.height) and \
        frame.format.name == encoded_pixel_format(info, codec)


def as_stored(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Undo `upright`: the encoder gets pixels as the input stored them, rotation goes in metadata."""
    return np.ascontiguousarray(np.rot90(rgb, -(rotation // 90) % 4))


class SegmentWriter:
    """Encode frames into an MP4 with the input's time base, frame times, durations and size.

    Odd widths or heights cannot be 4:2:0; they are encoded 4:4:4 at the exact input size rather
    than padded or cropped, so the output's size stays the input's.
    """

    def __init__(self, sink: Path | io.BytesIO, info: VideoInfo, settings: EncodeSettings, first_frame: int = 0):
        self.path, self.first_frame = info.path, first_frame  # named in errors
        codec = settings.resolved_codec()
        self.info, self.codec = info, codec  # what takes_as_decoded asks
        odd = info.width % 2 or info.height % 2
        if odd and codec not in FULL_CHROMA_CODECS:
            raise StarbatchError(f"{info.path}: {info.width}x{info.height} has an odd side; "
                                 f"{codec} cannot encode it: use --codec libx264, libx265 or libvpx-vp9")
        options = {"movie_timescale": str(info.time_base.denominator)}
        if not isinstance(sink, io.BytesIO):
            # FFmpeg opens the file at its first packet, which x264's lookahead holds back for dozens
            # of frames: an unwritable place fails here instead, before any frame is edited.
            open(sink, "wb").close()
        self.container = av.open(sink if isinstance(sink, io.BytesIO) else str(sink), "w", format="mp4",
                                 options=options)  # fmt: skip
        try:
            self.stream = self.container.add_stream(codec)
        except (ValueError, av.FFmpegError) as error:
            self.container.close()
            raise StarbatchError(f"--codec {settings.codec}: not an encoder FFmpeg has here ({error})") from None
        context = self.stream.codec_context
        self.stream.width, self.stream.height = info.width, info.height
        self.stream.pix_fmt = pixel_format = encoded_pixel_format(info, codec)
        # Edited frames go from RGB to YUV by the matrix and range PyAV decoded them by (its default,
        # BT.601 limited, left a BT.709 clip's unedited pixels 7 levels of luma off on average), and
        # the output is tagged as the input: players show both as they showed the input.
        colour = info.colour
        same_levels = pixel_format == info.pixel_format  # else converted: full range squeezed (yuvj -> yuv)
        self.full_range = same_levels and colour.range == FULL_RANGE and not pixel_format.startswith("yuvj")
        self.matrix = colour.matrix if colour.matrix in SWSCALE_MATRICES else None
        context.color_primaries, context.color_trc = colour.primaries, colour.transfer
        context.colorspace = colour.matrix
        context.color_range = colour.range if same_levels else 0
        if info.pixel_aspect:  # an anamorphic clip displays as wide as the input
            context.sample_aspect_ratio = info.pixel_aspect
        context.time_base = info.time_base  # without this, FFmpeg re-times frames
        context.flags |= av.codec.context.Flags.frame_duration  # packets keep the frames' durations
        self.stream.time_base = info.time_base
        if info.average_rate:
            context.framerate = info.average_rate  # rate control hint only; pts rule timing
        encoder_options, x265_params = {}, "bframes=0:log-level=error"
        if settings.crf == 0 and codec in CRF_CODECS:  # lossless: x264's crf 0 is lossless at 8 bits only
            encoder_options.update({"libx264": {"qp": "0"}, "libvpx-vp9": {"lossless": "1", "b": "0"}}.get(codec, {}))
            x265_params += ":lossless=1"
        elif settings.crf is not None and codec in CRF_CODECS:
            encoder_options["crf"] = str(settings.crf)
            if codec == "libvpx-vp9":
                encoder_options["b"] = "0"
        if settings.preset and codec in ("libx264", "libx265"):
            encoder_options["preset"] = settings.preset
        # No B-frames: MP4 measures a track to the latest pts plus its decode-time gap, so with
        # reordering a clip's duration could come out up to a frame longer than the input's.
        if codec == "libx264":
            encoder_options.setdefault("bf", "0")
        if codec == "libx265":
            encoder_options.setdefault("x265-params", x265_params)
        self.stream.options = encoder_options
        self.frames = 0

    def write(self, rgb: np.ndarray, pts: int, duration: int | None) -> None:
        """An edited frame: (H, W, 3) uint8, or uint16 from a clip of more than 8 bits."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24").reformat(
            format=self.stream.pix_fmt, dst_colorspace=self.matrix,
            dst_color_range=av.video.reformatter.ColorRange.JPEG if self.full_range else None)
        self._encode(frame, pts, duration)

    def takes_as_decoded(self, frame: av.VideoFrame) -> bool:
        return encodes_as_decoded(frame, self.info, self.codec)

    def write_decoded(self, decoded: av.VideoFrame, pts: int, duration: int | None) -> None:
        """A frame as the decoder gave it, unconverted: one that `takes_as_decoded`."""
        self._encode(decoded, pts, duration)

    def _encode(self, frame: av.VideoFrame, pts: int, duration: int | None) -> None:
        frame.pict_type = av.video.frame.PictureType.NONE  # the encoder places keyframes, as for edited frames
        frame.pts = pts
        frame.time_base = self.stream.codec_context.time_base
        if duration:
            frame.duration = duration
        try:
            self.container.mux(self.stream.encode(frame))
        except av.FFmpegError as error:
            raise StarbatchError(f"{self.path}: frame {self.first_frame + self.frames}: cannot encode it "
                                 f"({_reason(error)})") from None  # fmt: skip
        self.frames += 1

    def close(self) -> None:
        try:
            if self.frames:
                self.container.mux(self.stream.encode(None))
        except av.FFmpegError as error:
            raise StarbatchError(f"{self.path}: frame {self.first_frame + self.frames - 1}: cannot finish "
                                 f"encoding ({_reason(error)})") from None  # fmt: skip
        finally:
            self.container.close()


def join(info: VideoInfo, segments: list[Path | bytes], output: Path) -> None:
    """Remux the segments' video with the input's audio and subtitles (copied) into `output`.

    Written as `.NAME.partial.EXT` beside `output` and renamed when complete.
    """
    output = Path(output)
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    opened = [av.open(io.BytesIO(s) if isinstance(s, bytes) else str(s)) for s in segments]
    original = _open(info.path)
    try:
        _join(info, original, [s for s in opened if s.streams.video], partial)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        original.close()
        for segment in opened:
            segment.close()


def _join(info: VideoInfo, original, segments, partial: Path) -> None:
    if not segments:
        raise StarbatchError(f"{info.path}: no frames were decoded")
    try:
        container = av.open(str(partial), "w")
    except (ValueError, av.FFmpegError) as error:
        raise StarbatchError(f"{partial.name}: cannot write this container ({_reason(error)}); "
                             "choose -o NAME.mp4 or NAME.mkv") from None
    template = segments[0].streams.video[0]
    mov_family = container.format.name.split(",")[0] in MOV_FORMATS
    if mov_family:
        container.options["movie_timescale"] = str(template.time_base.denominator)
    try:
        video = container.add_stream_from_template(template)
        if mov_family and template.codec_context.name == "hevc":
            # FFmpeg's default MP4 tag for HEVC, hev1, is one Apple's players refuse; hvc1 all play
            video.codec_tag = "hvc1"
        if info.rotation:
            video.set_display_rotation(info.rotation)  # before the first packet is muxed
        # the input video's language, handler name, timecode...; not what describes the old encoding
        video.metadata.update({k: v for k, v in video_stream(original, info.path).metadata.items()
                               if k.lower() not in ("encoder", "rotate", "duration", "bps", "number_of_bytes")})
        if "timecode" in video.metadata and info.average_rate:
            video.codec_context.framerate = info.average_rate  # MOV timecode track counts frames at this rate
        copied = {}
        for stream in original.streams:
            if stream.type not in COPIED_STREAM_TYPES:
                continue
            try:
                copied[stream.index] = container.add_stream_from_template(stream)
            except ValueError:
                raise StarbatchError(_cannot_copy(info.path, stream, partial.suffix)) from None
            copied[stream.index].metadata.update(stream.metadata)
        container.metadata.update({k: v for k, v in original.metadata.items() if k != "encoder"})
        copy_from = [original.streams[i] for i in copied]
        same_kind = container.format.name.split(",")[0] in MOV_FORMATS and original.format.name.startswith("mov")
        end = info.end_pts * info.time_base if info.end_pts is not None and same_kind else None
        video_packets = _video_packets(segments, video, end)
        packets = heapq.merge(video_packets, _copied_packets(original, copy_from, copied),
                              key=_seconds)  # fmt: skip
        frames = 0
        try:
            for packet in packets:
                container.mux(packet)
                frames += packet.stream.type == "video"
        except av.FFmpegError as error:
            raise StarbatchError(f"{info.path}: frame {frames}: cannot write it into {partial.name} "
                                 f"({_reason(error)})") from None  # fmt: skip
    finally:
        container.close()


def _seconds(packet: av.Packet) -> float:
    time = packet.dts if packet.dts is not None else packet.pts
    return float(time * packet.time_base) if time is not None else float("-inf")


def _video_packets(segments, out_stream, end: Fraction | None) -> Iterator[av.Packet]:
    """Segments' packets in order, with two fixes where segments meet and at the very end:

    - each segment's encoder starts its decode clock a few frames early when it uses B-frames, so
      at a join decode times are nudged to stay strictly increasing;
    - MP4 stores durations as decode-time gaps and the last packet's own length, and a track ends
      at the latest pts + length; the last packet is given the length that ends the output where
      the input ended (`end`, seconds), so durations match.
    """
    last_dts = held = None
    for segment in segments:
        for packet in segment.demux(segment.streams.video[0]):
            if packet.size == 0:
                continue
            if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                packet.dts = last_dts + 1
            last_dts = packet.dts
            packet.stream = out_stream
            if held is not None:
                yield held
            held = packet
    if held is None:
        return
    if end is not None and held.pts is not None:
        length = round(end / held.time_base) - held.pts
        if length > 0:
            held.duration = length
    yield held


def _copied_packets(original, streams, copied) -> Iterator[av.Packet]:
    if not streams:
        return
    for packet in original.demux(streams):
        if packet.size == 0 and packet.pts is None:
            continue  # the demuxer's end-of-stream marker
        packet.stream = copied[packet.stream_index]
        yield packet
