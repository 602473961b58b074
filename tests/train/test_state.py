"""Run checkpoints' RNG: what each rank of a resumed run takes back (train/state.py), without Ray."""

from types import SimpleNamespace

import torch

from starbatch.train import state


def saved_rng(workers: int) -> dict:
    """A checkpoint's RNG entries: rank 0's loop generator and global states, and each rank's loop generator."""
    loop = torch.Generator().manual_seed(0)
    tensors, text = state.rng_states(loop)
    ranks = {f"rng.worker{rank}": torch.Generator().manual_seed(100 + rank).get_state() for rank in range(workers)}
    return {**tensors, **ranks, "rng.json": text}


def resumed(rank: int, world_size: int, rng: dict) -> torch.Tensor:
    solver = SimpleNamespace(generator=torch.Generator().manual_seed(7), rank=rank, world_size=world_size)
    state.restore_run_rng(solver, rng)
    return solver.generator.get_state()


def test_each_rank_of_a_resumed_run_takes_its_own_loop_rng_back():
    rng = saved_rng(workers=2)
    assert torch.equal(resumed(0, 2, rng), rng["rng.worker0"])
    assert torch.equal(resumed(1, 2, rng), rng["rng.worker1"])


def test_with_another_worker_count_every_rank_takes_the_loop_rng_of_rank_0():
    rng = saved_rng(workers=2)
    for rank in range(3):
        assert torch.equal(resumed(rank, 3, rng), rng["rng.loop"])
    single = saved_rng(workers=0)
    assert torch.equal(resumed(0, 1, single), single["rng.loop"])
