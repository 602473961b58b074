"""What a model family is: the interface the Editor, the engines and the CLI use without asking
which family they run (DESIGN.md, "Model families").

A family (stargan_v1/ now, stargan_v2/ next) reads its configuration from a model file's metadata,
builds and loads its networks, imports the official checkpoints, and turns the user's request into
what its generator is conditioned on: for v1, target label vectors, with the photos' current labels
from --from or estimated by D's classifier; for v2, style codes from a mapping network and a seed,
or from a style encoder reading a reference photo. A family's request is its own small frozen
object, picklable, so Ray workers can build the same conditioning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from starbatch.errors import StarbatchError

if TYPE_CHECKING:  # torch is not imported for `starbatch --help`
    import torch
    from torch import nn


# How a model's training faces were framed (faces/alignment.py's FRAMINGS, which a test keeps
# equal), spelled here so that reading a model file's header imports no numpy.
FRAMINGS = ("celeba", "celeba-hq", "synthetic", "none")


class ModelConfig(Protocol):
    """What every family's configuration has; the rest is the family's own."""

    architecture: str
    version: int
    image_size: int
    step: int
    framing: str

    def to_json(self) -> str: ...


@dataclass(frozen=True)
class EditOptions:
    """The user's request as the CLI takes it, before a family reads it against the model file.

    StarGAN v1 reads `to`, `expression` and `source_labels` (the --from text); StarGAN v2 `domain`,
    `seed` (the --seed text: one or more seeds), `psi` and `reference` (a photo whose face gives the
    style). A family takes the options in its `takes`; any other one given is refused in one line
    (Family.check_options). `crop_reference` is not the user's: it makes a photo's face crop at the
    model's size, given by the inference side, which crops every photo (models/ reads none); a
    family calls it once the rest of the request is checked."""

    to: str | None = None
    expression: str | None = None
    source_labels: str | None = None
    domain: str | None = None
    seed: str | None = None
    psi: float | None = None
    reference: Path | None = None
    crop_reference: Callable[[Path], Any] | None = None  # -> (3, S, S) float32 numpy array in [-1, 1]


# How the CLI spells each option, for messages.
OPTION_FLAGS = {"to": "--to", "expression": "--expression", "source_labels": "--from", "domain": "--domain",
                "seed": "--seed", "psi": "--psi", "reference": "--ref"}


class Conditioning(ABC):
    """What G is conditioned on, for batches of model inputs: one condition per generator pass."""

    @property
    @abstractmethod
    def reads_images(self) -> bool:
        """Whether the conditions depend on the images edited (v1: labels estimated by D)."""

    @abstractmethod
    def conditions(self, images: torch.Tensor,
                   variants: list[int] | None = None) -> list[torch.Tensor | tuple[torch.Tensor, ...]]:
        """For (N, 3, S, S) model inputs on the model's device: what each pass of G takes after the
        images, one tensor (v1: the target labels) or a tuple of them (v2: style code, masks), each
        with the batch first.

        `variants`: which of the request's variants (Family.variants) each image is edited into;
        None: the first, for all."""

    @abstractmethod
    def settled(self, images: torch.Tensor) -> Any:
        """A request whose conditions no longer depend on the images, decided once from `images`
        (a clip's sampled frames), so every frame gets the same ones and edits do not flicker."""


@dataclass(frozen=True)
class GeneratorExport:
    """How a family's generator is traced for another runtime (inference/onnx_cache.py).

    `build_module()` gives a module whose `(images, *condition)` computes what the family's generator
    computes, in plain layers an exporter can trace (made only when exporting: a warm cache needs
    no copy of the weights); `example` holds one input of each (batch first: the batch axis stays free),
    named by `input_names`, the images first. Bump `version` when the traced graph changes, so
    cached exports of the old one are not reused."""

    build_module: Callable[[], nn.Module]
    example: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]
    version: int = 1


@dataclass
class LoadedModel:
    """A model file's networks, ready for inference, with the family that knows them."""

    path: Path
    config: ModelConfig
    family: Family
    networks: dict[str, nn.Module]  # "generator" always; what else the file carries by name

    @property
    def generator(self) -> nn.Module:
        return self.networks["generator"]

    def conditioning(self, request: Any) -> Conditioning:
        return self.family.conditioning(self, request)


class Family(ABC):
    """One model family: StarGAN v1, StarGAN v2, ..."""

    architecture: str  # the model file's `architecture` metadata value
    takes: tuple[str, ...]  # the EditOptions fields it reads

    def check_options(self, path: Path, options: EditOptions) -> None:
        """Refuse, in one line naming the family and what it takes, options that are another family's."""
        foreign = [name for name in OPTION_FLAGS if getattr(options, name) is not None and name not in self.takes]
        if foreign:
            given = ", ".join(OPTION_FLAGS[name] for name in foreign)
            raise StarbatchError(f"{Path(path).name} is a {self.architecture} model, which takes "
                                 f"{', '.join(OPTION_FLAGS[name] for name in self.takes)}; not {given}")

    def variants(self, request: Any) -> tuple[str, ...]:
        """One output per variant of every input, named with the variant's suffix (v2: one per style,
        "_male_s7"); one variant with no suffix by default, so outputs keep the inputs' names."""
        return ("",)

    @abstractmethod
    def config_from_json(self, path: Path, data: dict) -> ModelConfig:
        """The configuration from the file's parsed metadata; one-line errors name `path`."""

    @abstractmethod
    def load(self, path: Path, config: ModelConfig, tensors: dict[str, torch.Tensor],
             device: str | torch.device) -> LoadedModel:  # fmt: skip
        """Build the networks the file carries and load their weights strictly."""

    @abstractmethod
    def import_official(self, **options: Any) -> tuple[ModelConfig, dict[str, dict[str, torch.Tensor] | None]]:
        """Configuration and state_dicts by network name from the official checkpoints."""

    @abstractmethod
    def request(self, path: Path, config: ModelConfig, networks: set[str], options: EditOptions) -> Any:
        """The user's request checked against the file's configuration and the networks it
        carries (`networks`: names from its header), without reading any weights."""

    @abstractmethod
    def conditioning(self, model: LoadedModel, request: Any) -> Conditioning: ...

    def generator_export(self, model: LoadedModel) -> GeneratorExport | None:
        """The generator as a graph to export (onnxruntime on CPU); None: it runs on torch only."""
        return None

    def notes(self, config: ModelConfig, options: EditOptions) -> list[str]:
        """Lines to tell the user about their request (v1: a label name matched in another spelling)."""
        return []

    @abstractmethod
    def describe(self, config: ModelConfig, networks: set[str]) -> list[tuple[str, str]]:
        """(field, value) lines for `starbatch info`."""
