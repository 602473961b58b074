"""Which pixel format and colour tags an edited clip is written with: the input's own where the
encoder has them, so frames without a face pass through unconverted and edited ones go back from RGB
as PyAV decoded them (media/video.py's SegmentWriter)."""

from dataclasses import dataclass
from functools import cache

import av

FULL_CHROMA_CODECS = ("libx264", "libx265", "libvpx-vp9")  # can encode odd sizes as yuv444p
# can encode full-range 4:2:0 (yuvj420p) as it is decoded: a webcam's MJPEG or a full-range H.264 clip
# keeps its levels (squeezed into 16-235, frames without a face came back 1.3-1.7 levels off at --crf 0)
FULL_RANGE_CODECS = ("libx264", "libx265")


@dataclass(frozen=True)
class Colour:
    """A clip's colour tags (FFmpeg's AVColorRange, AVColorPrimaries, AVColorTransferCharacteristic,
    AVColorSpace numbers), as its first frame decodes: PyAV turns frames into RGB by their matrix and
    range, so edited frames are turned back by the same ones, and the output carries the tags."""

    range: int = 0  # unspecified (limited, except yuvj formats); 2: full
    primaries: int = 2  # 2: unspecified
    transfer: int = 2
    matrix: int = 2  # 1: BT.709, 5/6: BT.601, 9: BT.2020; unspecified: BT.601


# AVColorSpace numbers swscale has coefficients for; PyAV decodes the others with BT.601's.
SWSCALE_MATRICES = {1, 4, 5, 6, 7, 9}
FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def pixel_format_for(decoded: str, width: int, height: int, codec: str) -> str:
    """The decoded pixel format where `codec` can encode it at the clip's size (as ffmpeg keeps it):
    4:2:2, 4:4:4, 10 bits, full range stay as they are, and frames without a face pass through
    unconverted. Else the same chroma at 8 bits, then 4:2:0 (full-range where the input is and `codec`
    can hold it), or 4:4:4 where a side is odd (4:2:0 cannot hold it at the exact size)."""
    full_range = decoded.startswith("yuvj")
    eight_bit = decoded.split("p")[0] + "p" if decoded.startswith("yuv") else decoded  # yuv422p10le -> yuv422p
    supported = _encoder_formats(codec)
    for candidate in (decoded, eight_bit):
        if candidate.startswith("yuv") and not candidate.startswith("yuva") and candidate in supported \
                and _holds_size(candidate, width, height):
            return candidate
    if width % 2 or height % 2:
        return "yuv444p"
    return "yuvj420p" if full_range and codec in FULL_RANGE_CODECS else "yuv420p"


@cache
def _encoder_formats(codec: str) -> frozenset[str]:
    try:
        return frozenset(f.name for f in av.Codec(codec, "w").video_formats or ())
    except (ValueError, av.FFmpegError):
        return frozenset()


def _holds_size(pixel_format: str, width: int, height: int) -> bool:
    """Whether `pixel_format`'s chroma planes cover a width x height picture exactly (4:2:0 needs
    both sides even, 4:2:2 an even width, 4:4:4 nothing)."""
    try:
        luma, chroma = av.VideoFormat(pixel_format, 4, 4).components[:2]
    except ValueError:
        return False
    return (chroma.width == luma.width or width % 2 == 0) and (chroma.height == luma.height or height % 2 == 0)
