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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # torch is not imported for `starbatch --help`
    import torch
    from torch import nn


class ModelConfig(Protocol):
    """What every family's configuration has; the rest is the family's own."""

    architecture: str
    version: int
    image_size: int
    step: int

    def to_json(self) -> str: ...


@dataclass(frozen=True)
class EditOptions:
    """The user's request as the CLI takes it, before a family reads it against the model file.

    StarGAN v1 reads `to`, `expression` and `source_labels` (the --from text); a family refuses,
    with one line, what it cannot do. A new family adds the fields it needs (v2: a domain, a seed,
    a reference photo)."""

    to: str | None = None
    expression: str | None = None
    source_labels: str | None = None


class Conditioning(ABC):
    """What G is conditioned on, for batches of model inputs: one condition per generator pass."""

    @property
    @abstractmethod
    def reads_images(self) -> bool:
        """Whether the conditions depend on the images edited (v1: labels estimated by D)."""

    @abstractmethod
    def conditions(self, images: torch.Tensor) -> list[torch.Tensor | tuple[torch.Tensor, ...]]:
        """For (N, 3, S, S) model inputs on the model's device: what each pass of G takes after the
        images, one tensor (v1: the target labels) or a tuple of them (v2: style code, masks), each
        with the batch first."""

    @abstractmethod
    def settled(self, images: torch.Tensor) -> Any:
        """A request whose conditions no longer depend on the images, decided once from `images`
        (a clip's sampled frames), so every frame gets the same ones and edits do not flicker."""


@dataclass(frozen=True)
class GeneratorExport:
    """How a family's generator is traced for another runtime (inference/onnx_cache.py).

    `module(images, *condition)` computes what the family's generator computes, in plain layers an
    exporter can trace; `example` holds one input of each (batch first: the batch axis stays free),
    named by `input_names`, the images first. Bump `version` when the traced graph changes, so
    cached exports of the old one are not reused."""

    module: nn.Module
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
