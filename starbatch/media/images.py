"""Reading and writing photos: EXIF orientation, colour modes, bit depths, formats, bomb guard.

A Photo holds the pixels as RGB (uint8, or uint16 for 16-bit sources) plus what is needed to
write the result back in the input's own mode and format. 16-bit colour PNGs and TIFFs go through
OpenCV, since Pillow reads them as 8-bit. An animated PNG or WebP, a TIFF of several pages, an MPO
or a HEIF of several images is a Photo with its later frames (each whole, as shown: Pillow composes
an animation's frames), written back with every frame, its display time and the loop count.
"""

import functools
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from starbatch.errors import StarbatchError

# Our own size check (below) replaces Pillow's warning, so the limit is the user's to set.
Image.MAX_IMAGE_PIXELS = None
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default bomb limit

FORMAT_BY_SUFFIX = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
    ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".heic": "HEIF", ".heif": "HEIF",
}  # fmt: skip
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
DEEP_RGB_MODES = ("RGB;16", "RGBA;16")  # 16-bit colour PNG and TIFF: Pillow would cut them to 8 bits
DEEP_FORMATS = {"PNG": ".png", "TIFF": ".tiff"}  # the formats OpenCV writes at 16 bits per channel
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# read and written with all their frames: APNG, animated WebP, TIFF pages, MPO (a camera's stereo
# pair), HEIF with several images (a phone's burst)
MULTI_FRAME_FORMATS = ("PNG", "WEBP", "TIFF", "MPO", "HEIF")
STILL_SETS = ("TIFF", "MPO", "HEIF")  # of those, pictures side by side, not an animation
ORIENTATION_TAG = 0x0112


@dataclass
class Photo:
    rgb: np.ndarray  # (H, W, 3) uint8 or uint16, upright
    mode: str  # the source's Pillow mode, restored on save
    format: str  # Pillow format name, kept on save
    alpha: np.ndarray | None = None  # (H, W), same dtype as rgb, untouched by edits
    save_options: dict = field(default_factory=dict)
    frames: tuple["Photo", ...] = ()  # an animation's (or a TIFF's pages') later frames, in order
    duration: float | None = None  # an animation frame's display time, ms

    @property
    def pictures(self) -> tuple["Photo", ...]:
        """Every frame, this one first (a still photo: itself)."""
        return (self, *self.frames)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def max_value(self) -> int:
        return 65535 if self.rgb.dtype == np.uint16 else 255


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in FORMAT_BY_SUFFIX


@functools.cache
def _heif_support() -> None:
    """HEIC / HEIF (phones' default) through pillow-heif, loaded for the first such file only."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def read_photo(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode `path` upright; raise StarbatchError naming the cause for anything unreadable."""
    if FORMAT_BY_SUFFIX.get(Path(path).suffix.lower()) == "HEIF":
        _heif_support()
    try:
        with Image.open(path) as image:
            width, height = image.size
            count = getattr(image, "n_frames", 1) if image.format in MULTI_FRAME_FORMATS else 1
            if max_pixels and width * height * count > max_pixels:
                frames = f"{count} frames of " if count > 1 else ""
                raise StarbatchError(
                    f"{frames}{width}x{height} is {width * height * count / 1e6:.0f} megapixels, over the "
                    f"{max_pixels / 1e6:.0f} MP limit (decompression bomb guard; see --max-pixels)"
                )
            if count == 1 and _is_16_bit_colour(path, image):
                return _read_16_bit_colour(path, image)
            image.load()
            orientation = image.getexif().get(ORIENTATION_TAG, 1)  # the first frame's reading resets it
            first = _to_photo(image)
            if count == 1:
                return first
            later = []
            for index in range(1, count):
                image.seek(index)
                image.load()
                image.getexif()[ORIENTATION_TAG] = orientation  # every frame turned as the first
                later.append(_to_photo(image, first.save_options))
            return replace(first, frames=tuple(later))
    except StarbatchError:
        raise
    except UnidentifiedImageError:
        if path.stat().st_size == 0:  # e.g. a copy or a download that never finished
            raise StarbatchError("empty file (0 bytes)") from None
        raise StarbatchError("not an image Pillow can read (damaged or wrong format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise StarbatchError(f"damaged image: {error}") from None


def _to_photo(image: Image.Image, options: dict | None = None) -> Photo:
    """The current frame as a Photo; `options`: the save options already read (a later frame's are
    the file's, which the first frame's read: a WebP's chunks are not scanned again per frame)."""
    source_format = image.format or "PNG"
    mode = image.mode
    upright = ImageOps.exif_transpose(image)  # before _save_options, which resets the tag
    options = _save_options(image) if options is None else options
    alpha = None
    if mode in SIXTEEN_BIT_MODES or mode == "F":
        gray = np.asarray(upright, dtype=np.float64)
        gray = np.clip(gray, 0, 65535).astype(np.uint16) if mode != "F" else _float_to_16(gray)
        return Photo(np.repeat(gray[:, :, None], 3, axis=2), mode, source_format, None, options,
                     duration=_duration(image))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = upright.convert("RGBA")
        alpha = np.asarray(rgba)[:, :, 3].copy()
        rgb = np.asarray(rgba.convert("RGB"))
    else:
        rgb = np.asarray(upright.convert("RGB"))
    return Photo(rgb.copy(), mode, source_format, alpha, options, duration=_duration(image))


def _duration(image: Image.Image) -> float | None:
    """An animation frame's display time in ms (None for a still)."""
    if not getattr(image, "is_animated", False) or image.format in STILL_SETS:
        return None
    duration = image.info.get("duration")
    return float(duration) if duration is not None else None


def _is_16_bit_colour(path: Path, image: Image.Image) -> bool:
    """16 bits per channel, RGB or RGBA: a PNG's IHDR says so, a TIFF's raw mode (RGB;16N...)."""
    if image.format == "PNG":
        with open(path, "rb") as handle:
            head = handle.read(26)
        return head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 6)
    if image.format == "TIFF" and image.mode in ("RGB", "RGBA") and image.tile:
        raw_mode = image.tile[0].args[0] if image.tile[0].args else ""
        return isinstance(raw_mode, str) and raw_mode.startswith(("RGB;16", "RGBA;16", "RGBX;16"))
    return False


def _read_16_bit_colour(path: Path, image: Image.Image) -> Photo:
    """OpenCV keeps all 16 bits (Pillow has no 16-bit colour mode); Pillow still gives the
    orientation and the save options."""
    import cv2

    pixels = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3:
        raise StarbatchError(f"damaged image: 16-bit {image.format} data could not be decoded")
    if image.format == "PNG":  # OpenCV turns TIFFs upright itself, but ignores a PNG's eXIf
        pixels = _upright(pixels, image.getexif().get(ORIENTATION_TAG, 1))
    rgb = np.ascontiguousarray(pixels[:, :, 2::-1])  # OpenCV gives BGR(A)
    alpha = pixels[:, :, 3].copy() if pixels.shape[2] == 4 else None
    mode = "RGBA;16" if alpha is not None else "RGB;16"
    return Photo(rgb, mode, image.format, alpha, _save_options(image))


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """What ImageOps.exif_transpose does, for arrays Pillow cannot hold."""
    turned = {2: pixels[:, ::-1], 3: pixels[::-1, ::-1], 4: pixels[::-1],
              5: pixels.transpose(1, 0, 2), 6: np.rot90(pixels, -1),
              7: pixels[::-1, ::-1].transpose(1, 0, 2), 8: np.rot90(pixels, 1)}
    return np.ascontiguousarray(turned.get(orientation, pixels))


def _encode_16_bit_colour(photo: Photo, image_format: str) -> bytes:
    """PNG or TIFF at 16 bits per channel (OpenCV's encoder: the colour profile and EXIF are not
    kept)."""
    import cv2

    planes = [photo.rgb[:, :, 2::-1]] + ([photo.alpha[:, :, None]] if photo.alpha is not None else [])
    pixels = np.ascontiguousarray(np.concatenate(planes, axis=2))
    ok, data = cv2.imencode(DEEP_FORMATS[image_format], pixels)
    if not ok:
        raise StarbatchError(f"could not encode the 16-bit {image_format}")
    return data.tobytes()


def _float_to_16(gray: np.ndarray) -> np.ndarray:
    return (np.clip(gray, 0.0, 1.0) * 65535 + 0.5).astype(np.uint16)


def _save_options(image: Image.Image) -> dict:
    """What to keep when writing the result: colour profile, resolution, EXIF, compression."""
    options = {}
    for key in ("icc_profile", "dpi"):
        if image.info.get(key):
            options[key] = image.info[key]
    exif = image.getexif()
    if exif:
        exif[ORIENTATION_TAG] = 1  # pixels are written upright
        options["exif"] = exif.tobytes()
    if image.format in ("JPEG", "MPO"):  # MPO: JPEGs, one per picture
        options["quality"] = 95
        try:
            from PIL import JpegImagePlugin

            sampling = JpegImagePlugin.get_sampling(image)
            if sampling >= 0:
                options["subsampling"] = sampling
        except (AttributeError, ImportError):  # pragma: no cover - old Pillow
            pass
    elif image.format == "WEBP":
        if _webp_is_lossless(getattr(image, "filename", "")):
            options.update(lossless=True, quality=100, method=4)  # a lossless source stays lossless
        else:
            options.update(quality=95, method=4)
    elif image.format == "HEIF":
        options["quality"] = 90  # pillow-heif's default is 50
    elif image.format == "TIFF":
        options["compression"] = image.info.get("compression", "raw")
    if image.format in ("PNG", "WEBP") and getattr(image, "is_animated", False):
        options["loop"] = image.info.get("loop", 0)
    return options


def _webp_is_lossless(path: str) -> bool:
    """Whether every picture of a WebP file is coded lossless (VP8L chunks, in ANMF frames too), from
    its RIFF chunks; Pillow does not say."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    kinds, stack = set(), [(12, len(data))]
    while stack:
        offset, end = stack.pop()
        while offset + 8 <= end:
            fourcc, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
            if fourcc in (b"VP8 ", b"VP8L"):
                kinds.add(fourcc)
            elif fourcc == b"ANMF":  # a frame: 16 bytes of placement, then its own chunks
                stack.append((offset + 8 + 16, min(end, offset + 8 + size)))
            offset += 8 + size + (size & 1)
    return kinds == {b"VP8L"}


def photo_to_image(photo: Photo) -> Image.Image:
    """The edited pixels back in the source's mode (alpha re-attached, gray kept gray)."""
    if photo.rgb.dtype == np.uint16:
        luma = photo.rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        gray = np.clip(luma + 0.5, 0, 65535)
        if photo.mode == "F":
            return Image.fromarray((gray / 65535).astype(np.float32), "F")
        image = Image.fromarray(gray.astype(np.int32), "I")
        return image if photo.mode == "I" else image.convert(photo.mode)
    image = Image.fromarray(photo.rgb, "RGB")
    if photo.alpha is not None:
        image.putalpha(Image.fromarray(photo.alpha, "L"))
        if photo.mode in ("LA", "RGBA"):
            return image.convert(photo.mode)
        return image  # palette with transparency: keep full colour rather than re-quantise
    if photo.mode in ("L", "1", "CMYK", "RGB", "YCbCr", "LAB", "HSV"):
        return image.convert(photo.mode)
    return image


def encode_photo(photo: Photo, image_format: str | None = None) -> bytes:
    """Encode in `image_format` (default: the source's) with the source's save options; an
    animation or a TIFF of pages with all its frames."""
    image_format = image_format or photo.format
    if image_format == "HEIF":
        _heif_support()
    if photo.frames:
        return _encode_frames(photo, image_format)
    if photo.mode in DEEP_RGB_MODES and image_format in DEEP_FORMATS:
        return _encode_16_bit_colour(photo, image_format)
    if photo.mode in DEEP_RGB_MODES:  # another format asked for: 8 bits, as Pillow can write
        photo = Photo((photo.rgb >> 8).astype(np.uint8), photo.mode[:-3], photo.format,
                      None if photo.alpha is None else (photo.alpha >> 8).astype(np.uint8), photo.save_options)
    image = photo_to_image(photo)
    options = dict(photo.save_options)
    if image_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if image_format == "BMP":
        options = {k: v for k, v in options.items() if k == "dpi"}
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=image_format, **options)
    except (OSError, ValueError, TypeError):
        buffer = io.BytesIO()  # an option the encoder refuses (odd EXIF): keep the pixels
        image.save(buffer, format=image_format)
    return buffer.getvalue()


def _encode_frames(photo: Photo, image_format: str) -> bytes:
    """Every frame, in one file of a format that holds several (APNG, animated WebP, TIFF pages,
    MPO, HEIF)."""
    pictures = photo.pictures
    if image_format == "JPEG" and photo.format == "MPO":  # -o NAME.jpg: MPO files are named so
        image_format = "MPO"
    if image_format not in MULTI_FRAME_FORMATS:
        raise StarbatchError(f"{len(pictures)} frames, and a {image_format} file holds one picture: "
                             "choose -o NAME.webp, NAME.png or NAME.tiff")
    images = [photo_to_image(replace(p, frames=())) for p in pictures]
    still = image_format in STILL_SETS
    options = {k: v for k, v in photo.save_options.items() if not still or k != "loop"}
    durations = [p.duration for p in pictures]
    if not still and None not in durations:
        options["duration"] = durations
    buffer = io.BytesIO()
    images[0].save(buffer, format=image_format, save_all=True, append_images=images[1:], **options)
    return buffer.getvalue()
