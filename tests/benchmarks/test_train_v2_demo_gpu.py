"""benchmarks/train_v2_demo_gpu.py's CPU dry run: calibration, the sized run, the fp16 model and
its eval all happen (the bundled model's eval beside them) and land in 8 files, so the one-shot
GPU script cannot rot between GPU sessions."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from starbatch.models.registry import read_config
from starbatch.synthetic.domains import make_domain_faces

# the GPU script checked on the CPU: CI runs these after the suite (pyproject addopts, .ci/run)
pytestmark = [pytest.mark.dry_run, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = "benchmarks/train_v2_demo_gpu.py"


def test_the_dry_run_trains_ships_and_scores_a_model_in_eight_files(tmp_path):
    make_domain_faces(tmp_path / "data", ["female", "male"], 20, seed=1)
    make_domain_faces(tmp_path / "heldout", ["female", "male"], 20, seed=2)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, SCRIPT, "--data", str(tmp_path / "data"), "--heldout",
                           str(tmp_path / "heldout"), "--out", str(out), "--work", str(tmp_path / "work"),
                           "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr + (out / "output.txt").read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["demo_v2.safetensors", "eval.json", "eval_bundled.json", "latent.png", "reference.png", "log.jsonl",
         "summary.md", "output.txt"])
    summary = (out / "summary.md").read_text()
    assert "CPU DRY RUN" in summary and re.search(r"calibration: \d+\.\d+ it/s", summary)
    assert re.search(r"done: 4 iterations; .*\"latent judge_accuracy\": \d", summary), summary
    assert "the bundled model on the same judge" in summary
    config = read_config(out / "demo_v2.safetensors")
    assert config.architecture == "stargan-v2" and config.step == 4 and config.notes["weights"] == "float16"
    assert json.loads((out / "eval.json").read_text())["model_step"] == 4
    assert len((out / "log.jsonl").read_text().splitlines()) == 4


def test_without_cuda_it_says_so_and_exits_0(tmp_path):
    done = subprocess.run([sys.executable, SCRIPT, "--data", str(tmp_path), "--heldout", str(tmp_path),
                           "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=60)
    if "no CUDA device" not in done.stdout:  # on a GPU machine this test has nothing to check
        return
    assert done.returncode == 0 and not (tmp_path / "out").exists()
