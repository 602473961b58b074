"""`edit --workers N` plans on the driver from the model file's header alone and leaves device and
precision to each worker (a GPU worker runs bf16 even when the driver has no GPU)."""

import pytest
from PIL import Image
from typer.testing import CliRunner

import starbatch.engines.ray_pool
import starbatch.inference.editor
from starbatch.cli import app
from starbatch.engines.photos import Outcome
from starbatch.engines.ray_pool import EditWorker
from starbatch.inference.editor import EditorSpec
from starbatch.models.family import EditOptions
from starbatch.synthetic.pictures import face_like


class RecordingEngine:
    """Stands in for RayEngine: keeps the spec the workers would get, edits nothing."""

    specs = []

    def __init__(self, spec, workers=None, address=None):
        self.specs.append(spec)
        self.model_path = spec.model_path

    def run_edit(self, jobs, batch_size, crop_only, max_pixels, on_outcome, faces, no_face):
        return [Outcome(job, "edited") for job in jobs]


@pytest.fixture
def on_ray(monkeypatch):
    RecordingEngine.specs = []
    monkeypatch.setattr(starbatch.engines.ray_pool, "RayEngine", RecordingEngine)

    def no_local_model(*args, **kwargs):
        raise AssertionError("the driver loaded the model's weights")

    monkeypatch.setattr(starbatch.inference.editor, "load_model", no_local_model)
    return RecordingEngine.specs


def test_workers_get_auto_precision_and_the_driver_loads_no_weights(tmp_path, model, on_ray):
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    result = CliRunner().invoke(app, ["edit", str(tmp_path / "a.png"), "--to", "Black_Hair", "-m", str(model),
                                      "--workers", "2", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (spec,) = on_ray
    assert (spec.device, spec.precision) == ("auto", "auto")  # resolved by each worker for itself
    assert [p.label_set.name for p in spec.request.passes] == ["celeba"]


def test_an_unknown_label_fails_on_the_driver_before_any_worker_starts(tmp_path, model, on_ray):
    Image.fromarray(face_like(64, 64)).save(tmp_path / "a.png")
    result = CliRunner().invoke(app, ["edit", str(tmp_path / "a.png"), "--to", "Purple_Hair", "-m", str(model),
                                      "--workers", "2", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "unknown label 'Purple_Hair'" in result.output
    assert on_ray == []


def test_a_worker_resolves_auto_for_its_own_device(model):
    worker = EditWorker(EditorSpec.from_options(model, EditOptions(expression="happy")))
    assert worker.editor.device.type == "cpu" and worker.editor.precision == "fp32"
