"""StarGAN v2 training: the official four-step iteration, bit-exact resume, and a model `edit` reads."""


import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.errors import StarbatchError
from starbatch.models.model_file import read_file
from starbatch.models.registry import load_model
from starbatch.train.loop import run
from starbatch.train.settings import TrainSettings
from starbatch.train.stargan_v2 import losses
from starbatch.train.stargan_v2.solver import REFERENCE_STEP, Solver


@pytest.fixture(scope="session")
def v2_settings(domain_faces, tiny_v2):
    def make(out, **changes):
        values = dict(out=str(out), data_dir=str(domain_faces), iters=4, checkpoint_every=2, seed=3, **tiny_v2)
        values.update(changes)
        return TrainSettings(**values)

    return make


@pytest.fixture(scope="module")
def straight(tmp_path_factory, v2_settings):
    out = tmp_path_factory.mktemp("v2-straight")
    run(v2_settings(out, sample_every=4), progress=False)
    return out


def snapshot(solver):
    return {name: [p.detach().clone() for p in net.parameters()] for name, net in solver.nets.items()}


def changed(before, after):
    return {name for name in before if any(not torch.equal(a, b) for a, b in zip(before[name], after[name],
                                                                                    strict=True))}


def test_an_iteration_steps_d_twice_then_g_f_e_then_g_alone(tmp_path, v2_settings):
    solver = Solver(v2_settings(tmp_path))
    order = []
    for name, optim in solver.optims.items():
        optim.register_step_post_hook(lambda *_, name=name: order.append(name))
    ema_before = [p.clone() for p in solver.ema["mapping_network"].parameters()]
    log = solver.iteration(0)
    assert order == ["discriminator", "discriminator", "generator", "mapping_network", "style_encoder", "generator"]
    assert {"D/latent_reg", "D/ref_reg", "G/latent_ds", "G/ref_cyc", "G/lambda_ds"} <= log.keys()
    # the EMA followed F by a thousandth of the step
    trained = list(solver.nets["mapping_network"].parameters())
    for kept, old, new in zip(solver.ema["mapping_network"].parameters(), ema_before, trained, strict=True):
        assert torch.allclose(kept, torch.lerp(new, old, 0.999))


def test_the_reference_g_step_leaves_f_e_and_d_unchanged(tmp_path, v2_settings):
    solver = Solver(v2_settings(tmp_path))
    b = solver.batches[0]
    before = snapshot(solver)
    solver.g_step(b.x_real, b.y_org, b.y_trg, None, (b.x_ref, b.x_ref2), 1.0, REFERENCE_STEP)
    assert changed(before, snapshot(solver)) == {"generator"}
    before = snapshot(solver)
    solver.d_step(b.x_real, b.y_org, b.y_trg, lambda: solver.nets["style_encoder"](b.x_ref, b.y_trg), "ref")
    assert changed(before, snapshot(solver)) == {"discriminator"}


def test_the_diversity_term_pushes_two_styles_outputs_apart(tmp_path, v2_settings):
    """-lambda_ds |G(x, s1) - G(x, s2)| dominating G's loss: its steps raise the distance, and the
    same steps with the sign flipped lower it (so the sign, not Adam's drift, moves it)."""
    distances = {}
    for weight in (1000.0, -1000.0):
        solver = Solver(v2_settings(tmp_path / str(weight), lambda_sty=0.0, lambda_cyc=0.0, g_lr=1e-3, f_lr=1e-3))
        b = solver.batches[0]

        def distance(solver=solver, b=b):
            with torch.no_grad():
                G, F = solver.nets["generator"], solver.nets["mapping_network"]
                return losses.l1(G(b.x_real, F(b.z_trg, b.y_trg)), G(b.x_real, F(b.z_trg2, b.y_trg))).item()

        distances[weight] = [distance()]
        for _ in range(3):
            solver.g_step(b.x_real, b.y_org, b.y_trg, (b.z_trg, b.z_trg2), None, weight,
                          ("generator", "mapping_network"))
            distances[weight].append(distance())
    up, down = distances[1000.0], distances[-1000.0]
    assert up[0] == down[0]  # the same start
    assert all(later > earlier for earlier, later in zip(up, up[1:], strict=False)), up
    assert all(later < earlier for earlier, later in zip(down, down[1:], strict=False)), down


def test_four_steps_straight_equal_two_then_resume_to_the_bit(straight, tmp_path, v2_settings, same_files, run_log):
    run(v2_settings(tmp_path), progress=False, stop_at=2)
    run(v2_settings(tmp_path), resume=True, progress=False)
    same_files(straight, tmp_path, ["model.safetensors", "checkpoints/step-00000004.safetensors"])
    log, straight_log = run_log(tmp_path), run_log(straight)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert log == [dict(r, time=log[i]["time"]) for i, r in enumerate(straight_log)]


def test_resume_refuses_other_settings(straight, v2_settings):
    with pytest.raises(StarbatchError, match="lambda_ds=1.0, not 2.0"):
        run(v2_settings(straight, lambda_ds=2.0), resume=True, progress=False)


def test_the_model_is_the_ema_networks_a_v2_model_with_synthetic_framing(straight):
    model = load_model(straight / "model.safetensors")
    config = model.config
    assert config.architecture == "stargan-v2" and config.framing == "synthetic" and config.step == 4
    assert config.domains == ("female", "male") and (config.dim_in, config.max_conv_dim) == (4, 8)
    _, checkpoint = read_file(straight / "checkpoints" / "step-00000004.safetensors")
    _, shipped = read_file(straight / "model.safetensors")
    assert not any(key.startswith("discriminator.") for key in shipped)
    for key, value in shipped.items():
        assert torch.equal(value, checkpoint[key]), key  # the EMA, not the trained networks
    assert any(not torch.equal(checkpoint["generator." + k], checkpoint["generator_train." + k])
               for k in model.networks["generator"].generator.state_dict())
    assert {p.name for p in (straight / "samples").iterdir()} == {"00000004-latent.png", "00000004-reference.png"}
    latent = Image.open(straight / "samples" / "00000004-latent.png")
    assert latent.size == (16 * (1 + 2 * 3), 16 * 2)  # input + 2 domains x psi 0.5, 0.7, 1.0; 2 rows


def test_edit_runs_the_trained_model_with_a_domain_and_a_seed(straight, tmp_path, domain_faces):
    photo = next((domain_faces / "val" / "female").iterdir())
    result = CliRunner().invoke(app, ["edit", str(photo), "-m", str(straight / "model.safetensors"), "--domain",
                                      "male", "--seed", "1", "-o", str(tmp_path / "out"), "--faces", "center"])
    assert result.exit_code == 0, result.output
    outputs = [p for p in (tmp_path / "out").rglob("*.jpg")]
    assert len(outputs) == 1 and Image.open(outputs[0]).size == Image.open(photo).size


def test_a_resume_may_lower_the_ema_decay_and_the_average_follows_it(tmp_path, v2_settings):
    run(v2_settings(tmp_path, iters=2), progress=False)
    run(v2_settings(tmp_path, iters=3, ema_beta=0.5), resume=True, progress=False)
    _, before = read_file(tmp_path / "checkpoints" / "step-00000002.safetensors")
    _, after = read_file(tmp_path / "checkpoints" / "step-00000003.safetensors")
    moved = 0
    for key in (k for k in after if k.startswith("generator.")):
        trained = after["generator_train." + key.removeprefix("generator.")]
        expected = before[key] + (1 - 0.5) * (trained - before[key])  # ema <- trained + beta (ema - trained)
        torch.testing.assert_close(after[key], expected, rtol=0, atol=1e-6)
        moved += not torch.equal(after[key], before[key])
    assert moved > 0


def test_init_starts_g_f_and_e_and_their_averages_from_a_model_file(straight, tmp_path, v2_settings):
    """Fine-tuning: the trained networks and their EMA begin as the file's networks; D begins anew."""
    model = straight / "model.safetensors"
    solver = Solver(v2_settings(tmp_path, init_from=str(model)))
    _, shipped = read_file(model)
    for name in ("generator", "mapping_network", "style_encoder"):
        for net in (solver.nets[name], solver.ema[name]):
            for key, value in net.state_dict().items():
                assert torch.equal(value, shipped[f"{name}.{key}"]), (name, key)
    fresh = Solver(v2_settings(tmp_path / "fresh"))
    assert all(torch.equal(a, b) for a, b in zip(solver.nets["discriminator"].parameters(),
                                                 fresh.nets["discriminator"].parameters(), strict=True))
    assert not torch.equal(next(fresh.nets["generator"].parameters()), next(solver.nets["generator"].parameters()))
    run(v2_settings(tmp_path / "run", init_from=str(model), iters=1), progress=False)
    assert load_model(tmp_path / "run" / "model.safetensors").config.notes["initialised_from"] == model.name


def test_init_refuses_a_model_of_other_shapes_or_domains_in_one_line(straight, tmp_path, v2_settings,
                                                                   domain_faces):
    model = straight / "model.safetensors"
    with pytest.raises(StarbatchError, match=r"model.safetensors: its networks need --dim-in 4 \(not 8\)"):
        Solver(v2_settings(tmp_path, init_from=str(model), dim_in=8))
    renamed = tmp_path / "renamed"
    for split in ("train", "val"):
        for old, new in (("female", "cat"), ("male", "dog")):
            (renamed / split).mkdir(parents=True, exist_ok=True)
            (renamed / split / new).symlink_to(domain_faces / split / old)
    with pytest.raises(StarbatchError, match=r"trained on domains \['female', 'male'\], but .* holds \['cat', 'dog'\]"):
        Solver(v2_settings(tmp_path, init_from=str(model), data_dir=str(renamed)))
    with pytest.raises(StarbatchError, match="no such model file"):
        Solver(v2_settings(tmp_path, init_from=str(tmp_path / "missing.safetensors")))


def test_d_warmup_trains_d_alone_first_then_every_network(straight, tmp_path, v2_settings):
    """--d-warmup 2 with --init: iterations 0 and 1 step D twice each and leave G, F, E and their EMA
    as the file has them; iteration 2 is the usual four steps."""
    solver = Solver(v2_settings(tmp_path, init_from=str(straight / "model.safetensors"), d_warmup=2))
    order = []
    for name, optim in solver.optims.items():
        optim.register_step_post_hook(lambda *_, name=name: order.append(name))
    before = snapshot(solver)
    ema_before = {name: [p.clone() for p in net.parameters()] for name, net in solver.ema.items()}
    logs = [solver.iteration(i) for i in range(2)]
    assert order == ["discriminator"] * 4
    assert changed(before, snapshot(solver)) == {"discriminator"}
    assert all(torch.equal(a, b) for name, net in solver.ema.items()
               for a, b in zip(net.parameters(), ema_before[name], strict=True))
    assert all("G/latent_adv" not in log and "D/ref_real" in log for log in logs)
    solver.iteration(2)
    assert order[4:] == ["discriminator", "discriminator", "generator", "mapping_network", "style_encoder",
                         "generator"]


def test_d_warmup_resumes_to_the_bit_across_its_end(straight, tmp_path, v2_settings, same_files):
    model = str(straight / "model.safetensors")
    run(v2_settings(tmp_path / "straight", init_from=model, d_warmup=2), progress=False)
    run(v2_settings(tmp_path / "resumed", init_from=model, d_warmup=2), progress=False, stop_at=2)
    run(v2_settings(tmp_path / "resumed", init_from=model, d_warmup=2), resume=True, progress=False)
    same_files(tmp_path / "straight", tmp_path / "resumed",
               ["model.safetensors", "checkpoints/step-00000004.safetensors"])
    with pytest.raises(StarbatchError, match="trained with d_warmup=2, not 3"):
        run(v2_settings(tmp_path / "resumed", init_from=model, d_warmup=3), resume=True, progress=False)


@pytest.mark.parametrize("changes", [dict(d_warmup=5), dict(d_warmup=-1, init_from="m.safetensors")])
def test_d_warmup_needs_init_and_a_count(tmp_path, v2_settings, changes):
    with pytest.raises(StarbatchError, match=r"--d-warmup -?\d: give a number of iterations \(0 or more\) with "
                                             "--family v2 --init MODEL"):
        v2_settings(tmp_path, **changes).validate()
