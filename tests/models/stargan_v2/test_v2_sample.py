"""Style codes from seeds and references, truncation, and the official sample-mode forward."""

import official_stargan_v2 as official
import pytest
import torch

from starbatch.models.stargan_v2 import sample
from starbatch.models.stargan_v2.networks import Networks


@pytest.fixture
def loaded(layouts, official_nets):
    """loaded(name): Networks with official-format random weights, and those weights."""

    def make(name: str):
        nets = official_nets(layouts[name])
        networks = Networks(layouts[name].config())
        networks.load_state_dict({f"{n}.{k}": v for n, state in nets.items() for k, v in state.items()})
        return networks.eval(), nets

    return make


def _as64(state):
    return {k: v.double() if v.is_floating_point() else v for k, v in state.items()}


def test_a_seed_names_the_same_latent_code_whatever_the_global_random_state():
    torch.manual_seed(1)
    first = sample.latent_code(7, 16)
    torch.manual_seed(2)
    torch.rand(100)
    assert torch.equal(first, sample.latent_code(7, 16))
    assert torch.equal(first, torch.randn(1, 16, generator=torch.Generator().manual_seed(7)))
    # The values torch's CPU generator gives seed 7 (torch 2.13): a change of torch's generator would
    # change what every seed means, and this line would say so.
    assert first[0, :4].tolist() == pytest.approx([-0.8201345, 0.3956312, 0.8989085, -1.3884039], abs=1e-6)


def test_latent_styles_are_reproducible_and_differ_across_seeds(loaded):
    networks, _ = loaded("tiny_plain")
    style = sample.latent_style(networks.mapping_network, 7, 2)
    assert style.shape == (1, 12)
    assert torch.equal(style, sample.latent_style(networks.mapping_network, 7, 2))
    others = [sample.latent_style(networks.mapping_network, seed, 2) for seed in (8, 9)]
    assert all((style - other).abs().max() > 1e-3 for other in others)
    assert (others[0] - others[1]).abs().max() > 1e-3


def test_a_latent_style_is_F_of_the_seeds_code(loaded, agreement):
    networks, nets = loaded("tiny_plain")
    z, y = sample.latent_code(5, 8), torch.tensor([1])
    ours32 = sample.latent_style(networks.mapping_network, 5, 1)
    ours64 = sample.latent_style(networks.mapping_network.double(), 5, 1)
    official32 = official.mapping_network(nets["mapping_network"], z, y, 3)
    reference64 = official.mapping_network(_as64(nets["mapping_network"]), z.double(), y, 3)
    agreement(ours32, official32, ours64, reference64)


def test_the_mean_style_is_taken_over_a_fixed_set_of_10000_codes(loaded, agreement):
    networks, nets = loaded("tiny_plain")
    torch.manual_seed(3)
    mean = sample.mean_style(networks.mapping_network, 1)
    torch.manual_seed(4)
    assert torch.equal(mean, sample.mean_style(networks.mapping_network, 1))
    assert (mean - sample.mean_style(networks.mapping_network, 2)).abs().max() > 1e-3  # one mean per domain

    z = torch.randn(10_000, 8, generator=torch.Generator().manual_seed(sample.MEAN_STYLE_SEED))
    y = torch.full((10_000,), 1)
    official32 = official.mapping_network(nets["mapping_network"], z, y, 3).mean(dim=0, keepdim=True)
    reference64 = official.mapping_network(_as64(nets["mapping_network"]), z.double(), y, 3).mean(dim=0, keepdim=True)
    ours64 = sample.mean_style(networks.mapping_network.double(), 1)
    agreement(mean, official32, ours64, reference64)


def test_truncation_keeps_the_style_at_psi_1_and_gives_the_mean_at_psi_0(loaded):
    networks, _ = loaded("tiny_plain")
    style = sample.latent_style(networks.mapping_network, 7, 0)
    mean = sample.mean_style(networks.mapping_network, 0)
    assert torch.equal(sample.truncate(style, mean, 1.0), style)
    assert torch.equal(sample.truncate(style, mean, 0.0), mean)
    halfway = sample.truncate(style, mean, 0.7)
    assert torch.allclose(halfway, mean + 0.7 * (style - mean), atol=1e-6)


def test_a_reference_style_is_E_of_each_reference(loaded, images):
    networks, nets = loaded("tiny_plain")
    refs = images(3, 64, seed=12)
    styles = sample.reference_style(networks.style_encoder, refs, 2)
    assert styles.shape == (3, 12)
    expected = official.style_encoder(nets["style_encoder"], refs, torch.tensor([2, 2, 2]), 64, 3)
    assert torch.allclose(styles, expected, atol=1e-5)
    assert (styles[0] - styles[1]).abs().max() > 1e-3  # each reference gives its own style


def test_sampling_a_plain_model_is_G_without_masks(loaded, images, agreement):
    networks, nets = loaded("tiny_plain")
    x = images(2, 64, seed=13)
    style = sample.latent_style(networks.mapping_network, 3, 1)
    out = sample.sample(networks, x, style)
    with torch.no_grad():
        assert torch.equal(out, networks.generator(x, style.expand(2, -1)))
        ours64 = sample.sample(networks.double(), x.double(), style.double())
    s = style.expand(2, -1)
    official32 = official.generator(nets["generator"], x, s, 64, 0.0)
    reference64 = official.generator(_as64(nets["generator"]), x.double(), s.double(), 64, 0.0)
    agreement(out, official32, ours64, reference64)


def test_sampling_a_model_with_masks_is_G_with_the_masks_of_the_input(loaded, images, agreement):
    networks, nets = loaded("tiny")
    x = images(1, 64, seed=14)
    style = sample.latent_style(networks.mapping_network, 3, 1)
    out = sample.sample(networks, x, style)
    masks = networks.fan.get_heatmap(x)  # FAN itself is checked against the official code in test_v2_fan
    with torch.no_grad():
        assert torch.equal(out, networks.generator(x, style, masks=masks))
        assert (out - networks.generator(x, style)).abs().max() > 1e-2  # the masks were used
    official32 = official.generator(nets["generator"], x, style, 64, 1.0, masks=masks)
    reference64 = official.generator(_as64(nets["generator"]), x.double(), style.double(), 64, 1.0,
                                     masks=tuple(m.double() for m in masks))
    with torch.no_grad():
        ours64 = networks.generator.double()(x.double(), style.double(), masks=tuple(m.double() for m in masks))
    agreement(out, official32, ours64, reference64)


def test_one_style_is_used_for_every_image_of_a_batch(loaded, images):
    networks, _ = loaded("tiny_plain")
    x = images(3, 64, seed=15)
    style = sample.latent_style(networks.mapping_network, 11, 0)
    together = sample.sample(networks, x, style)
    alone = torch.cat([sample.sample(networks, x[i:i + 1], style) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)
