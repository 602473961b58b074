"""What StarGAN v1's G is conditioned on: a target label vector per pass (DESIGN.md, "Labels").

An edit changes only what the user named. The source image's other labels come from --from, or,
for binary sets, from D's classifier head (logit > 0), per image or, for a clip, once from the
logits averaged over sampled frames.
"""

from dataclasses import replace

import numpy as np
import torch

from starbatch.models.family import Conditioning, LoadedModel
from starbatch.models.stargan_v1.labels import target_part
from starbatch.models.stargan_v1.request import LabelRequest


class LabelConditioning(Conditioning):
    def __init__(self, model: LoadedModel, request: LabelRequest):
        self.model, self.request = model, request
        self.space = model.config.labels
        self.discriminator = model.networks.get("discriminator")

    @property
    def reads_images(self) -> bool:
        return self.request.estimates_source

    def conditions(self, images: torch.Tensor, variants: list[int] | None = None) -> list[torch.Tensor]:
        # one variant: a v1 request edits each photo into one result
        source_labels = self._estimate(images) if self.reads_images else self.request.source_labels
        vectors = []
        for edit in self.request.passes:
            part = target_part(edit, source_labels[edit.label_set.name] if source_labels else None, images.shape[0])
            vectors.append(torch.from_numpy(self.space.full_vector(edit.label_set, part)).to(images.device))
        return vectors

    def settled(self, images: torch.Tensor) -> LabelRequest:
        """D's logits averaged over `images` (one subject: a clip's frames) give the labels of all."""
        if not self.reads_images:
            return self.request
        _, logits = self.discriminator(images.float())
        found = self._split_by_set(logits.mean(0, keepdim=True))
        return replace(self.request, source_labels={name: part[0] for name, part in found.items()})

    def _estimate(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Each set's current labels per image as D's classifier sees them (logit > 0)."""
        _, logits = self.discriminator(images.float())
        return self._split_by_set(logits)

    def _split_by_set(self, logits: torch.Tensor) -> dict[str, np.ndarray]:
        found = {}
        for label_set in self.space.sets:
            start = self.space.offset(label_set)
            found[label_set.name] = (logits[:, start : start + len(label_set.labels)] > 0).float().cpu().numpy()
        return found
