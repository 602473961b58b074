"""StarGAN v2 under DDP (2 CPU processes, gloo) with the hooks Ray Train's workers use
(train/distributed.py): sharded batches, one model, both ranks' RNG in the checkpoint. Ray's own
plumbing is family-blind and runs end to end in test_distributed.py (v1, resumed on these ranks)."""

import torch

from starbatch.models.registry import load_model
from starbatch.train.settings import TrainSettings
from starbatch.train.state import latest_checkpoint, load_checkpoint
from tests.train.ddp_ranks import train_on_two_ranks


def test_two_ddp_ranks_train_v2_and_save_each_ranks_rng(tmp_path, domain_faces, tiny_v2):
    settings = TrainSettings(**dict(tiny_v2, out=str(tmp_path / "v2"), data_dir=str(domain_faces), iters=2,
                                    sample_every=2, checkpoint_every=2, seed=2))
    train_on_two_ranks(settings)
    saved = load_checkpoint(latest_checkpoint(tmp_path / "v2"))
    assert saved.step == 2 and {"rng.worker0", "rng.worker1"} <= set(saved.rng)
    assert not torch.equal(saved.rng["rng.worker0"], saved.rng["rng.worker1"])  # each rank's own shard
    assert load_model(tmp_path / "v2" / "model.safetensors").config.domains == ("female", "male")
    assert list((tmp_path / "v2" / "samples").glob("*.png"))


def test_every_path_a_worker_reads_is_made_absolute(tmp_path, monkeypatch):
    """A Ray worker does not run in the driver's folder: each file or folder option must reach it whole."""
    from starbatch.train.distributed import resolve_paths

    monkeypatch.chdir(tmp_path)
    paths = {name: f"rel/{name}" for name in ("out", "celeba_dir", "rafd_dir", "data_dir", "fan_from", "wing",
                                              "init_from")}
    settings = TrainSettings(**paths)
    resolve_paths(settings)
    assert {name: getattr(settings, name) for name in paths} == {name: str(tmp_path / p) for name, p in paths.items()}
