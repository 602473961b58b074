"""The generator and discriminator load official state_dicts strictly and compute the official output."""

import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.models.model_file import save_model
from starbatch.models.registry import load_model
from starbatch.models.stargan_v1.networks import Discriminator, Generator, load_weights
from starbatch.models.stargan_v1.official import import_official
from tests.models import official_stargan as official


def test_official_key_counts_match():
    assert len(Generator().state_dict()) == 103
    assert len(Discriminator().state_dict()) == 14
    assert Generator().state_dict().keys() == official.Generator().state_dict().keys()
    assert Discriminator().state_dict().keys() == official.Discriminator().state_dict().keys()


def test_official_state_dict_gives_official_output_in_eval_mode():
    reference = official.trained_like(official.Generator(conv_dim=16, c_dim=5, repeat_num=2))
    ours = Generator(conv_dim=16, c_dim=5, repeat_num=2)
    load_weights(ours, reference.state_dict())
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    c = torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 1, 1]])
    with torch.no_grad():
        expected = reference.train()(x, c)  # official test() never calls eval()
        ours.eval()
        assert (ours(x, c) - expected).abs().max() < 1e-5
        ours.train()
        assert (ours(x, c) - expected).abs().max() < 1e-5


def test_running_stats_in_file_do_not_leak_into_eval():
    reference = official.trained_like(official.Generator(conv_dim=8, c_dim=5, repeat_num=1))
    ours = Generator(conv_dim=8, c_dim=5, repeat_num=1)
    load_weights(ours, reference.state_dict())
    x, c = torch.rand(2, 3, 32, 32), torch.ones(2, 5)
    with torch.no_grad():
        assert not torch.allclose(reference.eval()(x, c), reference.train()(x, c), atol=1e-3)
        assert torch.allclose(ours.eval()(x, c), reference.train()(x, c), atol=1e-5)


def test_legacy_file_without_batch_counters_loads(tmp_path):
    reference = official.trained_like(official.Generator(conv_dim=8, c_dim=5, repeat_num=6))
    legacy = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(legacy) == 86
    torch.save(legacy, tmp_path / "G.ckpt")
    config, state, _ = import_official(tmp_path / "G.ckpt", "celeba")
    assert config.g_conv_dim == 8 and config.g_repeat_num == 6 and config.labels.dim == 5


def test_converted_official_checkpoints_round_trip(tmp_path):
    g = official.trained_like(official.Generator(conv_dim=8, c_dim=15, repeat_num=2), seed=1)
    d = official.trained_like(official.Discriminator(image_size=64, conv_dim=8, c_dim=13, repeat_num=4), seed=2)
    torch.save(g.state_dict(), tmp_path / "G.ckpt")
    torch.save(d.state_dict(), tmp_path / "D.ckpt")
    config, g_state, d_state = import_official(tmp_path / "G.ckpt", "both", None, tmp_path / "D.ckpt")
    assert config.image_size == 64 and config.labels.dim == 15 and config.labels.class_dim == 13
    save_model(tmp_path / "m.safetensors", config, {"generator": g_state, "discriminator": d_state})
    loaded = load_model(tmp_path / "m.safetensors")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    c = torch.zeros(2, 15)
    c[:, [0, 3, 13]] = 1
    with torch.no_grad():
        assert torch.allclose(loaded.generator(x, c), g.train()(x, c), atol=1e-5)
        assert torch.allclose(loaded.networks["discriminator"](x)[1], d(x)[1], atol=1e-5)


def test_generator_is_fully_convolutional():
    g = Generator(conv_dim=8, c_dim=5, repeat_num=1)
    with torch.no_grad():
        assert g(torch.rand(1, 3, 48, 48), torch.ones(1, 5)).shape == (1, 3, 48, 48)
        assert g(torch.rand(1, 3, 96, 96), torch.ones(1, 5)).shape == (1, 3, 96, 96)


def test_wrong_label_count_is_refused(tmp_path):
    torch.save(official.Generator(conv_dim=8, c_dim=8, repeat_num=1).state_dict(), tmp_path / "G.ckpt")
    with pytest.raises(StarbatchError, match="takes 8 label values but --dataset celeba"):
        import_official(tmp_path / "G.ckpt", "celeba")
    config, _, _ = import_official(tmp_path / "G.ckpt", "rafd")
    assert config.labels.sets[0].name == "rafd"
