"""StarGAN v2 training with --w-hpf 1: a frozen FAN's face masks reach G as the official train() gives them,
the run resumes to the bit, and the model file carries the FAN so `edit` runs it.

The FAN is a randomly initialised one saved in a model file: its masks mean nothing, but they are
computed as a trained FAN's would be, and the FAN costs as much (~0.6 s an image on one core at its
fixed 256 px), so every run here is as short as a resume allows. 32 px is the smallest size at which
G uses the masks (its decoder output at 32 px takes the high-pass of the first mask).
"""

import shutil

import pytest
import torch
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.errors import StarbatchError
from starbatch.models.model_file import prefixed, read_file
from starbatch.models.registry import load_model
from starbatch.models.stargan_v2.fan import FAN
from starbatch.models.stargan_v2.networks import Generator
from starbatch.train.loop import run
from starbatch.train.settings import TrainSettings
from starbatch.train.stargan_v2.frozen_fan import frozen_fan

# One worker takes the module: its `straight` run (11 s) is a module fixture, made once per worker that
# runs one of its tests (pyproject's addopts: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("v2_hpf")


@pytest.fixture(scope="module")
def fan_model(tmp_path_factory, random_v2_model):
    """A w_hpf 1 model file whose fan.* (PyTorch's initial FAN weights) the runs train with."""
    return random_v2_model(tmp_path_factory.mktemp("fan") / "fan.safetensors", w_hpf=1.0)


@pytest.fixture(scope="module")
def hpf_settings(domain_faces, tiny_v2, fan_model):
    def make(out, **changes):
        values = dict(tiny_v2, out=str(out), data_dir=str(domain_faces), image_size=32, iters=2, checkpoint_every=1,
                      seed=3, w_hpf=1.0, fan_from=str(fan_model))
        values.update(changes)
        return TrainSettings(**values)

    return make


class Calls:
    """Every G forward (its input and masks) and every FAN.get_heatmap (its input and masks) while active;
    `heatmap` stands in for FAN.get_heatmap where given."""

    def __init__(self, monkeypatch, heatmap=None):
        self.generator, self.heatmaps = [], []
        forward, get_heatmap = Generator.forward, heatmap or FAN.get_heatmap

        def spy_forward(module, x, s, masks=None):
            self.generator.append((x.detach().clone(), masks))
            return forward(module, x, s, masks=masks)

        def spy_heatmap(fan, x):
            masks = get_heatmap(fan, x)
            self.heatmaps.append((x.detach().clone(), masks))
            return masks

        monkeypatch.setattr(Generator, "forward", spy_forward)
        monkeypatch.setattr(FAN, "get_heatmap", spy_heatmap)

    def masks_source(self, masks) -> torch.Tensor:
        """The input of the get_heatmap call that made `masks`."""
        made = [x for x, out in self.heatmaps if out is masks]
        assert len(made) == 1, "masks that no FAN.get_heatmap call made"
        return made[0]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, hpf_settings):
    """Two steps at once (checkpoints at 1 and 2), samples at the end, every G and FAN call recorded."""
    out = tmp_path_factory.mktemp("hpf-straight")
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = Calls(monkeypatch)
        run(hpf_settings(out, sample_every=3), progress=False)  # 3 > iters: the samples written at the end only
    return out, calls


def test_every_g_call_of_training_and_samples_gets_the_fan_masks_of_its_own_input(straight):
    _, calls = straight
    # per iteration: 2 D steps with G(x_real), 2 G steps with G(x_real) twice and the cycle's G(x_fake);
    # then the latent grid (2 domains x 3 psi) and the reference grid (2 references)
    assert len(calls.generator) == 2 * (2 + 2 * 3) + 2 * 3 + 2
    for x, masks in calls.generator:
        assert masks is not None
        assert torch.equal(calls.masks_source(masks), x)
        assert masks[0].shape == masks[1].shape == (len(x), 1, 256, 256)
    # x_real's masks once per iteration (official train()), x_fake's for each G step's cycle, the samples' once
    assert len(calls.heatmaps) == 2 * 3 + 1


def test_w_hpf_two_steps_straight_equal_one_then_resume_to_the_bit(straight, tmp_path, hpf_settings, same_files,
                                                                  run_log):
    out, _ = straight
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(out / "checkpoints" / "step-00000001.safetensors", tmp_path / "checkpoints")
    shutil.copy(out / "log.jsonl", tmp_path / "log.jsonl")  # the resumed run trims it to step 1
    run(hpf_settings(tmp_path, sample_every=0), resume=True, progress=False)
    same_files(out, tmp_path, ["model.safetensors", "checkpoints/step-00000002.safetensors"])
    log, straight_log = run_log(tmp_path), run_log(out)
    assert [r["step"] for r in log] == [1, 2]
    assert log[1] == dict(straight_log[1], time=log[1]["time"])


def test_the_model_file_and_checkpoints_carry_the_fan_it_trained_with(straight, fan_model):
    out, _ = straight
    _, source = read_file(fan_model)
    for name in ("model.safetensors", "checkpoints/step-00000002.safetensors"):
        _, tensors = read_file(out / name)
        fan = prefixed(tensors, "fan.")
        assert fan.keys() == prefixed(source, "fan.").keys()
        assert all(torch.equal(value, source["fan." + key]) for key, value in fan.items()), name
    model = load_model(out / "model.safetensors")
    assert model.config.w_hpf == 1.0 and model.networks["generator"].fan is not None
    assert {p.name for p in (out / "samples").iterdir()} == {"00000002-latent.png", "00000002-reference.png"}


def test_edit_runs_the_w_hpf_model(straight, tmp_path, domain_faces):
    out, _ = straight
    photo = next((domain_faces / "val" / "female").iterdir())
    # torch runs the translator here; its ONNX export with the FAN inside is tests/models/stargan_v2's
    result = CliRunner().invoke(app, ["edit", str(photo), "-m", str(out / "model.safetensors"), "--domain", "male",
                                      "--seed", "1", "-o", str(tmp_path / "edited"), "--faces", "center",
                                      "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "edited").rglob("*.jpg"))) == 1


def test_resume_refuses_another_fan(straight, hpf_settings, random_v2_model, tmp_path):
    out, _ = straight
    other = random_v2_model(tmp_path / "other-fan.safetensors", w_hpf=1.0, seed=1)
    with pytest.raises(StarbatchError, match="trained with other FAN weights than --fan-from"):
        run(hpf_settings(out, iters=3, fan_from=str(other)), resume=True, progress=False)


def test_wing_ckpt_gives_the_same_frozen_fan_as_a_model_file(tmp_path, hpf_settings, fan_model):
    _, tensors = read_file(fan_model)
    torch.save({"state_dict": prefixed(tensors, "fan.")}, tmp_path / "wing.ckpt")  # the official file's layout
    from_model = frozen_fan(hpf_settings(tmp_path))
    from_wing = frozen_fan(hpf_settings(tmp_path, fan_from=None, wing=str(tmp_path / "wing.ckpt")))
    assert all(torch.equal(a, b) for a, b in zip(from_model.state_dict().values(), from_wing.state_dict().values(),
                                                 strict=True))
    assert not any(p.requires_grad for p in from_wing.parameters()) and not from_wing.training


def cheap_heatmap(fan, x):
    """Masks made from the image itself: as input-dependent as FAN's, at a thousandth of its cost."""
    brightness = torch.nn.functional.interpolate(x.mean(1, keepdim=True), size=256, mode="bilinear") * 0.5 + 0.5
    return brightness.clamp(0, 1), (1 - brightness).clamp(0, 1)


def test_eval_translates_a_w_hpf_model_with_the_masks_of_each_input(straight, domain_faces, tmp_path, monkeypatch):
    from starbatch.train.stargan_v2.evaluate import OUTPUTS_PER_INPUT, evaluate

    out, _ = straight
    model = load_model(out / "model.safetensors")
    calls = Calls(monkeypatch, cheap_heatmap)
    report = evaluate(model, domain_faces, classifier_epochs=1, cache_dir=tmp_path)
    assert report["tasks"] == 2  # female->male, male->female, each on one batch of the 2 val faces
    # per task: 10 latent outputs and their 10 reconstructions, an output per reference (the target's 2 val faces)
    assert list(report["references_per_task"].values()) == [2, 2]
    assert len(calls.generator) == 2 * (2 * OUTPUTS_PER_INPUT + 2)
    for x, masks in calls.generator:
        assert masks is not None and torch.equal(calls.masks_source(masks), x)
    # per task: the inputs' masks once per mode, each latent output's for its reconstruction
    assert len(calls.heatmaps) == 2 * (2 + OUTPUTS_PER_INPUT)


def test_a_fan_source_without_fan_weights_is_one_line(tmp_path, hpf_settings, v2_model):
    with pytest.raises(StarbatchError, match=r"v2\.safetensors: holds no FAN weights \(fan\.\*\)"):
        frozen_fan(hpf_settings(tmp_path, fan_from=str(v2_model)))
