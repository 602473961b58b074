"""benchmarks/gpu_check.py's CPU dry run: every part runs and leaves its file with numbers in it,
so the GPU script cannot rot between the rare runs on a GPU machine."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

# the GPU script checked on the CPU: CI runs these after the suite (pyproject addopts, .ci/run)
pytestmark = [pytest.mark.dry_run, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PARTS = ("tests", "kernels", "generator", "train")
NUMBER = re.compile(r"\d+\.\d+|\d+%")


def test_the_dry_run_writes_every_part_with_numbers(tmp_path):
    out = tmp_path / "gpu-check"
    # the smallest of each part: one race-check test, one kernel row, fp32 generators
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(out), "--dry-run",
                           "--tests-k", "fp32 and residual", "--kernels-only", "res IN+residual",
                           "--dtypes", "fp32"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([f"{part}.txt" for part in PARTS] + ["summary.md"])  # <= 8 files, one folder
    summary = (out / "summary.md").read_text()
    assert "CPU DRY RUN (numbers mean nothing)" in summary
    for part in PARTS:
        assert re.search(rf"\| {part} \| pass \| \d+ \| {part}\.txt \|", summary), summary
        text = (out / f"{part}.txt").read_text()
        summaries = [line for line in text.splitlines() if line.startswith("summary:") or " passed" in line]
        assert summaries and all(NUMBER.search(line) for line in summaries), (part, text)
    assert "1 passed" in (out / "tests.txt").read_text()


def test_without_cuda_it_says_what_it_skips_and_exits_0(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(tmp_path), "--parts", "train"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    if "no CUDA device" not in done.stdout:  # on a GPU machine this test has nothing to check
        return
    assert done.returncode == 0
    assert "skipped train" in done.stdout
    assert "skipped: no CUDA" in (tmp_path / "summary.md").read_text()
