"""The bundled demo model: what the README's first command runs."""

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.cli.common import BUNDLED_MODEL
from starbatch.models.registry import read_config

PHOTOS = Path(__file__).parents[2] / "examples" / "photos"


def test_the_bundled_model_is_a_small_joint_model():
    config = read_config(BUNDLED_MODEL)
    assert [s.name for s in config.labels.sets] == ["celeba", "rafd"]  # mask vector layout
    assert BUNDLED_MODEL.stat().st_size < 20e6
    assert config.step > 0


def test_edit_defaults_to_it_says_so_and_its_hair_edits_go_the_right_way(tmp_path, monkeypatch):
    monkeypatch.delenv("STARBATCH_MODEL", raising=False)
    runner = CliRunner()
    brightness = {}
    for colour in ("Black_Hair", "Blond_Hair"):
        result = runner.invoke(app, ["edit", str(PHOTOS), "--to", colour, "-o", str(tmp_path / colour),
                                     "--crop-only"])
        assert result.exit_code == 0, result.output
        assert "bundled demo model" in result.output
        crops = sorted((tmp_path / colour).glob("*.png"))
        assert len(crops) == len(list(PHOTOS.glob("*.jpg"))) == 6
        # the top third of a face crop is mostly hair
        brightness[colour] = np.mean([np.asarray(Image.open(p).convert("L"), np.float32)[: 64 // 3].mean()
                                      for p in crops])
    assert brightness["Blond_Hair"] > brightness["Black_Hair"] + 10
