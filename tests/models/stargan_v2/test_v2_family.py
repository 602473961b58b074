"""`starbatch convert` of official StarGAN v2 checkpoints into model files, `info`, and the family's loading."""

import dataclasses
import json

import official_stargan_v2 as official
import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.errors import StarbatchError
from starbatch.models.model_file import save_model
from starbatch.models.registry import load_model, read_config
from starbatch.models.stargan_v2.family import STARGAN_V2
from starbatch.models.stargan_v2.sample import StyleTranslator


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fan_weights():
    """Random FAN weights, made once (6.3 M values; nothing here runs FAN)."""
    return official.random_state(official.fan_shapes(), torch.Generator().manual_seed(9))


@pytest.fixture
def checkpoint(layouts, save, fan_weights):
    """checkpoint(layout or its name, fan=None, drop=(), seed=0): an official *_nets_ema.ckpt with random
    weights; FAN weights by the official rule (w_hpf > 0) unless `fan` says."""

    def make(name, fan=None, drop=(), seed=0, file="100000_nets_ema.ckpt"):
        layout = layouts[name] if isinstance(name, str) else name
        generator = torch.Generator().manual_seed(seed)
        nets = {net: official.random_state(shapes, generator, layout.w_hpf) for net, shapes in layout.shapes().items()}
        if (layout.w_hpf > 0) if fan is None else fan:
            nets["fan"] = dict(fan_weights)
        for network, key in drop:
            del nets[network][key]
        return save(nets, file), nets

    return make


def one_line_error(result, *fragments):
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("starbatch: error:") and all(f in line for f in fragments), line
    return line


def _file_tensors(path):
    with safe_open(str(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


@pytest.mark.parametrize("name, drop, domains, fan", [
    ("tiny", (), "female,male", True),  # w_hpf 1: FAN from the checkpoint
    ("tiny", (("generator", "hpf.filter"),), "female,male", True),  # the released file's missing buffer
    ("tiny_plain", (), "cat,dog,wild", False),  # w_hpf 0: no FAN
])  # fmt: skip
def test_convert_keeps_every_weight_and_reads_the_layout(tmp_path, checkpoint, name, drop, domains, fan):
    path, nets = checkpoint(name, drop=drop)
    result = run("convert", path, "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 0, result.output
    assert f"domains {domains}" in result.output and ("FAN inside" in result.output) == fan
    stored = _file_tensors(tmp_path / "m.safetensors")
    expected = {f"{net}.{key}": value for net, state in nets.items() for key, value in state.items()}
    if drop:
        expected["generator.hpf.filter"] = torch.tensor(official.HPF)
    assert stored.keys() == expected.keys()
    assert all(torch.equal(stored[key], expected[key]) for key in expected)
    config = read_config(tmp_path / "m.safetensors")
    assert (config.architecture, config.domains, config.img_size, config.framing) == (
        "stargan-v2", tuple(domains.split(",")), 64, "celeba-hq")
    info = run("info", tmp_path / "m.safetensors")
    listed = f"domains      {len(config.domains)}: {domains.replace(',', ', ')}"
    assert "stargan-v2" in info.output and listed in info.output
    assert ("FAN inside" in info.output) == fan and "style_dim 12, latent_dim 8" in info.output


def test_loading_builds_the_translator_strictly_and_keeps_the_official_layers_on_cpu(tmp_path, checkpoint):
    path, _ = checkpoint("tiny")
    run("convert", path, "-o", tmp_path / "m.safetensors")
    model = load_model(tmp_path / "m.safetensors")
    assert model.family is STARGAN_V2 and isinstance(model.generator, StyleTranslator)
    assert model.generator.fan is not None and model.generator.generator.backend is None
    tensors = _file_tensors(tmp_path / "m.safetensors")
    del tensors["style_encoder.unshared.0.weight"]
    save_model(tmp_path / "broken.safetensors", read_config(tmp_path / "m.safetensors"),
               {"": None}, extra_tensors=tensors)  # the same file, one weight short
    with pytest.raises(StarbatchError, match=r"broken.safetensors: weights do not fit .*style_encoder.unshared.0"):
        load_model(tmp_path / "broken.safetensors")


def test_domain_names_are_needed_for_other_layouts_and_their_count_is_checked(tmp_path, checkpoint, layouts):
    path, _ = checkpoint("tiny_plain")  # 3 domains, w_hpf 0 is AFHQ's layout; the names may still be given
    result = run("convert", path, "--domains", "lion,tiger,bear", "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 0 and read_config(tmp_path / "m.safetensors").domains == ("lion", "tiger", "bear")
    one_line_error(run("convert", path, "--domains", "lion,tiger", "-o", tmp_path / "n.safetensors"),
                   "has 3 domains but 2 names were given")
    two_plain = dataclasses.replace(layouts["tiny_plain"], num_domains=2)  # no released model has it
    path, _ = checkpoint(two_plain, file="other.ckpt")
    one_line_error(run("convert", path, "-o", tmp_path / "o.safetensors"), "name the domains (--domains a,b,...)")
    assert run("convert", path, "--domains", "day,night", "-o", tmp_path / "o.safetensors").exit_code == 0
    assert read_config(tmp_path / "o.safetensors").domains == ("day", "night")


def test_a_w_hpf_checkpoint_without_fan_weights_is_refused(tmp_path, checkpoint):
    path, _ = checkpoint("tiny", fan=False)
    one_line_error(run("convert", path, "-o", tmp_path / "m.safetensors"), str(path), "needs the FAN", "--wing")
    assert not (tmp_path / "m.safetensors").exists()


def test_a_damaged_checkpoint_is_one_line(tmp_path, checkpoint):
    path, _ = checkpoint("tiny_plain")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    one_line_error(run("convert", path, "-o", tmp_path / "m.safetensors"), str(path), "unreadable checkpoint")


def test_the_other_familys_convert_options_are_one_line(tmp_path, checkpoint):
    path, _ = checkpoint("tiny_plain")
    one_line_error(run("convert", path, "--dataset", "celeba", "-o", tmp_path / "m.safetensors"),
                   "a stargan-v2 checkpoint, which takes --wing, --domains; not --dataset")
    v1 = tmp_path / "G.ckpt"
    torch.save({"main.0.weight": torch.zeros(8, 8, 7, 7)}, v1)
    one_line_error(run("convert", v1, "--domains", "a,b", "-o", tmp_path / "m.safetensors"),
                   "a stargan-v1 checkpoint", "not --domains")
    one_line_error(run("convert", v1, "-o", tmp_path / "m.safetensors"), "give --dataset")


def test_damaged_v2_metadata_is_one_line(tmp_path, v2_model):
    tensors = _file_tensors(v2_model)
    config = read_config(v2_model)
    data = json.loads(config.to_json())
    data["num_domains"] = 3

    class Damaged:
        def to_json(self):
            return json.dumps(data)

    save_model(tmp_path / "d.safetensors", Damaged(), {"": None}, extra_tensors=tensors)
    with pytest.raises(StarbatchError, match=r"d.safetensors: damaged starbatch metadata: 3 domains"):
        read_config(tmp_path / "d.safetensors")
