"""A command that needs an extra the install lacks says, in one line, how to add it."""

import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.extras import install_hint
from starbatch.synthetic.pictures import face_like


@pytest.fixture
def without_ray(monkeypatch):
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")] + ["ray"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import ray` now fails as if not installed


@pytest.fixture(scope="module")
def model(tmp_path_factory, random_model):
    return random_model(tmp_path_factory.mktemp("model") / "both.safetensors")


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def hint_line(result, feature: str) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert lines[-1] == f"starbatch: error: {feature} needs ray, which is not installed: {install_hint('cluster')}"
    return lines[-1]


def test_the_hint_installs_the_cluster_extra_into_this_clone():
    hint = install_hint("cluster")
    assert hint.startswith('pip install -e "') and hint.split('"')[1].endswith("[cluster]")
    assert 'pip install "ray[train]>=' in hint  # the extra's own requirement, from the installed metadata


def test_edit_with_workers_without_ray(tmp_path, model, without_ray):
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    result = run("edit", tmp_path / "a.png", "--to", "Young", "-m", model, "--workers", 2, "-o", tmp_path / "out")
    hint_line(result, "the Ray engine (--workers, --address)")
    assert not (tmp_path / "out").exists()


def test_video_with_workers_without_ray(tmp_path, model, without_ray, make_clip):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    result = run("video", clip, "--expression", "happy", "-m", model, "--workers", 2, "-o", tmp_path / "out.mp4")
    hint_line(result, "the Ray engine (--workers, --address)")
    assert not (tmp_path / "out.mp4").exists()


def test_train_with_workers_without_ray(tmp_path, without_ray):
    result = run("train", "--workers", 2, "--out", tmp_path / "run")
    hint_line(result, "train --workers")
    assert not (tmp_path / "run").exists()
