"""A StarGAN v1 model's configuration, as stored in the model file's metadata.

`framing` says how the training faces were cropped (DESIGN.md, "Model families"): "celeba" for
the official weights (CelebA's aligned images, centre-cropped), "synthetic" for models trained on
`starbatch make-faces` data. Files written before the field existed are read as "synthetic" when
their notes say `starbatch train` made them (until then it trained on rendered faces only, and
the bundled demo model is one) and as "celeba" otherwise (imported official weights).

The networks (torch) are imported only to build them: reading a configuration needs no torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError
from starbatch.models.family import FRAMINGS
from starbatch.models.stargan_v1.labels import LabelSpace

if TYPE_CHECKING:
    from starbatch.models.stargan_v1.networks import Discriminator, Generator

FORMAT_VERSION = 1
ARCHITECTURE = "stargan-v1"


@dataclass
class ModelConfig:
    image_size: int
    labels: LabelSpace
    g_conv_dim: int = 64
    g_repeat_num: int = 6
    d_conv_dim: int = 64
    d_repeat_num: int = 6
    step: int = 0
    framing: str = "celeba"
    architecture: str = ARCHITECTURE
    version: int = FORMAT_VERSION
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, not {self.framing!r}")

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = self.labels.to_metadata()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        data = dict(data)
        data["labels"] = LabelSpace.from_metadata(data["labels"])
        data.setdefault("framing", framing_by_notes(data.get("notes") or {}))
        return cls(**data)

    def new_generator(self, **switches) -> Generator:
        """`switches`: Generator's fused, backend, fold_labels."""
        from starbatch.models.stargan_v1.networks import Generator

        return Generator(self.g_conv_dim, self.labels.dim, self.g_repeat_num, **switches)

    def new_discriminator(self) -> Discriminator:
        from starbatch.models.stargan_v1.networks import Discriminator

        return Discriminator(
            self.image_size, self.d_conv_dim, self.labels.class_dim, self.d_repeat_num
        )


def config_from_dict(path: Path, data: dict) -> ModelConfig:
    """The configuration in a file's parsed metadata, refused with one line when damaged or newer."""
    try:
        config = ModelConfig.from_dict(data)
    except (ValueError, KeyError, TypeError) as error:
        raise StarbatchError(f"{path}: damaged starbatch metadata: {error}") from None
    if config.architecture != ARCHITECTURE or config.version > FORMAT_VERSION:
        raise StarbatchError(f"{path}: {config.architecture} v{config.version} model; this "
                             f"starbatch reads {ARCHITECTURE} v{FORMAT_VERSION}")
    return config


def framing_by_notes(notes: dict) -> str:
    """The framing of a file written before `framing` was stored (see the module docstring)."""
    return "synthetic" if notes.get("trained_with") == "starbatch train" else "celeba"
