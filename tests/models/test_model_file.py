"""Model files: safetensors with metadata; bad, foreign and malicious files give one-line errors."""

import pickle

import pytest
import torch
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.errors import StarbatchError
from starbatch.models.model_file import read_header
from starbatch.models.registry import load_model, read_config
from starbatch.models.stargan_v1.official import load_official_state_dict
from tests.models import official_stargan as official


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_model_file_keeps_configuration(tmp_path, random_model):
    path = random_model(tmp_path / "m.safetensors", "both", image_size=64)
    config = read_config(path)
    assert config.image_size == 64 and config.labels.mask and config.labels.dim == 15
    assert [s.name for s in config.labels.sets] == ["celeba", "rafd"]
    loaded = load_model(path)
    assert "discriminator" in loaded.networks and not loaded.generator.training


def test_malicious_pickle_is_refused_without_running(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as handle:
        pickle.dump({"main.0.weight": Exploit()}, handle)
    with pytest.raises(StarbatchError, match="refused"):
        load_official_state_dict(path)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"\xff" * 64])
def test_damaged_model_file_is_one_line_error(tmp_path, content):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(StarbatchError) as error:
        load_model(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_model_file_is_refused(tmp_path, random_model):
    path = random_model(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(StarbatchError, match="not a readable"):
        load_model(path)


def test_official_ckpt_given_to_edit_points_to_convert(tmp_path):
    torch.save(official.Generator(conv_dim=8, c_dim=5, repeat_num=1).state_dict(), tmp_path / "G.ckpt")
    with pytest.raises(StarbatchError, match="starbatch convert"):
        load_model(tmp_path / "G.ckpt")


def test_discriminator_given_as_generator_is_refused(tmp_path):
    torch.save(official.Discriminator(64, 8, 5, 4).state_dict(), tmp_path / "D.ckpt")
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "D.ckpt"), "--dataset", "celeba",
                                      "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 2
    assert "not a StarGAN generator but a discriminator" in result.output
    assert not (tmp_path / "m.safetensors").exists()


def test_convert_then_info_shows_vocabulary(tmp_path):
    torch.save(official.Generator(conv_dim=8, c_dim=15, repeat_num=1).state_dict(), tmp_path / "G.ckpt")
    runner = CliRunner()
    converted = runner.invoke(app, ["convert", str(tmp_path / "G.ckpt"), "--dataset", "both",
                                    "-o", str(tmp_path / "joint.safetensors")])
    assert converted.exit_code == 0, converted.output
    shown = runner.invoke(app, ["info", str(tmp_path / "joint.safetensors")])
    assert shown.exit_code == 0
    assert "celeba (yes/no each): Black_Hair, Blond_Hair, Brown_Hair, Male, Young" in shown.output
    assert "rafd (pick one): angry, contemptuous" in shown.output
    assert "with mask vector" in shown.output and "edit needs --from" in shown.output


def test_the_header_is_read_as_safetensors_reads_it(tmp_path, random_model):
    from safetensors import safe_open

    path = random_model(tmp_path / "m.safetensors")
    metadata, names = read_header(path)
    with safe_open(str(path), framework="numpy") as handle:
        assert (metadata, sorted(names)) == (handle.metadata(), sorted(handle.keys()))


def test_a_truncated_file_is_refused_from_its_header_alone(tmp_path, random_model):
    path = random_model(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(StarbatchError, match="truncated"):
        read_config(path)  # what the CLI reads before torch loads
