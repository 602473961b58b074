"""The v2 generator's fused path (AdaIN + LeakyReLU, affine IN + LeakyReLU from starbatch.kernels) against its
official layers: the PyTorch reference computes exactly what they do, and the Triton kernels (here under
Triton's CPU interpreter) within fp32 rounding of them."""

import pytest
import torch

from starbatch.kernels.dispatch import HAVE_TRITON
from starbatch.models.stargan_v2 import networks as v2_networks
from starbatch.models.stargan_v2.networks import AdainResBlk, ResBlk


def _generator(layouts, name, backend, seed=0):
    torch.manual_seed(seed)
    generator = v2_networks.new_generator(layouts[name].config())
    with torch.no_grad():  # PyTorch's initial IN scales are all 1: vary them, so each norm's affine matters
        for key, value in generator.state_dict().items():
            if ".norm" in key or key.startswith("to_rgb.0"):
                value.copy_(torch.randn_like(value) * 0.3 + (1.0 if key.endswith("weight") else 0.0))
    generator.backend = backend
    return generator.eval()


def _inputs(images, layouts, name, n=2):
    config = layouts[name].config()
    x = images(n, config.img_size, seed=21)
    s = torch.randn(n, config.style_dim, generator=torch.Generator().manual_seed(22))
    masks = None
    if config.uses_masks:
        mask = torch.rand(n, 1, 64, 64, generator=torch.Generator().manual_seed(23))
        masks = (mask, mask.flip(2))
    return x, s, masks


@pytest.mark.parametrize("name", ["tiny", "tiny_plain"])
def test_the_fused_path_on_the_reference_backend_is_the_official_layers_exactly(layouts, images, name):
    plain, fused = _generator(layouts, name, None), _generator(layouts, name, "reference")
    fused.load_state_dict(plain.state_dict())
    x, s, masks = _inputs(images, layouts, name)
    with torch.no_grad():
        assert torch.equal(fused(x, s, masks=masks), plain(x, s, masks=masks))


@pytest.mark.skipif(not HAVE_TRITON, reason="needs the triton package (its CPU interpreter)")
def test_the_triton_kernels_in_the_blocks_are_within_fp32_rounding_of_the_official_layers():
    # One encoder and one decoder block, small (the interpreter runs a program per (n, c) plane): the
    # kernels are checked in tests/kernels; this checks how the blocks hand them gamma, beta, eps and slope.
    torch.manual_seed(5)
    encoder, decoder = ResBlk(6, 10, normalize=True, downsample=True), AdainResBlk(10, 6, style_dim=5, upsample=True)
    with torch.no_grad():
        for norm in (encoder.norm1, encoder.norm2):
            norm.weight.copy_(torch.randn(6) * 0.3 + 1)
            norm.bias.copy_(torch.randn(6) * 0.3)
    x, s = torch.randn(2, 6, 12, 12) * 3 + 1, torch.randn(2, 5)

    def both(backend, dtype):
        enc, dec = encoder.to(dtype), decoder.to(dtype)
        return dec(enc(x.to(dtype), backend), s.to(dtype), backend)

    with torch.no_grad():
        exact, official32 = both(None, torch.float64), both(None, torch.float32)
        triton32 = both("triton", torch.float32)
    # The budget is fp32's own cost to the official layers (vs fp64), floored at an ulp of the output's scale.
    budget = max((official32.double() - exact).abs().max().item(), torch.finfo(torch.float32).eps * exact.abs().max())
    assert (triton32.double() - exact).abs().max().item() <= 4 * budget
