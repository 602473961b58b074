"""A user's mistake answers at once: `--help` and usage errors come before torch (seconds to import)."""

import subprocess
import sys

import pytest

from starbatch.cli.common import FACE_MODES

# Runs the command as `starbatch` does, then says which heavy modules it imported.
PROBE = """
import sys
from starbatch.cli import main
sys.argv = ["starbatch", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    print("exit", done.code, sorted(m for m in ("torch", "ray", "cv2", "rich") if m in sys.modules))
"""


def run(*args, cwd=None):
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    return result.stdout.strip().splitlines()[-1], result.stderr


def test_help_imports_no_torch_ray_opencv_or_rich():
    assert run("--help")[0] == "exit 0 []"


@pytest.mark.parametrize("command", ["edit", "video"])
def test_an_unknown_label_is_refused_before_torch_loads(tmp_path, model, command):
    target = tmp_path / ("clip.mp4" if command == "video" else "photos")
    target.mkdir() if command == "edit" else target.write_bytes(b"")
    status, errors = run(command, target, "--to", "Blak_Hair", "-m", model, "-o", tmp_path / "out.mp4")
    assert status == "exit 2 []"
    assert "Did you mean 'Black_Hair'" in errors and len(errors.strip().splitlines()) == 1


def test_a_missing_input_is_refused_before_torch_loads(tmp_path, model):
    assert run("edit", tmp_path / "nowhere", "--to", "Young", "-m", model)[0] == "exit 2 []"
    assert run("video", tmp_path / "nowhere.mp4", "--to", "Young", "-m", model)[0] == "exit 2 []"


def test_the_cli_offers_the_detectors_face_modes_and_smallest_face():
    from starbatch.cli.common import MIN_FACE
    from starbatch.faces.detection import FACE_MODES as DETECTOR_MODES
    from starbatch.faces.retinaface import MIN_FACE as DETECTOR_MIN_FACE

    assert FACE_MODES == DETECTOR_MODES and MIN_FACE == DETECTOR_MIN_FACE


def test_the_cli_offers_the_framings_and_no_face_policies_the_product_knows():
    from starbatch.cli.common import Framing, NoFace
    from starbatch.engines.photos import NO_FACE_POLICIES
    from starbatch.models.family import FRAMINGS

    assert tuple(f.value for f in Framing) == FRAMINGS and tuple(p.value for p in NoFace) == NO_FACE_POLICIES
