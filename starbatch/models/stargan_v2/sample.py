"""Style codes and the official sample-mode forward of StarGAN v2 (core/utils.py, core/solver.py).

Latent-guided: a seed names a style reproducibly on any machine, because its z is drawn on the CPU
from its own generator, then s = F(z, y). Truncation pulls s toward the domain's mean style,
lerp(mean, s, psi), the mean taken over a fixed set of 10,000 z (the official code draws a fresh
set each time). Reference-guided: s = E(x_ref, y). Translation: G(x, s, masks) with
masks = FAN.get_heatmap(x) when the model has w_hpf > 0, as official test code does.
"""

import torch

from starbatch.models.stargan_v2.fan import FAN
from starbatch.models.stargan_v2.networks import Generator, MappingNetwork, Networks, StyleEncoder

MEAN_STYLE_SAMPLES = 10_000
MEAN_STYLE_SEED = 777  # the official main.py's default seed; any fixed value makes the mean reproducible


def latent_code(seed: int, latent_dim: int) -> torch.Tensor:
    """The (1, latent_dim) z that `seed` names: torch.randn(1, latent_dim) from a CPU generator seeded with it."""
    return torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(seed))


def _domains(domain: int, count: int, device: torch.device) -> torch.Tensor:
    return torch.full((count,), domain, dtype=torch.long, device=device)


def _like(tensor: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
    weight = next(module.parameters())
    return tensor.to(device=weight.device, dtype=weight.dtype)


@torch.no_grad()
def latent_style(mapping_network: MappingNetwork, seed: int, domain: int) -> torch.Tensor:
    """(1, style_dim): F(z, y) for the seed's z and domain index y."""
    z = _like(latent_code(seed, mapping_network.shared[0].in_features), mapping_network)
    return mapping_network(z, _domains(domain, 1, z.device))


@torch.no_grad()
def mean_style(mapping_network: MappingNetwork, domain: int, samples: int = MEAN_STYLE_SAMPLES,
               seed: int = MEAN_STYLE_SEED) -> torch.Tensor:
    """(1, style_dim): the domain's mean of F(z, y) over `samples` z from a CPU generator seeded with `seed`."""
    latent_dim = mapping_network.shared[0].in_features
    z = torch.randn(samples, latent_dim, generator=torch.Generator().manual_seed(seed))
    z = _like(z, mapping_network)
    return mapping_network(z, _domains(domain, samples, z.device)).mean(dim=0, keepdim=True)


def truncate(style: torch.Tensor, mean: torch.Tensor, psi: float) -> torch.Tensor:
    """lerp(mean, style, psi): psi 1 keeps the style, 0 gives the mean (official translate_using_latent)."""
    return torch.lerp(mean, style, psi)


@torch.no_grad()
def reference_style(style_encoder: StyleEncoder, x_ref: torch.Tensor, domain: int) -> torch.Tensor:
    """(N, style_dim): E(x_ref, y) for reference images in [-1, 1] at the model's size, all of domain y."""
    x_ref = _like(x_ref, style_encoder)
    return style_encoder(x_ref, _domains(domain, x_ref.size(0), x_ref.device))


@torch.no_grad()
def fan_masks(fan: FAN | None, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """FAN.get_heatmap(x), or None without a FAN (w_hpf 0). In fp32 even under half-precision autocast:
    the masks are thresholded at 0.1, min-max scaled and raised to powers up to 4 (fan.heatmap_masks),
    which bf16's 8 bits would coarsen."""
    if fan is None:
        return None
    with torch.autocast(x.device.type, enabled=False):
        return fan.get_heatmap(x.float())


def face_masks(networks: Networks, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """FAN.get_heatmap(x) when the model uses masks (w_hpf > 0), else None."""
    return fan_masks(networks.fan, x) if networks.config.uses_masks else None


@torch.no_grad()
def translate(generator: Generator, x: torch.Tensor, style: torch.Tensor,
              masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """G(x, s, masks); a (1, style_dim) style is used for every image of the batch."""
    x = _like(x, generator)
    style = _like(style, generator).expand(x.size(0), -1)
    return generator(x, style, masks=masks)


@torch.no_grad()
def sample(networks: Networks, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The official sample-mode forward: G(x, s, masks=FAN.get_heatmap(x) if w_hpf > 0 else None)."""
    x = _like(x, networks.generator)
    return translate(networks.generator, x, style, face_masks(networks, x))


class StyleTranslator(torch.nn.Module):
    """The official sample-mode forward as the module an Editor runs for G: x and one style per image
    -> G(x, s, masks=FAN.get_heatmap(x)) with masks only when the model has them (w_hpf > 0).

    The masks come from the images it is given: the model-size crops, as the official test code
    computes them on its 256 px inputs."""

    def __init__(self, generator: Generator, fan: torch.nn.Module | None = None):
        super().__init__()
        if (fan is None) != (generator.hpf is None):
            raise ValueError("a generator with w_hpf > 0 needs the FAN, and one without takes none")
        self.generator, self.fan = generator, fan

    def forward(self, x: torch.Tensor, styles: torch.Tensor,
                masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """`masks`: fan_masks(self.fan, x) made beforehand, when many styles translate the same x."""
        if masks is None:
            masks = fan_masks(self.fan, x)
        return self.generator(x, styles, masks=masks)
