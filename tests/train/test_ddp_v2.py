"""StarGAN v2 under DDP (2 CPU processes, gloo) with the hooks Ray Train's workers use
(train/distributed.py): sharded batches, one model, both ranks' RNG in the checkpoint. Ray's own
plumbing is family-blind and runs end to end in test_distributed.py (v1, with a resume)."""

import socket
from dataclasses import asdict

import torch
import torch.multiprocessing

from starbatch.models.registry import load_model
from starbatch.train.settings import TrainSettings
from starbatch.train.state import latest_checkpoint, load_checkpoint


def rank_main(rank: int, world_size: int, port: int, settings: dict) -> None:
    import torch.distributed as dist

    from starbatch.train.distributed import ddp_hooks
    from starbatch.train.loop import run

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        wrap, gather = ddp_hooks(world_size, torch.device("cpu"))
        run(TrainSettings(**settings), rank=rank, world_size=world_size, wrap=wrap, gather=gather, progress=False)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_ddp_ranks_train_v2_and_save_each_ranks_rng(tmp_path, domain_faces, tiny_v2):
    settings = TrainSettings(**dict(tiny_v2, out=str(tmp_path / "v2"), data_dir=str(domain_faces), iters=2,
                                    sample_every=2, checkpoint_every=2, seed=2))
    torch.multiprocessing.spawn(rank_main, args=(2, free_port(), asdict(settings)), nprocs=2)
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
