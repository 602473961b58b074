import json

import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.models.registry import load_model
from starbatch.train.loop import run
from starbatch.train.settings import TrainSettings


@pytest.fixture(scope="session")
def run_settings(faces_tree, tiny):
    """run_settings(out, **changes): a six-step joint run on the rendered faces, checkpoints every 3."""

    def make(out, **changes):
        values = dict(dataset="both", out=str(out), celeba_dir=str(faces_tree / "celeba"),
                      rafd_dir=str(faces_tree / "rafd"), iters=6, decay_iters=4, sample_every=0,
                      checkpoint_every=3, seed=1, **tiny)
        values.update(changes)
        return TrainSettings(**values)

    return make


@pytest.fixture(scope="module")
def straight(tmp_path_factory, run_settings):
    out = tmp_path_factory.mktemp("straight")
    run(run_settings(out), progress=False)
    return out


def test_six_steps_straight_equal_three_then_resume(straight, tmp_path, run_settings, same_files, run_log):
    out = straight
    run(run_settings(tmp_path), progress=False, stop_at=3)
    run(run_settings(tmp_path), resume=True, progress=False)
    same_files(out, tmp_path, ["model.safetensors"])
    log = run_log(tmp_path)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    straight_log = run_log(out)
    assert log == [dict(r, time=log[i]["time"]) for i, r in enumerate(straight_log)]


def test_final_model_loads_for_editing(straight):
    out = straight
    model = load_model(out / "model.safetensors")
    assert model.config.step == 6 and "discriminator" in model.networks
    assert model.config.g_conv_dim == 8 and model.config.labels.dim == 15
    x = torch.zeros(1, 3, 32, 32)
    assert model.generator(x, torch.zeros(1, 15)).shape == x.shape


def test_log_has_every_loss_of_both_datasets(straight):
    out = straight
    record = json.loads((out / "log.jsonl").read_text().splitlines()[4])
    for name in ("celeba", "rafd"):
        for loss in ("D/loss_real", "D/loss_fake", "D/loss_cls", "D/loss_gp", "G/loss_fake",
                     "G/loss_rec", "G/loss_cls"):
            assert f"{name}/{loss}" in record


def test_resume_refuses_other_settings(straight, run_settings):
    out = straight
    with pytest.raises(StarbatchError, match="batch_size=4, not 2"):
        run(run_settings(out, batch_size=2), resume=True, progress=False)
    with pytest.raises(StarbatchError, match="pass --resume"):
        run(run_settings(out), progress=False)


def test_a_resume_may_add_the_identity_term_and_it_is_trained_and_logged(straight, tmp_path, run_settings):
    """Fine-tuning a finished model with |x - G(x, c_org)|: the run goes on from its checkpoint,
    logs the term, and the identity error it measures falls from where the plain run left it."""
    run(run_settings(tmp_path), progress=False, stop_at=3)
    run(run_settings(tmp_path, iters=12, lambda_id=50.0), resume=True, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 13))
    ids = [r["celeba/G/loss_id"] for r in log if "celeba/G/loss_id" in r]
    assert len(ids) >= 2 and all("celeba/G/loss_id" not in r for r in log[:3])
    assert ids[-1] < ids[0]
    assert load_model(tmp_path / "model.safetensors").config.step == 12
