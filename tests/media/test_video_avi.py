"""Clips whose container carries no presentation times: AVI with B-frames, raw streams.

AVI stores frames in decode order with no presentation times; FFmpeg guesses them, so the
frames a decoder shows (in the right order) come out with their times out of order. MPEG-4
Part 2 AVIs from DivX and Xvid mostly use "packed" B-frames, made here the way those encoders
wrote them, from packets of FFmpeg's mpeg4 encoder.
"""

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.errors import StarbatchError
from starbatch.media.video import EncodeSettings, SegmentWriter, decode_segment, in_display_time, plan_segments, probe

RATE = 25
WIDTH, HEIGHT = 64, 48


def gradient(i: int) -> np.ndarray:
    """Frame i of the test clips: moving gradients, with i written in binary down the left edge
    (six 8x8 blocks, black or white: lossy codecs keep them, the centre crop leaves them alone)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    rgb = np.stack([(xx * 3 + i * 5) % 200, (yy * 4 + i * 3) % 200, (xx + yy + i * 4) % 200], 2).astype(np.uint8)
    for bit in range(6):
        rgb[bit * 8 : bit * 8 + 8, :8] = 255 if i >> bit & 1 else 0
    return rgb


def encode(codec: str, frames: int, b_frames: int = 2, gop: int = 12) -> list[bytes]:
    """The clip's packets in decode order, from an encoder left to reorder with `b_frames`."""
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    context.time_base, context.framerate = Fraction(1, RATE), RATE
    context.max_b_frames, context.gop_size = b_frames, gop
    context.options = {"bf": str(b_frames), "g": str(gop)}
    packets = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(gradient(i), format="rgb24")
        frame.pts = i
        packets += context.encode(frame)
    packets += context.encode(None)
    return [bytes(p) for p in packets]


VOP = b"\x00\x00\x01\xb6"


def vop_type(chunk: bytes) -> str:
    """I, P, B or S: the coding type of the chunk's last VOP (its first two bits)."""
    return "IPBS"[chunk[chunk.rindex(VOP) + 4] >> 6]


def not_coded_vop(anchor: bytes, time_bits: int) -> bytes:
    """An N-VOP (vop_coded = 0) with the anchor's time: the placeholder DivX writes where the
    packed anchor frame is due. Header: type(2) modulo_time_base(1..0) marker time marker coded."""
    bits = "".join(f"{byte:08b}" for byte in anchor[anchor.rindex(VOP) + 4 :][:8])
    end = bits.index("0", 2) + 1 + 1 + time_bits + 1
    header = "01" + bits[2:end] + "0"
    header += "0" + "1" * ((7 - len(header)) % 8)  # stuffing to the byte: a 0, then 1s
    return VOP + int(header, 2).to_bytes(len(header) // 8, "big")


def packed_b_frames(packets: list[bytes]) -> list[bytes]:
    """One chunk per frame, as VfW encoders had to: each anchor travels with the first B-frame
    shown before it, the other B-frames follow, and an N-VOP stands where the anchor is shown."""
    time_bits = (RATE - 1).bit_length()  # FFmpeg's vop_time_increment bits for resolution RATE
    chunks, i = [], 0
    while i < len(packets):
        anchor, i = packets[i], i + 1
        b_frames = []
        while i < len(packets) and vop_type(packets[i]) == "B":
            b_frames.append(packets[i])
            i += 1
        if b_frames:
            chunks += [anchor + b_frames[0], *b_frames[1:], not_coded_vop(anchor, time_bits)]
        else:
            chunks.append(anchor)
    # DivX's user data; the final "p" tells decoders the B-frames are packed.
    first_vop = chunks[0].index(VOP)
    chunks[0] = chunks[0][:first_vop] + b"\x00\x00\x01\xb2DivX503b1393p" + chunks[0][first_vop:]
    return chunks


def write_avi(path: Path, codec: str, chunks: list[bytes], keyframes: list[bool]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATE)
        stream.width, stream.height = WIDTH, HEIGHT
        for i, (chunk, key) in enumerate(zip(chunks, keyframes, strict=True)):
            packet = av.Packet(chunk)
            packet.pts = packet.dts = i
            packet.time_base, packet.stream, packet.is_keyframe = Fraction(1, RATE), stream, key
            container.mux(packet)
    return path


def mpeg4_packed_avi(path: Path, frames: int) -> Path:
    chunks = packed_b_frames(encode("mpeg4", frames))
    return write_avi(path, "mpeg4", chunks, [vop_type(c) == "I" for c in chunks])


def mpeg4_avi(path: Path, frames: int) -> Path:
    packets = encode("mpeg4", frames)
    return write_avi(path, "mpeg4", packets, [vop_type(c) == "I" for c in packets])


def h264_avi(path: Path, frames: int) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"bf": "3", "g": "12"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(gradient(i), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


AVIS = {"mpeg4 packed b-frames (divx, xvid)": mpeg4_packed_avi, "mpeg4 b-frames": mpeg4_avi,
        "h264 b-frames": h264_avi}  # fmt: skip
FRAMES = 48  # past x264's 40-frame lookahead, where the first packet is muxed


@pytest.fixture(scope="module")
def model(tmp_path_factory, random_model):
    return random_model(tmp_path_factory.mktemp("model") / "both.safetensors")


def decoded(path: Path) -> tuple[list[np.ndarray], list[Fraction | None]]:
    """Every frame as the decoder shows it, and the time the decoder attached to it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return ([f.to_ndarray(format="rgb24") for f in frames],
                [f.pts * stream.time_base if f.pts is not None else None for f in frames])  # fmt: skip


def shown_index(picture: np.ndarray) -> int:
    """Which frame of the clip a picture shows: the number written down its left edge."""
    return sum(1 << bit for bit in range(6) if picture[bit * 8 + 2 : bit * 8 + 6, 2:6].mean() > 128)


def run_cli(*args):
    return CliRunner().invoke(app, ["video", *map(str, args)])


@pytest.mark.parametrize("kind", list(AVIS))
def test_avi_with_b_frames_edits_every_frame_in_display_order(tmp_path, model, kind):
    source = AVIS[kind](tmp_path / "clip.avi", FRAMES)
    assert [shown_index(p) for p in decoded(source)[0]] == list(range(FRAMES))  # the file is right
    output = tmp_path / "clip_happy.mp4"
    result = run_cli(source, "--expression", "happy", "--model", model, "--faces", "center", "-o", output)
    assert result.exit_code == 0, result.output
    pictures, times = decoded(output)
    assert [shown_index(p) for p in pictures] == list(range(FRAMES))
    assert np.diff(times).tolist() == [Fraction(1, RATE)] * (FRAMES - 1)  # one frame each, in order
    with av.open(str(source)) as a, av.open(str(output)) as b:
        assert b.streams.video[0].duration * b.streams.video[0].time_base == Fraction(FRAMES, RATE)
        assert b.duration == a.duration


def test_decoded_times_of_such_files_are_really_out_of_order(tmp_path):
    # What made the muxer refuse the edit ("Invalid argument ... returned 22") before frames were re-timed.
    for make in (mpeg4_packed_avi, h264_avi):
        times = decoded(make(tmp_path / f"{make.__name__}.avi", FRAMES))[1]
        assert any(b <= a for a, b in zip(times, times[1:], strict=False))


@pytest.mark.parametrize("kind", list(AVIS))
def test_segments_of_an_avi_hold_every_frame_once_in_order(tmp_path, kind):
    info = probe(AVIS[kind](tmp_path / "clip.avi", FRAMES))
    segments = plan_segments(info, 3)
    assert len(segments) == 3  # what the Ray engine splits at (keyframes every 12 frames)
    times, pictures = [], []
    for segment in segments:
        frames = list(decode_segment(info.path, segment))
        assert len(frames) == segment.frame_count
        times += [f.pts for f in frames]
        pictures += [f.to_ndarray(format="rgb24") for f in frames]
    assert tuple(times) == info.frame_pts and times == sorted(set(times))
    assert [shown_index(p) for p in pictures] == list(range(FRAMES))


def test_raw_stream_without_any_times_is_timed_at_its_rate(tmp_path, model):
    source = tmp_path / "clip.h264"
    with av.open(str(source), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(gradient(i), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert decoded(source)[1] == [None] * 30
    info = probe(source)
    assert info.frame_count == 30 and set(np.diff(info.frame_pts) * info.time_base) == {Fraction(1, RATE)}
    output = tmp_path / "out.mp4"
    result = run_cli(source, "--expression", "happy", "--model", model, "--faces", "center", "-o", output)
    assert result.exit_code == 0, result.output
    assert "edited 30 frames" in result.output
    pictures, times = decoded(output)
    assert [shown_index(p) for p in pictures] == list(range(30))
    assert np.diff(times).tolist() == [Fraction(1, RATE)] * 29


def frames_timed(*times):
    return [SimpleNamespace(pts=t, order=i) for i, t in enumerate(times)]


def test_well_timed_frames_keep_their_times():
    frames = frames_timed(0, 512, 1536, 1600, 3000)  # variable frame rate
    assert [f.pts for f in in_display_time(frames, step=512)] == [0, 512, 1536, 1600, 3000]


def test_permuted_times_are_sorted_back_and_frames_keep_their_order():
    out = list(in_display_time(frames_timed(1, 2, 4, 3, 5, 7, 6, 8), step=1, depth=4))
    assert [f.pts for f in out] == [1, 2, 3, 4, 5, 6, 7, 8] and [f.order for f in out] == list(range(8))


def test_missing_or_repeated_times_follow_the_previous_frame_by_one_frame():
    assert [f.pts for f in in_display_time(frames_timed(None, None, None), step=40, start=10)] == [10, 50, 90]
    assert [f.pts for f in in_display_time(frames_timed(0, 40, 40, None, 200), step=40)] == [0, 40, 80, 120, 200]


def test_a_video_ffmpeg_cannot_decode_is_one_line_naming_the_file_and_frame(tmp_path, model):
    unknown = tmp_path / "odd.avi"
    unknown.write_bytes(h264_avi(tmp_path / "clip.avi", 12).read_bytes().replace(b"H264", b"ZZZZ"))
    result = run_cli(unknown, "--expression", "happy", "--model", model, "-o", tmp_path / "out.mp4")
    assert result.exit_code == 1  # the input failed (README, "Exit status")
    assert result.output.strip().splitlines() == [f"starbatch: error: {unknown}: frame 0: cannot decode it "
                                                  "(Decoder not found)"]  # fmt: skip


def test_an_encode_failure_names_the_file_and_the_frame(tmp_path):
    info = probe(mpeg4_avi(tmp_path / "clip.avi", 4))
    writer = SegmentWriter(tmp_path / "out.mp4", info, EncodeSettings(codec="mpeg4", crf=None), first_frame=10)
    writer.write(gradient(0), 0, 1)
    writer.write(gradient(1), 1, 1)
    with pytest.raises(StarbatchError, match=r"clip\.avi: frame 12: cannot encode it \(Invalid argument\)"):
        writer.write(gradient(2), 1, 1)  # a time already taken: the muxer refuses it
    writer.container.close()
