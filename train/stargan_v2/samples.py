"""Sample grids as the official debug images (core/utils.py debug_image), from the EMA networks.

Latent-guided: each row an input, then per target domain one style at psi 0.5, 0.7 and 1.0
(truncated toward the domain's mean style). Reference-guided: the top row the references, the
first column the inputs, each cell G(input, E(reference, its domain)). With w_hpf > 0 every cell takes
the `masks` of its input (sample.fan_masks), as the official debug images do.
"""

import torch

from starbatch.inference.compositing import to_uint8
from starbatch.models.stargan_v2 import sample
from starbatch.models.stargan_v2.networks import Generator, MappingNetwork, StyleEncoder

PSIS = (0.5, 0.7, 1.0)
SAMPLE_SEED = 1  # the z of every latent column: one style per domain, seen at each psi
Masks = tuple[torch.Tensor, torch.Tensor]  # FAN's two face masks of the inputs


@torch.no_grad()
def latent_grid(generator: Generator, mapping: MappingNetwork, inputs: torch.Tensor, domains: int,
                mean_samples: int = sample.MEAN_STYLE_SAMPLES, masks: Masks | None = None) -> torch.Tensor:
    """(3, rows*S, (1 + domains*len(PSIS))*S) in [-1, 1]."""
    columns = [inputs]
    for domain in range(domains):
        style = sample.latent_style(mapping, SAMPLE_SEED, domain)
        mean = sample.mean_style(mapping, domain, mean_samples)
        for psi in PSIS:
            columns.append(sample.translate(generator, inputs, sample.truncate(style, mean, psi), masks).float())
    return _tile([torch.cat(columns, dim=3)])


@torch.no_grad()
def reference_grid(generator: Generator, style_encoder: StyleEncoder, inputs: torch.Tensor,
                   references: torch.Tensor, reference_domains: list[int], masks: Masks | None = None) -> torch.Tensor:
    """(3, (1 + rows)*S, (1 + refs)*S) in [-1, 1]: a blank corner, references on top, inputs down the left."""
    corner = torch.ones_like(inputs[:1])
    rows = [torch.cat([corner, *references.split(1)], dim=3)]
    styles = [sample.reference_style(style_encoder, ref[None], domain)
              for ref, domain in zip(references, reference_domains, strict=True)]
    cells = [inputs] + [sample.translate(generator, inputs, style, masks).float() for style in styles]
    rows.append(torch.cat(cells, dim=3))
    return _tile(rows)


def _tile(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows of (N, 3, S, W) images stacked into one (3, sum N*S, W) picture."""
    return torch.cat([image for block in rows for image in block.cpu()], dim=1)


def to_picture(grid: torch.Tensor):
    return to_uint8(grid[None])[0]
