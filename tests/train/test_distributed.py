"""Ray Train (DDP, 2 CPU workers), end to end: sharded batches, checkpoints with every rank's RNG, and
a resume in which each rank takes its own RNG back. The plumbing is family-blind; StarGAN v2 under
the same DDP hooks runs without Ray's start-up in test_ddp_v2.py."""

import os

import pytest
import torch

from starbatch.models.registry import load_model
from starbatch.train.state import latest_checkpoint, load_checkpoint
from tests.train.ddp_ranks import train_on_two_ranks

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # run first (tests/conftest.py)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for this module's runs (each test's TorchTrainer starts its own workers)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {
            "RAY_AUTH_MODE": "disabled", "TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET", "1")}})
        try:
            yield
        finally:
            ray.shutdown()


def workers_rng_differ(run_dir) -> bool:
    saved = load_checkpoint(latest_checkpoint(run_dir))
    assert {"rng.worker0", "rng.worker1"} <= set(saved.rng)
    return not torch.equal(saved.rng["rng.worker0"], saved.rng["rng.worker1"])


def test_two_ray_workers_train_and_the_run_resumes(ray_session, tmp_path, faces_tree, tiny):
    """A run launched on Ray (TorchTrainer) checkpoints every rank's RNG; resumed by two ranks with
    the same DDP hooks (without a second Ray launch: 40 s each here), each rank takes its own back."""
    from starbatch.train.distributed import train_with_ray
    from starbatch.train.settings import TrainSettings

    run_dir = tmp_path / "v1"
    settings = TrainSettings(dataset="both", out=str(run_dir), celeba_dir=str(faces_tree / "celeba"),
                             rafd_dir=str(faces_tree / "rafd"), iters=3, decay_iters=2, sample_every=2,
                             checkpoint_every=2, seed=2, n_critic=1, **tiny)
    assert train_with_ray(settings, resume=False, workers=2)["step"] == 3
    assert workers_rng_differ(run_dir)
    settings.iters = 4
    train_on_two_ranks(settings, resume=True)
    assert load_checkpoint(latest_checkpoint(run_dir)).step == 4
    assert workers_rng_differ(run_dir)  # rank 1 took rng.worker1 back, not rank 0's loop state
    assert load_model(run_dir / "model.safetensors").config.step == 4
    assert list((run_dir / "samples").glob("*.png"))
