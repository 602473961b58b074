"""What StarGAN v2's G is conditioned on: a style code per output, from seeds or a reference face.

Latent-guided (--seed 1,2,3): one style per seed, s = F(z_seed, y), truncated toward the domain's
mean style with --psi (sample.py); each style is one variant, so every photo gives one output per
seed. Reference-guided (--ref PHOTO): s = E(reference face crop, y), one variant. The styles never
depend on the photos edited, so a clip keeps its style in every frame.
"""

import torch

from starbatch.models.family import Conditioning, LoadedModel
from starbatch.models.stargan_v2 import sample
from starbatch.models.stargan_v2.request import StyleRequest


class StyleConditioning(Conditioning):
    """One pass of G, each image with the style of its variant. The styles are made once, on first
    use, on the model's device in float32 (the mean style too, when psi < 1)."""

    def __init__(self, model: LoadedModel, request: StyleRequest):
        self.model, self.request = model, request
        self._styles: torch.Tensor | None = None

    @property
    def reads_images(self) -> bool:
        return False

    def styles(self) -> torch.Tensor:
        """(variants, style_dim): the request's styles in variant order."""
        if self._styles is None:
            request, networks = self.request, self.model.networks
            if request.reference is not None:
                x_ref = torch.from_numpy(request.reference)[None]
                self._styles = sample.reference_style(networks["style_encoder"], x_ref, request.domain)
            else:
                mapping = networks["mapping_network"]
                styles = torch.cat([sample.latent_style(mapping, seed, request.domain) for seed in request.seeds])
                if request.psi != 1.0:  # psi 1 is the style itself: no mean needed
                    styles = sample.truncate(styles, sample.mean_style(mapping, request.domain), request.psi)
                self._styles = styles
        return self._styles

    def conditions(self, images: torch.Tensor, variants: list[int] | None = None) -> list[torch.Tensor]:
        styles = self.styles()
        index = torch.as_tensor(variants if variants is not None else [0] * images.shape[0], device=styles.device)
        return [styles[index]]

    def settled(self, images: torch.Tensor) -> StyleRequest:
        return self.request
