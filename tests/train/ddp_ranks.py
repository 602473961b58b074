"""Two CPU ranks (gloo) running the training loop with the hooks Ray Train's workers use
(train/distributed.py's ddp_hooks), without Ray's start-up (about 20 s a launch on the 2-core VMs)."""

import socket
from dataclasses import asdict

import torch
import torch.multiprocessing

from starbatch.train.settings import TrainSettings


def rank_main(rank: int, world_size: int, port: int, settings: dict, resume: bool) -> None:
    import torch.distributed as dist

    from starbatch.train.distributed import ddp_hooks
    from starbatch.train.loop import run

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        wrap, gather = ddp_hooks(world_size, torch.device("cpu"))
        run(TrainSettings(**settings), resume=resume, rank=rank, world_size=world_size, wrap=wrap, gather=gather,
            progress=False)
    finally:
        dist.destroy_process_group()


def train_on_two_ranks(settings: TrainSettings, resume: bool = False) -> None:
    with socket.socket() as probe:  # a free port for the process group's rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torch.multiprocessing.spawn(rank_main, args=(2, port, asdict(settings), resume), nprocs=2)
