import os

import pytest
import torch

from starbatch.models.registry import load_model
from starbatch.train.state import latest_checkpoint, load_checkpoint

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_two_ray_workers_train_shard_and_resume(tmp_path, monkeypatch, faces_tree, tiny):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    from starbatch.train.distributed import train_with_ray
    from starbatch.train.settings import TrainSettings

    faces = faces_tree
    settings = TrainSettings(dataset="both", out=str(tmp_path / "run"),
                             celeba_dir=str(faces / "celeba"), rafd_dir=str(faces / "rafd"),
                             iters=3, decay_iters=2, sample_every=2, checkpoint_every=2, seed=2,
                             n_critic=1, **tiny)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {
        "RAY_AUTH_MODE": "disabled", "TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET", "1")}})
    try:
        summary = train_with_ray(settings, resume=False, workers=2)
        assert summary["step"] == 3
        saved = load_checkpoint(latest_checkpoint(tmp_path / "run"))
        assert {"rng.worker0", "rng.worker1"} <= set(saved.rng)
        assert not torch.equal(saved.rng["rng.worker0"], saved.rng["rng.worker1"])
        settings.iters = 4
        assert train_with_ray(settings, resume=True, workers=2)["step"] == 4
    finally:
        ray.shutdown()
    assert load_model(tmp_path / "run" / "model.safetensors").config.step == 4
    assert list((tmp_path / "run" / "samples").glob("*.png"))
