"""The generator on onnxruntime: exported once per model file's content, cached, checked, and
within one uint8 level of the torch path and of the official forward."""

import json
import os
import tempfile
import threading
import time
from dataclasses import replace

import onnxruntime
import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.inference import onnx_cache
from starbatch.inference.backends import resolve_backend
from starbatch.inference.compositing import to_uint8
from starbatch.inference.editor import EditorSpec
from starbatch.models.family import EditOptions
from starbatch.models.registry import load_model
from tests.models import official_stargan as official
from tests.onnx_exports import copied_cache, counting_exports

JOINT_EDIT = EditOptions("Black_Hair", "happy", "Male=0")  # two passes: CelebA, then RaFD
CELEBA_EDIT = EditOptions("Black_Hair", None, "Male=0")


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory, joint, celeba):
    """A cache holding the joint and the CelebA model's graphs, each exported once (counted)."""
    home = tmp_path_factory.mktemp("warm")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("XDG_CACHE_HOME", str(home))
        exports = counting_exports(monkeypatch)
        spec(joint).build()
        spec(celeba, options=CELEBA_EDIT).build()
    return home, len(exports)


@pytest.fixture
def cache(tmp_path, monkeypatch, warm_cache):
    """A copy of the warm cache of this test's own, and a count of the exports made into it
    (exporting takes ~1 s even for these small models, so tests share the warm one's)."""
    return copied_cache(warm_cache[0], tmp_path, monkeypatch)


def images(count=3, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, size, size, generator=generator) * 2 - 1


def spec(path, backend="onnxruntime", options=JOINT_EDIT):
    return EditorSpec.from_options(path, options, "cpu", backend=backend)


@pytest.fixture(scope="module")
def joint(tmp_path_factory, random_model):
    return random_model(tmp_path_factory.mktemp("joint") / "joint.safetensors", "both", image_size=32)


@pytest.fixture(scope="module")
def celeba(tmp_path_factory, random_model):
    return random_model(tmp_path_factory.mktemp("celeba") / "celeba.safetensors", "celeba", image_size=32, seed=3)


def test_the_first_run_exports_and_later_runs_use_the_cached_graph(joint, warm_cache, cache):
    assert warm_cache[1] == 2  # the two models' first runs
    first = spec(joint).build()
    second = spec(joint).build()
    assert len(cache) == 0
    assert first.generator.name == second.generator.name == "onnxruntime"
    assert len(list(onnx_cache.cache_dir().glob("*.onnx"))) == 2
    assert torch.equal(first(images()), second(images()))


def test_a_model_file_replaced_under_the_same_name_gets_its_own_graph(tmp_path, cache, random_model):
    path = random_model(tmp_path / "model.safetensors", "both", image_size=32, seed=1)
    spec(path).build()
    random_model(path, "both", image_size=32, seed=2)
    replaced = spec(path).build()
    assert len(cache) == 2
    reference = replace(spec(path), backend="torch").build()
    assert (to_uint8(replaced(images())).astype(int) - to_uint8(reference(images()))).__abs__().max() <= 1


def graph_of(path) -> "os.PathLike":
    """The cached graph file made from the model file at `path`."""
    model_sha256 = onnx_cache.file_sha256(path)
    for record in onnx_cache.cache_dir().glob("*.json"):
        if model_sha256 in record.read_text():
            return record.with_suffix(".onnx")
    raise AssertionError(f"no cached graph for {path}")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "another model's graph", "record removed"])
def test_a_damaged_cache_is_exported_again_not_trusted(joint, celeba, cache, damage):
    graph = graph_of(joint)
    if damage == "truncated":
        graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    elif damage == "garbage":
        graph.write_bytes(os.urandom(graph.stat().st_size))
    elif damage == "another model's graph":
        graph.write_bytes(graph_of(celeba).read_bytes())
    else:
        graph.with_suffix(".json").unlink()
    rebuilt = spec(joint).build()
    assert len(cache) == 1
    reference = replace(spec(joint), backend="torch").build()
    assert (to_uint8(rebuilt(images())).astype(int) - to_uint8(reference(images()))).__abs__().max() <= 1


def test_onnxruntime_is_within_one_uint8_level_of_torch_over_both_passes(joint, cache):
    ours = spec(joint).build()
    reference = replace(spec(joint), backend="torch").build()
    assert reference.generator.name == "torch"
    x = images(count=5, seed=4)
    ours_out, reference_out = ours(x), reference(x)
    assert len(ours.conditioning.conditions(x)) == 2
    # Same graph, other convolution kernels: fp32 rounding only (~1e-5 here), far below a level (2/255).
    assert (ours_out - reference_out).abs().max() < 1e-4
    assert (to_uint8(ours_out).astype(int) - to_uint8(reference_out)).__abs__().max() <= 1


def test_crop_only_output_stays_within_one_level_of_the_official_forward(celeba, cache):
    editor = spec(celeba, options=CELEBA_EDIT).build()
    generator = load_model(celeba).generator
    reference = official.Generator(generator.main[0].out_channels, generator.c_dim, 2)
    reference.load_state_dict(generator.state_dict())
    x = images(count=4, seed=5)
    assert len(cache) == 0
    target = torch.tensor([[1.0, 0, 0, 0, 0]]).expand(4, -1)
    with torch.no_grad():
        expected = reference.train()(x, target)  # official test() never calls eval()
    assert (to_uint8(editor(x)).astype(int) - to_uint8(expected)).__abs__().max() <= 1


def test_auto_picks_onnxruntime_on_a_cpu_and_torch_elsewhere(joint, cache):
    assert spec(joint, backend="auto").build().generator.name == "onnxruntime"
    cuda = torch.device("cuda")  # only a name: resolving needs no GPU
    assert resolve_backend("auto", cuda, "bf16", exports=True) == "torch"
    assert resolve_backend("auto", torch.device("cpu"), "bf16", exports=True) == "torch"
    assert resolve_backend("auto", torch.device("cpu"), "fp32", exports=False) == "torch"


@pytest.mark.parametrize(("device", "precision", "message"), [
    ("cuda", "fp32", "runs on the CPU"), ("cpu", "bf16", "runs fp32 only")])
def test_onnxruntime_where_it_cannot_run_is_refused_on_one_line(device, precision, message):
    with pytest.raises(StarbatchError, match=message):
        resolve_backend("onnxruntime", torch.device(device), precision, exports=True)


def test_an_unknown_backend_names_the_choices(joint):
    with pytest.raises(StarbatchError, match="choose auto, torch, onnxruntime"):
        spec(joint, backend="openvino")


def test_a_batch_split_over_threads_gives_the_images_of_one_run(joint, cache):
    """On N threads the batch runs as one-thread parts side by side (backends.OnnxGenerator);
    onnxruntime computes each image on its own, so the parts give exactly one run's images."""
    generator = spec(joint).build().generator
    x, labels = images(count=5, seed=6), torch.rand(5, load_model(joint).generator.c_dim)
    generator.threads = 1
    whole = generator(x, labels)
    session, threads = generator.session, set()

    class Recording:
        def run(self, *args):
            threads.add(threading.get_ident())
            time.sleep(0.05)  # each part holds its thread a while, so the parts overlap
            return session.run(*args)

    generator.session, generator.threads = Recording(), 3
    parts = generator(x, labels)
    assert len(threads) == 3
    assert torch.equal(parts, whole)


def test_the_cache_keeps_the_graph_as_optimised_here_and_it_gives_the_same_images(joint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    exports = counting_exports(monkeypatch)
    optimised_now = spec(joint).build()
    from_cache = spec(joint).build()
    assert len(exports) == 1
    record = json.loads(graph_of(joint).with_suffix(".json").read_text())
    assert record["optimised_for"].startswith(f"onnxruntime {onnxruntime.__version__} ")
    assert torch.equal(optimised_now(images()), from_cache(images()))


def test_a_cache_that_cannot_be_written_still_edits(joint, tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))  # starbatch/onnx cannot be made in it
    exports = counting_exports(monkeypatch)
    editor = spec(joint).build()
    spec(joint).build()
    assert len(exports) == 2  # nothing was kept, so the second run exported again
    reference = replace(spec(joint), backend="torch").build()
    assert (to_uint8(editor(images())).astype(int) - to_uint8(reference(images()))).__abs__().max() <= 1


def test_no_room_for_the_optimised_copy_still_edits_and_caches_nothing(joint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", full_disk)
    editor = spec(joint).build()
    assert not list(onnx_cache.cache_dir().glob("*.onnx"))  # (glob of a missing folder: none)
    reference = replace(spec(joint), backend="torch").build()
    assert (to_uint8(editor(images())).astype(int) - to_uint8(reference(images()))).__abs__().max() <= 1
