"""Photo files of every kind `edit` meets, good and bad, written field by field where no library writes them."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from starbatch.synthetic.pictures import face_like


def write_photo_tree(root: Path) -> dict[str, Path]:
    """A folder tree with every kind of file `edit` meets: good ones and bad ones."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "trip" / "day2").mkdir(parents=True, exist_ok=True)
    files = {}

    def put(name: str, image: Image.Image, **options) -> None:
        files[name] = root / name
        image.save(files[name], **options)

    put("portrait.jpg", Image.fromarray(face_like(120, 160, 1)), quality=92)
    put("trip/landscape.png", Image.fromarray(face_like(200, 90, 2)))
    put("trip/alpha.png", Image.fromarray(face_like(96, 96, 3)).convert("RGBA"))
    put("trip/gray.png", Image.fromarray(face_like(80, 100, 4)).convert("L"))
    put("trip/day2/photo.webp", Image.fromarray(face_like(100, 100, 5)), quality=90)
    put("trip/day2/scan.bmp", Image.fromarray(face_like(70, 70, 6)))
    put("trip/day2/scan.tiff", Image.fromarray(face_like(90, 60, 7)), compression="tiff_lzw")
    put("cmyk.jpg", Image.fromarray(face_like(100, 80, 8)).convert("CMYK"), quality=95)
    deep = (face_like(90, 70, 9)[:, :, 1].astype(np.uint16) * 257)
    put("deep16.png", Image.fromarray(deep))
    rotated = Image.fromarray(face_like(120, 80, 10))
    exif = rotated.getexif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    put("rotated.jpg", rotated, exif=exif.tobytes(), quality=95)
    # The bad ones.
    files["truncated.jpg"] = root / "truncated.jpg"
    files["truncated.jpg"].write_bytes(files["portrait.jpg"].read_bytes()[:1500])
    files["notimage.png"] = root / "notimage.png"
    files["notimage.png"].write_text("this is not a picture\n")
    files["empty.webp"] = root / "empty.webp"
    files["empty.webp"].write_bytes(b"")
    files["bomb.png"] = root / "bomb.png"
    files["bomb.png"].write_bytes(png_bomb(40_000, 40_000))
    (root / "notes.txt").write_text("ignored: not an image extension\n")
    return files


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def deep_tiff(rgb: np.ndarray, orientation: int = 1) -> bytes:
    """An uncompressed 16-bit RGB TIFF with an EXIF-style orientation tag, written field by field:
    neither Pillow nor OpenCV writes one (Pillow has no 16-bit colour mode; OpenCV writes no
    orientation)."""
    height, width, _ = rgb.shape
    pixels = np.ascontiguousarray(rgb, dtype="<u2").tobytes()
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1),
               (262, 3, 1, 2), (273, 4, 1, None), (274, 3, 1, orientation), (277, 3, 1, 3),
               (278, 4, 1, height), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = 8 + ifd_size
    pixels_at = bits_at + 6
    body = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = {258: bits_at, 273: pixels_at}.get(tag, value)
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 and count == 1 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, count) + packed
    body += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + body + struct.pack("<3H", 16, 16, 16) + pixels


def with_orientation(png: bytes, orientation: int) -> bytes:
    """The PNG with an eXIf chunk holding only an orientation tag, before its image data."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes().removeprefix(b"Exif\x00\x00")
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data))
    at = png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


@pytest.fixture(name="write_photo_tree")
def write_photo_tree_fixture():
    return write_photo_tree


@pytest.fixture(name="deep_tiff")
def deep_tiff_fixture():
    return deep_tiff


@pytest.fixture(name="with_orientation")
def with_orientation_fixture():
    return with_orientation
