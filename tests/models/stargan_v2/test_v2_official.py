"""Import of official StarGAN v2 checkpoints: layouts read from the tensors, FAN weights, one-line errors."""

import dataclasses
import pathlib

import official_stargan_v2 as official
import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v2.networks import NetworkConfig
from starbatch.models.stargan_v2.official import infer_config, load_official


def _refused(path, *args, **kwargs) -> str:
    """The message load_official gives: one line that names the file."""
    with pytest.raises(StarbatchError) as caught:
        load_official(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    return message


def _flat(nets):
    return {f"{name}.{key}": value for name, state in nets.items() for key, value in state.items()}


def _equal_weights(model, nets) -> bool:
    loaded = model.networks.state_dict()
    return loaded.keys() == _flat(nets).keys() and all(torch.equal(loaded[k], v) for k, v in _flat(nets).items())


def test_celeba_hq_layout_is_read_from_the_tensors(layouts, official_nets, save):
    layout = layouts["celeba_hq_narrow"]
    nets = official_nets(layout)
    model = load_official(save(nets))
    assert model.config == layout.config() and model.config.w_hpf == 1.0 and model.config.img_size == 256
    assert model.domains == ("female", "male")
    assert model.notes["fan_from"] == "checkpoint" and "filled_hpf_filter" not in model.notes
    assert _equal_weights(model, nets)
    assert not model.networks.training


def test_afhq_layout_is_read_from_the_tensors(layouts, official_nets, save):
    layout = layouts["afhq_narrow"]
    nets = official_nets(layout)
    model = load_official(save(nets))
    assert model.config == layout.config() and model.config.w_hpf == 0 and model.config.num_domains == 3
    assert model.domains == ("cat", "dog", "wild")
    assert model.networks.fan is None and _equal_weights(model, nets)


@pytest.mark.parametrize("name", ["tiny", "tiny_plain", "small_128"])
def test_small_layouts_are_read_from_the_tensors(layouts, official_nets, save, name):
    layout = layouts[name]
    nets = official_nets(layout)
    model = load_official(save(nets))
    expected = layout.config()
    assert model.config == expected
    assert (expected.dim_in, expected.max_conv_dim, expected.hidden_dim) == (layout.dim_in, layout.max_conv_dim,
                                                                             layout.hidden)
    assert _equal_weights(model, nets)


@pytest.mark.parametrize("name", ["celeba_hq", "afhq"])
def test_released_shapes_give_the_official_configuration(layouts, name):
    # Full-size shapes without data (meta tensors): only the real high-pass filter has values.
    layout = layouts[name]
    nets = {net: {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
            for net, shapes in layout.shapes().items()}
    if layout.w_hpf > 0:
        nets["generator"]["hpf.filter"] = torch.tensor(official.HPF)
    config = infer_config(pathlib.Path("100000_nets_ema.ckpt"), nets)
    assert config == NetworkConfig(img_size=256, num_domains=layout.num_domains, style_dim=64, latent_dim=16,
                                   w_hpf=layout.w_hpf)
    assert (config.dim_in, config.max_conv_dim, config.hidden_dim) == (64, 512, 512)


def test_the_missing_high_pass_filter_of_the_released_celeba_hq_file_is_filled(layouts, official_nets, save):
    nets = official_nets(layouts["celeba_hq_narrow"])
    del nets["generator"]["hpf.filter"]
    model = load_official(save(nets))
    assert model.config.w_hpf == 1.0 and model.notes["filled_hpf_filter"]
    assert torch.equal(model.networks.generator.hpf.filter, torch.tensor(official.HPF))


def test_w_hpf_is_read_from_the_filter(layouts, official_nets, save):
    layout = dataclasses.replace(layouts["tiny"], w_hpf=2.0)
    model = load_official(save(official_nets(layout)))
    assert model.config.w_hpf == 2.0
    assert torch.equal(model.networks.generator.hpf.filter, torch.tensor(official.HPF) / 2)


def test_module_prefixes_are_stripped(layouts, official_nets, save):
    nets = official_nets(layouts["tiny"])
    wrapped = {name: {f"module.{key}": value for key, value in state.items()} for name, state in nets.items()}
    model = load_official(save(wrapped))
    assert _equal_weights(model, nets)


def test_wing_ckpt_supplies_the_fan(layouts, official_nets, save, fan_state):
    nets = official_nets(layouts["celeba_hq_narrow"], fan=False)
    # wing.ckpt: the four-stack network FAN takes its first stack from, saved without BatchNorm counters.
    wing = {key: value for key, value in fan_state.items() if not key.endswith("num_batches_tracked")}
    wing.update({"m1.b1_4.conv1.weight": torch.zeros(128, 256, 3, 3), "l1.weight": torch.zeros(99, 256, 1, 1)})
    wing_path = save({"state_dict": wing, "epoch": 70}, "wing.ckpt")
    model = load_official(save(nets), wing=wing_path)
    assert model.notes["fan_from"] == "wing.ckpt"
    fan = model.networks.fan.state_dict()
    assert all(torch.equal(fan[key], value) for key, value in fan_state.items() if key in wing)


def test_a_given_wing_ckpt_replaces_the_checkpoints_fan(layouts, official_nets, save, fan_state):
    nets = official_nets(layouts["tiny"])
    other = {key: value + 1 if value.is_floating_point() else value for key, value in fan_state.items()}
    model = load_official(save(nets), wing=save({"state_dict": other}, "wing.ckpt"))
    assert torch.equal(model.networks.fan.state_dict()["l0.weight"], other["l0.weight"])


def test_a_model_without_masks_needs_no_fan(layouts, official_nets, save, fan_state):
    model = load_official(save(official_nets(layouts["afhq_narrow"])), wing=save({"state_dict": fan_state}, "w.ckpt"))
    assert model.networks.fan is None


def test_domain_names_are_required_outside_the_released_layouts(layouts, official_nets, save):
    layout = dataclasses.replace(layouts["tiny_plain"], num_domains=2)
    path = save(official_nets(layout))
    assert "--domains" in _refused(path, path)
    assert load_official(path, domains="young, old").domains == ("young", "old")


def test_given_domain_names_replace_the_default(layouts, official_nets, save):
    path = save(official_nets(layouts["tiny"]))
    assert load_official(path, domains=["smiling", "neutral"]).domains == ("smiling", "neutral")


@pytest.mark.parametrize("names, expected", [("a,b,c", "2 domains but 3 names"), ("a,a", "distinct"),
                                             ("a,", "non-empty")])
def test_domain_names_are_checked(layouts, official_nets, save, names, expected):
    path = save(official_nets(layouts["tiny"]))
    assert expected in _refused(path, path, domains=names)


# ---------------------------------------------------------------- damaged and mismatched files

def test_a_missing_file_is_refused(tmp_path):
    path = tmp_path / "nope.ckpt"
    assert "no such checkpoint file" in _refused(path, path)


def test_a_truncated_file_is_refused(layouts, official_nets, save):
    path = save(official_nets(layouts["tiny_plain"]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "unreadable checkpoint" in _refused(path, path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n"])
def test_an_empty_or_text_file_is_refused(tmp_path, content):
    path = tmp_path / "100000_nets_ema.ckpt"
    path.write_bytes(content)
    assert "unreadable checkpoint" in _refused(path, path)


def test_a_truncated_legacy_format_file_is_refused(layouts, official_nets, tmp_path):
    path = tmp_path / "old.ckpt"
    torch.save(official_nets(layouts["tiny_plain"]), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:1000])
    assert "unreadable checkpoint" in _refused(path, path)


class _Touch:
    """Unpickling this would create a file: code a checkpoint must never get to run."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.target),)


def test_a_pickle_carrying_code_is_refused_without_running_it(layouts, official_nets, save, tmp_path):
    marker = tmp_path / "ran"
    nets = official_nets(layouts["tiny_plain"])
    nets["generator"]["from_rgb.weight"] = _Touch(marker)
    path = save(nets)
    assert "refused" in _refused(path, path)
    assert not marker.exists()


def test_a_stargan_v1_checkpoint_is_refused(save):
    path = save({"main.0.weight": torch.zeros(8, 8, 7, 7), "main.1.weight": torch.ones(8),
                 "main.1.bias": torch.zeros(8)}, "200000-G.ckpt")
    assert "StarGAN v1" in _refused(path, path)


def test_a_wing_ckpt_given_as_the_model_is_refused(save, fan_state):
    path = save({"state_dict": fan_state}, "wing.ckpt")
    assert "--wing" in _refused(path, path)


def test_an_optimizer_checkpoint_is_refused(save):
    adam = {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}
    path = save({"generator": adam, "mapping_network": adam, "style_encoder": adam}, "100000_optims.ckpt")
    assert "optimizer" in _refused(path, path)


def test_a_checkpoint_without_a_network_is_refused(layouts, official_nets, save):
    nets = official_nets(layouts["tiny_plain"])
    del nets["mapping_network"]
    path = save(nets)
    assert "lacks mapping_network" in _refused(path, path)


def test_an_entry_that_is_no_state_dict_is_refused(layouts, official_nets, save):
    nets = official_nets(layouts["tiny_plain"])
    nets["style_encoder"] = torch.zeros(3)
    path = save(nets)
    assert "style_encoder" in _refused(path, path)


def test_a_model_with_masks_but_no_fan_is_refused(layouts, official_nets, save):
    path = save(official_nets(layouts["celeba_hq_narrow"], fan=False))
    assert "FAN" in _refused(path, path)


def test_a_wing_file_that_is_no_wing_ckpt_is_refused(layouts, official_nets, save):
    path = save(official_nets(layouts["tiny"], fan=False))
    not_wing = save(official_nets(layouts["tiny_plain"]), "other.ckpt")
    assert "not a wing.ckpt" in _refused(not_wing, path, wing=not_wing)


def test_a_wing_ckpt_lacking_fan_weights_is_refused(layouts, official_nets, save, fan_state):
    path = save(official_nets(layouts["tiny"], fan=False))
    partial = {key: value for key, value in fan_state.items() if not key.startswith("m0.b3_")}
    wing = save({"state_dict": partial}, "wing.ckpt")
    assert "lacks" in _refused(wing, path, wing=wing)


def test_weights_of_the_wrong_shape_are_refused(layouts, official_nets, save):
    nets = official_nets(layouts["tiny_plain"])
    nets["generator"]["encode.1.conv2.weight"] = torch.zeros(5, 16, 3, 3)
    path = save(nets)
    message = _refused(path, path)
    assert "generator" in message and "encode.1.conv2.weight" in message


def test_networks_of_different_style_sizes_are_refused(layouts, official_nets, save):
    nets = official_nets(layouts["tiny_plain"])
    other = official_nets(dataclasses.replace(layouts["tiny_plain"], style_dim=20))
    nets["style_encoder"] = other["style_encoder"]
    path = save(nets)
    assert "20-value" in _refused(path, path)


def test_a_generator_of_the_wrong_depth_is_refused(layouts, official_nets, save):
    nets = official_nets(layouts["tiny_plain"])
    # A 256 px generator (4 down-sampling pairs) beside a 64 px style encoder (2, or 3 with w_hpf).
    nets["generator"] = official_nets(dataclasses.replace(layouts["tiny_plain"], img_size=256))["generator"]
    path = save(nets)
    assert "down-sampling blocks" in _refused(path, path)


def test_a_filter_that_is_no_high_pass_kernel_is_refused(layouts, official_nets, save):
    nets = official_nets(layouts["tiny"])
    nets["generator"]["hpf.filter"] = torch.ones(3, 3)
    path = save(nets)
    assert "hpf.filter" in _refused(path, path)
