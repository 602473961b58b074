"""StarGAN v2's translator on onnxruntime: one graph per model file's content, FAN masks inside (w_hpf 1)
or none (w_hpf 0), the style codes an input, so every seed and reference runs the same graph; within one
uint8 level of the torch path. (`--crop-only` against the official forward: test_v2_edit.py, whose
edits run on onnxruntime on a CPU, as `auto` picks here.)"""

from dataclasses import replace

import official_stargan_v2 as official
import pytest
import torch

from starbatch.inference.compositing import to_uint8
from starbatch.inference.editor import EditorSpec
from starbatch.models.family import EditOptions
from starbatch.models.model_file import save_model
from starbatch.models.stargan_v2.family import STARGAN_V2
from tests.onnx_exports import copied_cache, counting_exports

# One worker takes the module, so its models and warm cache (FAN exports: 6 s) are made once, not once per worker.
pytestmark = pytest.mark.xdist_group("v2_backends")

KINDS = {"w_hpf 1": "tiny", "w_hpf 0": "tiny_plain"}  # conftest layouts, 64 px
TWO_SEEDS = EditOptions(domain="d1", seed="1,2")


def convert(folder, layout, fan_state, seed=0):
    """A model file as `starbatch convert` writes it from a random official checkpoint."""
    generator = torch.Generator().manual_seed(seed)
    nets = {name: official.random_state(shapes, generator, layout.w_hpf) for name, shapes in layout.shapes().items()}
    if layout.w_hpf > 0:
        nets["fan"] = dict(fan_state)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(nets, folder / "100000_nets_ema.ckpt")
    domains = ",".join(f"d{i}" for i in range(layout.num_domains))
    config, networks = STARGAN_V2.import_official(folder / "100000_nets_ema.ckpt", domains=domains)
    save_model(folder / "model.safetensors", config, networks)
    return folder / "model.safetensors"


def spec(path, backend="onnxruntime", options=TWO_SEEDS):
    return EditorSpec.from_options(path, options, "cpu", backend=backend)


@pytest.fixture(scope="module")
def models(tmp_path_factory, layouts, fan_state):
    folder = tmp_path_factory.mktemp("v2")
    return {kind: convert(folder / name, layouts[name], fan_state) for kind, name in KINDS.items()}


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory, models):
    """A cache holding both models' graphs, each exported once (counted): exporting the FAN takes seconds."""
    home = tmp_path_factory.mktemp("warm")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("XDG_CACHE_HOME", str(home))
        exports = counting_exports(monkeypatch)
        for path in models.values():
            spec(path).build()
    return home, len(exports)


@pytest.fixture
def cache(tmp_path, monkeypatch, warm_cache):
    """A copy of the warm cache of this test's own, and a count of the exports made into it."""
    return copied_cache(warm_cache[0], tmp_path, monkeypatch)


def levels_apart(a, b) -> int:
    return int((to_uint8(a).astype(int) - to_uint8(b)).__abs__().max())


@pytest.mark.parametrize("kind", KINDS)
def test_auto_runs_the_cached_graph_of_each_model_on_a_cpu(models, warm_cache, cache, kind):
    assert warm_cache[1] == 2  # one export per model file
    editor = spec(models[kind], backend="auto").build()
    assert editor.generator.name == "onnxruntime"
    assert len(cache) == 0
    assert editor.generator.input_names == ("images", "styles")


@pytest.mark.parametrize("kind", KINDS)
def test_every_style_runs_the_one_graph_within_one_level_of_torch(models, cache, images, kind):
    ours = spec(models[kind]).build()
    reference = replace(spec(models[kind]), backend="torch").build()
    assert reference.generator.name == "torch"
    x = images(1, 64, seed=11).expand(2, -1, -1, -1)
    variants = [0, 1]  # seeds 1 and 2 on the same crop, in one batch
    ours_out, reference_out = ours(x, variants), reference(x, variants)
    assert len(cache) == 0
    assert levels_apart(ours_out, reference_out) <= 1
    assert levels_apart(ours_out[:1], ours_out[1:]) > 8  # the two styles differ: the style is an input


def test_a_model_file_replaced_under_the_same_name_gets_its_own_graph(tmp_path, cache, layouts, fan_state, images):
    path = convert(tmp_path / "model", layouts["tiny_plain"], fan_state, seed=1)
    spec(path).build()
    convert(tmp_path / "model", layouts["tiny_plain"], fan_state, seed=2)
    replaced = spec(path).build()
    assert len(cache) == 2
    # The old graph's output would be another model's: far more than a level from the new weights'.
    reference = replace(spec(path), backend="torch").build()
    assert levels_apart(replaced(images(2, 64)), reference(images(2, 64))) <= 1
