"""The batch function every engine runs: model-size inputs -> G, conditioned as the family says -> outputs.

The Editor knows no family: the model's family turns the request into what G is conditioned on
(models/family.py), one condition per generator pass, and the Editor runs the passes.

torch is imported where the weights load and run, not at import: EditorSpec.from_options checks a
request from the model file's header alone, so a usage error answers before torch loads.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starbatch.faces.retinaface import MIN_FACE
from starbatch.inference.backends import check_backend, make_generator
from starbatch.inference.runtime import check_precision, pick_device, resolve_precision
from starbatch.models.family import EditOptions, LoadedModel
from starbatch.models.model_file import network_names, read_header
from starbatch.models.registry import config_from_metadata, family, load_model

if TYPE_CHECKING:
    import torch


class Editor:
    """Loads the model once and edits batches of model inputs; the same class runs in Ray actors.

    `request` is the model family's (e.g. v1's label passes and source labels), made by
    EditorSpec.from_options; `precision` "auto" resolves for this Editor's device, `backend`
    (auto, torch, onnxruntime) for its device and precision (backends.py); `framing` (how faces are
    cropped for the model, faces/alignment.py) defaults to the model file's; `min_face` is the
    smallest face (box side, photo px) the engines look for.
    """

    def __init__(self, model: LoadedModel | Path, request: Any, device: str = "auto", precision: str = "auto",
                 backend: str = "auto", framing: str | None = None, min_face: float = MIN_FACE):  # fmt: skip
        self.device = pick_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model = model if isinstance(model, LoadedModel) else load_model(model, self.device)
        self.framing = framing or self.model.config.framing
        self.min_face = min_face
        self.model.generator.to(self.device)
        self.generator = make_generator(self.model, self.device, self.precision, backend)
        self.use(request)

    def use(self, request: Any) -> None:
        """Condition G by `request` from now on (video: the request settled for the clip)."""
        self.request = request
        self.conditioning = self.model.conditioning(request)

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    def __call__(self, images: torch.Tensor, variants: list[int] | None = None) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] -> edited (N, 3, S, S) float32 on the CPU; `variants`: which of the
        request's variants each image becomes (None: the first)."""
        import torch  # loaded with the weights already (__init__): a lookup

        with torch.inference_mode():
            x = images.to(self.device, non_blocking=True)
            for condition in self.conditioning.conditions(x, variants):
                x = self.generator(x, condition)
            return x.float().cpu()

    def settled_request(self, images: torch.Tensor) -> Any:
        """The request fixed once for many images of one subject (a clip's sampled frames)."""
        import torch

        with torch.inference_mode():
            return self.conditioning.settled(images.to(self.device))


@dataclass(frozen=True)
class EditorSpec:
    """What an Editor is made from, small enough to send to Ray actors, which build their own:
    each resolves "auto" device and precision for itself (a GPU worker runs bf16)."""

    model_path: Path
    request: Any
    device: str = "auto"
    precision: str = "auto"
    notes: tuple[str, ...] = ()  # what the family tells the user about the request (CLI prints them)
    variants: tuple[str, ...] = ("",)  # output name suffixes: one output per variant of each input
    backend: str = "auto"
    framing: str = ""  # how faces are cropped for the model: --framing, else the model file's
    min_face: float = MIN_FACE  # the smallest face looked for (--min-face)

    @classmethod
    def from_options(cls, model_path: Path, options: EditOptions, device: str = "auto", precision: str = "auto",
                     faces: str = "detect", backend: str = "auto", framing: str | None = None,
                     min_face: float = MIN_FACE) -> EditorSpec:
        """Check the user's request against the model file's header: no weights are read. A
        reference photo's face is found and aligned here, as the inputs are (`faces`, `framing`,
        `min_face`)."""
        model_path = Path(model_path)
        metadata, names = read_header(model_path)
        config = config_from_metadata(model_path, metadata)
        framing = framing or config.framing
        model_family = family(config.architecture)
        model_family.check_options(model_path, options)
        options = replace(options, crop_reference=functools.partial(_reference_crop, image_size=config.image_size,
                                                                    faces=faces, framing=framing, min_face=min_face))
        request = model_family.request(model_path, config, network_names(names), options)
        check_precision(precision)
        check_backend(backend)
        return cls(model_path, request, device, precision, tuple(model_family.notes(config, options)),
                   model_family.variants(request), backend=backend, framing=framing or "", min_face=min_face)

    def build(self, device: str | None = None, precision: str | None = None) -> Editor:
        return Editor(self.model_path, self.request, device or self.device, precision or self.precision,
                      self.backend, self.framing or None, self.min_face)


def _reference_crop(path: Path, image_size: int, faces: str, framing: str, min_face: float):
    """A --ref photo's face crop; compositing (and torch) load only when a request has one."""
    from starbatch.inference.compositing import reference_input

    return reference_input(path, image_size, faces, framing, min_face)
