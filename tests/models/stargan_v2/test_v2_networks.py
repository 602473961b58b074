"""StarGAN v2 networks: the official state_dict names and shapes, and forwards equal to the official code's."""

import copy

import official_stargan_v2 as official
import pytest
import torch

from starbatch.models.stargan_v2 import networks as v2_networks
from starbatch.models.stargan_v2.networks import Networks


def _flat(nets: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value for name, state in nets.items() for key, value in state.items()}


def _as(dtype, values):
    return [v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v for v in values]


def _state_as(dtype, state):
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def _loaded(module, state):
    module.load_state_dict(state, strict=True)
    return module


def _compare(agreement, module, restated, state, *inputs):
    """Run starbatch's module and the restated official forward in fp32 and fp64 on the same weights."""
    module = module.float()
    with torch.no_grad():
        ours32 = module(*_as(torch.float32, inputs))
        ours64 = copy.deepcopy(module).double()(*_as(torch.float64, inputs))
        official32 = restated(_state_as(torch.float32, state), *_as(torch.float32, inputs))
        reference64 = restated(_state_as(torch.float64, state), *_as(torch.float64, inputs))
    return agreement(ours32, official32, ours64, reference64)


@pytest.mark.parametrize("name", ["celeba_hq", "afhq", "tiny", "tiny_plain", "small_128"])
def test_state_dict_names_and_shapes_are_the_official_ones(layouts, name):
    layout = layouts[name]
    with torch.device("meta"):
        networks = Networks(layout.config())
        discriminator = v2_networks.new_discriminator(layout.config())
    expected = {f"{net}.{key}": shape for net, shapes in layout.shapes().items() for key, shape in shapes.items()}
    if layout.w_hpf > 0:
        expected.update({f"fan.{key}": shape for key, shape in official.fan_shapes().items()})
    assert {key: tuple(value.shape) for key, value in networks.state_dict().items()} == expected
    expected_d = official.discriminator_shapes(layout.img_size, layout.num_domains, layout.max_conv_dim,
                                               layout.dim_in)
    assert {key: tuple(value.shape) for key, value in discriminator.state_dict().items()} == expected_d


def test_a_plain_model_has_no_fan_and_no_high_pass(layouts):
    networks = Networks(layouts["tiny_plain"].config())
    assert networks.fan is None and networks.generator.hpf is None
    assert not any(key.startswith("fan.") or "hpf" in key for key in networks.state_dict())


@pytest.mark.parametrize("name", ["tiny", "tiny_plain"])
def test_official_weights_load_strictly(layouts, official_nets, name):
    nets = official_nets(layouts[name])
    networks = Networks(layouts[name].config())
    networks.load_state_dict(_flat(nets), strict=True)
    loaded = networks.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in _flat(nets).items())


def test_official_weights_without_the_high_pass_buffer_miss_only_it(layouts, official_nets):
    nets = official_nets(layouts["tiny"])
    del nets["generator"]["hpf.filter"]  # the released CelebA-HQ file predates the buffer
    result = Networks(layouts["tiny"].config()).load_state_dict(_flat(nets), strict=False)
    assert result.missing_keys == ["generator.hpf.filter"] and result.unexpected_keys == []


@pytest.mark.parametrize("name", ["tiny_plain", "tiny"])
def test_generator_without_masks_matches_official(layouts, official_nets, images, agreement, name):
    layout = layouts[name]
    nets = official_nets(layout, fan=False)
    generator = _loaded(v2_networks.new_generator(layout.config()), nets["generator"])
    x = images(2, layout.img_size)
    s = torch.randn(2, layout.style_dim, generator=torch.Generator().manual_seed(1))

    def restated(state, x, s):
        return official.generator(state, x, s, layout.img_size, layout.w_hpf)

    _compare(agreement, generator, restated, nets["generator"], x, s)


@pytest.mark.parametrize("name", ["tiny", "small_128"])
def test_generator_with_masks_matches_official(layouts, official_nets, images, agreement, name):
    layout = layouts[name]
    nets = official_nets(layout, fan=False)
    generator = _loaded(v2_networks.new_generator(layout.config()), nets["generator"])
    x = images(2, layout.img_size, seed=3)
    s = torch.randn(2, layout.style_dim, generator=torch.Generator().manual_seed(2))
    # Mask-like maps at FAN's 256 px: smooth, in [0, 1], different for the two masks.
    masks = tuple((images(2, 256, seed=seed)[:, :1] * 0.5 + 0.5) for seed in (4, 5))

    def restated(state, x, s, m0, m1):
        return official.generator(state, x, s, layout.img_size, layout.w_hpf, masks=(m0, m1))

    class WithMasks(torch.nn.Module):  # module(*inputs) form for _compare
        def __init__(self, generator):
            super().__init__()
            self.generator = generator

        def forward(self, x, s, m0, m1):
            return self.generator(x, s, masks=(m0, m1))

    found = _compare(agreement, WithMasks(generator), restated, nets["generator"], x, s, *masks)
    # The masks matter: leaving them out changes the output far beyond fp32 rounding.
    with torch.no_grad():
        change = (generator(x, s) - generator(x, s, masks=masks)).abs().max().item()
    assert change > 1000 * found.ours_fp32


def test_generator_runs_at_other_sizes(layouts, official_nets, images, agreement):
    layout = layouts["tiny_plain"]  # fully convolutional: the 64 px weights run at 128 px
    nets = official_nets(layout)
    generator = _loaded(v2_networks.new_generator(layout.config()), nets["generator"])
    x = images(1, 128)
    s = torch.randn(1, layout.style_dim, generator=torch.Generator().manual_seed(6))

    def restated(state, x, s):
        return official.generator(state, x, s, layout.img_size, layout.w_hpf)

    _compare(agreement, generator, restated, nets["generator"], x, s)


def test_masks_on_a_generator_without_high_pass_are_refused(layouts):
    generator = v2_networks.new_generator(layouts["tiny_plain"].config())
    masks = (torch.ones(1, 1, 256, 256), torch.ones(1, 1, 256, 256))
    with pytest.raises(ValueError, match="w_hpf"):
        generator(torch.zeros(1, 3, 64, 64), torch.zeros(1, 12), masks=masks)


def test_mapping_network_matches_official(layouts, official_nets, agreement):
    layout = layouts["tiny_plain"]
    nets = official_nets(layout)
    mapping_network = _loaded(v2_networks.new_mapping_network(layout.config()), nets["mapping_network"])
    z = torch.randn(6, layout.latent_dim, generator=torch.Generator().manual_seed(7))
    y = torch.tensor([0, 1, 2, 2, 1, 0])

    def restated(state, z, y):
        return official.mapping_network(state, z, y, layout.num_domains)

    _compare(agreement, mapping_network, restated, nets["mapping_network"], z, y)


def test_style_encoder_matches_official(layouts, official_nets, images, agreement):
    layout = layouts["tiny_plain"]
    nets = official_nets(layout)
    style_encoder = _loaded(v2_networks.new_style_encoder(layout.config()), nets["style_encoder"])
    x = images(3, layout.img_size, seed=8)
    y = torch.tensor([2, 0, 1])

    def restated(state, x, y):
        return official.style_encoder(state, x, y, layout.img_size, layout.num_domains)

    _compare(agreement, style_encoder, restated, nets["style_encoder"], x, y)


def test_discriminator_matches_official(layouts, images, agreement):
    layout = layouts["tiny_plain"]
    shapes = official.discriminator_shapes(layout.img_size, layout.num_domains, layout.max_conv_dim, layout.dim_in)
    state = official.random_state(shapes, torch.Generator().manual_seed(9))
    discriminator = _loaded(v2_networks.new_discriminator(layout.config()), state)
    x = images(3, layout.img_size, seed=10)
    y = torch.tensor([1, 2, 0])

    def restated(state, x, y):
        return official.discriminator(state, x, y, layout.img_size)

    _compare(agreement, discriminator, restated, state, x, y)
