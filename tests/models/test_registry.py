"""The architecture in a model file's metadata picks the family that reads it."""

import json

import pytest
from safetensors.torch import save_file

from starbatch.errors import StarbatchError
from starbatch.models.registry import load_model, read_config
from starbatch.models.stargan_v1.family import STARGAN_V1


def test_a_v1_file_is_read_by_the_v1_family(model):
    config = read_config(model)
    loaded = load_model(model)
    assert config.architecture == "stargan-v1" and loaded.family is STARGAN_V1
    assert set(loaded.networks) == {"generator", "discriminator"}


def test_an_unknown_architecture_is_one_line_naming_the_file_and_what_is_read(tmp_path):
    import torch

    path = tmp_path / "future.safetensors"
    save_file({"generator.w": torch.zeros(1)}, str(path),
              metadata={"starbatch": json.dumps({"architecture": "stargan-v9", "image_size": 256})})
    with pytest.raises(StarbatchError, match=r"future.safetensors: stargan-v9 model; this starbatch reads stargan-v1"):
        read_config(path)
