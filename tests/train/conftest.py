"""Training fixtures: the smallest settings that still exercise every part of the loop."""

import json

import pytest
import torch

from starbatch.models.model_file import read_file


def assert_same_files(first, second, names) -> None:
    """The safetensors files `names` (paths relative to two run folders) hold equal tensors, bit for bit."""
    for name in names:
        _, ours = read_file(first / name)
        _, theirs = read_file(second / name)
        assert ours.keys() == theirs.keys(), name
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), (name, key)


def read_log(folder) -> list[dict]:
    """A run folder's log.jsonl, one dict per line."""
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session", name="same_files")
def same_files_fixture():
    """same_files(first_run, second_run, names): their files equal to the bit (assert_same_files)."""
    return assert_same_files


@pytest.fixture(scope="session", name="run_log")
def run_log_fixture():
    """run_log(folder): the run's log.jsonl as dicts."""
    return read_log


@pytest.fixture(scope="session")
def tiny() -> dict:
    """Settings fields for a tiny run on the 32 px rendered faces."""
    return dict(image_size=32, batch_size=4, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=2)


@pytest.fixture(scope="session")
def tiny_v2() -> dict:
    """Settings fields for a tiny StarGAN v2 run at 16 px, the smallest size its networks allow."""
    return dict(architecture="stargan-v2", image_size=16, batch_size=2, dim_in=4, max_conv_dim=8, hidden_dim=8,
                style_dim=4, latent_dim=4, sample_every=0, samples=2)


@pytest.fixture(scope="session")
def domain_faces(tmp_path_factory):
    """A rendered female/male set in StarGAN v2's layout: 18 train + 2 val faces per domain."""
    from starbatch.synthetic.domains import make_domain_faces

    root = tmp_path_factory.getbasetemp() / "domains-20"
    if not (root / "val").is_dir():
        make_domain_faces(root, ["female", "male"], 20, seed=5)
    return root
