"""The batch function shared by every engine: prepare a photo, run G on a batch, paste the edit back.

Data flow (DESIGN.md, "Data flow of edit"): each face's crop (face_detection.py; the central
square with --faces center) is resized to the model size; G's change is pasted back as an
upsampled residual so untouched detail keeps its full resolution.
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from starbatch.checkpoint import LoadedModel, load_model, read_config
from starbatch.errors import StarbatchError
from starbatch.face_detection import FaceBox
from starbatch.images import Photo
from starbatch.labels import BINARY, EditPass, plan_passes, source_from_text, target_part
from starbatch.turned_crop import turned_back, turned_pixels

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Where a found face's change goes, in crop sides: the training framing (train/faces.py) puts the
# face's centre at 0.52 of the frame, its half-width at 0.23 and the hair up to ~0.3 either side
# and ~0.3 above; the ellipse covers that, its feather reaches long hair at the shoulders.
HEAD_ELLIPSE = (0.5, 0.55, 0.42, 0.5)  # centre x, centre y, half-width, half-height
HEAD_FEATHER = (0.8, 1.1)  # of the ellipse's radius: the whole change inside, none beyond


def model_input(photo: Photo, box: FaceBox, image_size: int) -> np.ndarray:
    """(3, S, S) float32 in [-1, 1]: the crop resized as the official loader does.

    8-bit sources go through Pillow's bilinear resize on uint8 (torchvision's Resize on PIL), so
    results match the official pipeline; 16-bit sources are resized in float to keep their depth.
    """
    if box.turn:
        crop = turned_pixels(photo.rgb, box)
    else:
        crop = photo.rgb[box.top : box.top + box.side, box.left : box.left + box.side]
    size = (image_size, image_size)
    if crop.dtype == np.uint8:
        small = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR), dtype=np.float32)
        small /= 255.0
    else:
        channels = [
            np.asarray(Image.fromarray(crop[:, :, i].astype(np.float32) / 65535.0, "F")
                       .resize(size, Image.BILINEAR)) for i in range(3)
        ]  # fmt: skip
        small = np.stack(channels, axis=2)
    return np.ascontiguousarray(small.transpose(2, 0, 1)) * 2.0 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, 3, H, W) -> uint8 (N, H, W, 3), rounding as torchvision's save_image."""
    scaled = ((images.float() + 1) / 2).mul(255).add(0.5).clamp(0, 255)
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def crop_photo(edited: torch.Tensor, source_format: str = "PNG") -> Photo:
    """--crop-only: the model-size output itself, as an 8-bit RGB photo."""
    return Photo(to_uint8(edited[None])[0], "RGB", source_format)


def paste_edit(photo: Photo, box: FaceBox, before: torch.Tensor, after: torch.Tensor) -> Photo:
    """Add G's change (after - before, at model size) upsampled onto the full-resolution crop.

    A found face's change is blended over its head only (head_mask): StarGAN's instance norm
    shifts the colours of large flat areas, and a crop's shifted background would show as a box.
    The central square (--faces center) takes the change whole, fading out over 1/32 of its side
    where it meets the rest of the image. Unchanged pixels come back bit-exact. A turned crop's
    change is turned back (turned_crop.py).
    """
    residual = ((after.float() - before.float()) / 2)[None]  # [-1, 1] units -> [0, 1] units
    change = F.interpolate(residual, size=(box.side, box.side), mode="bilinear",
                           align_corners=False)[0].permute(1, 2, 0).numpy()  # fmt: skip
    weight = head_mask(box.side) if box.head else _fade_mask(photo.size, box, every_side=bool(box.turn))
    change *= weight[:, :, None]
    if box.turn:
        region, change = turned_back(change, box, *photo.size)
    else:
        region = (slice(box.top, box.top + box.side), slice(box.left, box.left + box.side))
    crop = photo.rgb[region].astype(np.float32)
    edited = np.clip(crop + change * photo.max_value, 0, photo.max_value) + 0.5
    rgb = photo.rgb.copy()
    rgb[region] = edited.astype(photo.rgb.dtype)
    return Photo(rgb, photo.mode, photo.format, photo.alpha, photo.save_options)


@functools.lru_cache(maxsize=8)
def head_mask(side: int) -> np.ndarray:
    """(side, side) weights over a face crop: 1 over the face and hair of the training framing (an
    ellipse HEAD_ELLIPSE), falling to 0 from HEAD_FEATHER[0] to HEAD_FEATHER[1] of its radius, so
    the crop's corners and sides (background) keep their pixels. Cached, read-only: a video's
    frames share one crop size for long stretches."""
    centre_x, centre_y, half_width, half_height = HEAD_ELLIPSE
    inner, outer = HEAD_FEATHER
    t = (np.arange(side, dtype=np.float32) + 0.5) / side
    radius = np.hypot(((t - centre_x) / half_width)[None, :], ((t - centre_y) / half_height)[:, None])
    mask = np.clip((outer - radius) / (outer - inner), 0.0, 1.0)
    mask.flags.writeable = False
    return mask


def _fade_mask(size: tuple[int, int], box: FaceBox, every_side: bool = False) -> np.ndarray:
    width, height = size
    ramp = max(1, box.side // 32)
    steps = np.minimum(np.arange(box.side) + 1, ramp).astype(np.float32) / ramp
    near = np.ones(box.side, dtype=np.float32)
    rows, cols = near.copy(), near.copy()
    if box.top > 0 or every_side:
        rows = np.minimum(rows, steps)
    if box.top + box.side < height or every_side:
        rows = np.minimum(rows, steps[::-1])
    if box.left > 0 or every_side:
        cols = np.minimum(cols, steps)
    if box.left + box.side < width or every_side:
        cols = np.minimum(cols, steps[::-1])
    return rows[:, None] * cols[None, :]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StarbatchError("--device cuda: no CUDA GPU is visible to PyTorch")
    if name not in ("cpu", "cuda"):
        raise StarbatchError(f"--device {name!r}: choose auto, cpu or cuda")
    return torch.device(name)


class Editor:
    """Loads the model once and edits batches of model inputs; the same class runs in Ray actors.

    `source` is the user's --from (per label set); without it, binary label sets take their
    source labels from D's classifier head, which the model file must then carry.
    """

    def __init__(
        self,
        model: LoadedModel | Path,
        passes: list[EditPass],
        source: dict[str, np.ndarray] | None = None,
        device: str = "auto",
        precision: str = "fp32",
    ):
        self.device = pick_device(device)
        if precision not in PRECISIONS:
            raise StarbatchError(f"--precision {precision!r}: choose fp32, bf16 or fp16")
        if precision != "fp32" and self.device.type != "cuda":
            raise StarbatchError(f"--precision {precision} needs a GPU; on CPU starbatch runs fp32")
        self.dtype = PRECISIONS[precision]
        self.model = model if isinstance(model, LoadedModel) else load_model(model, self.device)
        self.model.generator.to(self.device)
        self.passes = passes
        self.source = source
        needs_source = any(p.label_set.kind == BINARY for p in passes)
        if needs_source and source is None and self.model.discriminator is None:
            raise StarbatchError(
                f"{self.model.path.name} carries no classifier to estimate the photos' current "
                "labels: give them with --from (e.g. --from Blond_Hair,Young)"
            )

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] -> edited (N, 3, S, S) float32 on the CPU."""
        x = images.to(self.device, non_blocking=True)
        sources = self._source_labels(x) if self.source is None else None
        space = self.model.config.labels
        for edit in self.passes:
            name = edit.label_set.name
            source = sources[name] if sources is not None else self.source[name]
            part = target_part(edit, source, x.shape[0])
            labels = torch.from_numpy(space.full_vector(edit.label_set, part)).to(self.device)
            with torch.autocast(self.device.type, self.dtype, enabled=self.dtype != torch.float32):
                x = self.model.generator(x, labels)
        return x.float().cpu()

    @torch.inference_mode()
    def estimate_source(self, images: torch.Tensor) -> dict[str, np.ndarray] | None:
        """One set of source labels for many images of one subject (a clip's frames): D's logits
        averaged over them, so every frame gets the same labels and edits do not flicker."""
        if self.model.discriminator is None:
            return None
        _, logits = self.model.discriminator(images.to(self.device).float())
        return {name: part[0] for name, part in self._split_by_set(logits.mean(0, keepdim=True)).items()}

    def _source_labels(self, x: torch.Tensor) -> dict[str, np.ndarray] | None:
        """Each binary set's current labels as D's classifier sees them (logit > 0)."""
        if self.model.discriminator is None:
            return None
        _, logits = self.model.discriminator(x.float())
        return self._split_by_set(logits)

    def _split_by_set(self, logits: torch.Tensor) -> dict[str, np.ndarray]:
        space = self.model.config.labels
        found = {}
        for label_set in space.sets:
            start = space.offset(label_set)
            found[label_set.name] = (
                (logits[:, start : start + len(label_set.labels)] > 0).float().cpu().numpy()
            )
        return found


@dataclass(frozen=True)
class EditorSpec:
    """What an Editor is made from, small enough to send to Ray actors, which build their own."""

    model_path: Path
    passes: tuple[EditPass, ...]
    source: dict[str, np.ndarray] | None
    device: str = "auto"
    precision: str = "auto"

    @classmethod
    def from_options(cls, model_path: Path, to: str | None, expression: str | None, source_text: str | None,
                     device: str = "auto", precision: str = "auto") -> "EditorSpec":  # fmt: skip
        """Validate the CLI's label options against the model file's vocabulary."""
        space = read_config(Path(model_path)).labels
        source = source_from_text(space, source_text) if source_text else None
        return cls(Path(model_path), tuple(plan_passes(space, to, expression)), source, device, precision)

    def build(self, device: str | None = None) -> Editor:
        torch_device = pick_device(device or self.device)
        precision = self.precision
        if precision == "auto":
            precision = "bf16" if torch_device.type == "cuda" else "fp32"
        return Editor(self.model_path, list(self.passes), self.source, str(torch_device), precision)
