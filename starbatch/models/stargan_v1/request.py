"""The user's StarGAN v1 request (--to, --expression, --from) checked against a model file's label
vocabulary and the networks it carries. No torch: it runs before the weights load, so a usage
error answers at once (conditioning.py turns the request into label vectors for G).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError
from starbatch.models.family import EditOptions
from starbatch.models.stargan_v1.config import ModelConfig
from starbatch.models.stargan_v1.labels import BINARY, EditPass, plan_passes, source_labels_from_text

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class LabelRequest:
    """The edit passes, in the model's set order, and the source image's labels per label set
    (None: estimated by D's classifier where a binary set needs them)."""

    passes: tuple[EditPass, ...]
    source_labels: dict[str, np.ndarray] | None = None

    @property
    def estimates_source(self) -> bool:
        return self.source_labels is None and any(p.label_set.kind == BINARY for p in self.passes)


def label_request(path: Path, config: ModelConfig, networks: set[str], options: EditOptions) -> LabelRequest:
    """--to/--expression/--from checked against the file's label vocabulary; a binary edit without
    --from needs the classifier in the file."""
    space = config.labels
    passes = tuple(plan_passes(space, options.to, options.expression))
    given = source_labels_from_text(space, options.source_labels) if options.source_labels else None
    request = LabelRequest(passes, given)
    if request.estimates_source and "discriminator" not in networks:
        raise StarbatchError(
            f"{path.name} carries no classifier to estimate the photos' current "
            "labels: give them with --from (e.g. --from Blond_Hair,Young)"
        )
    return request
