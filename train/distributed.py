"""The same training loop on N Ray Train workers: TorchTrainer, DDP (gloo on CPU, nccl on GPU).

Each worker draws its own shard of every batch (BatchStream's rank/world_size); DDP averages the
gradients. Rank 0 writes the log, samples, checkpoints and the final model into --out, so on a
cluster --out must be storage every node sees. Resume is ours, from --out's checkpoints: every
rank's RNG state is gathered into the checkpoint, so a resumed run with the same worker count
continues exactly.
"""

import json
import time
from dataclasses import asdict
from pathlib import Path

from starbatch.train.settings import TrainSettings

PATHS = ("celeba_dir", "rafd_dir", "data_dir", "fan_from", "wing", "init_from")  # the settings' input files, folders


def worker_loop(config: dict) -> None:
    """Runs in every Ray Train worker, with the process group already set up by TorchTrainer."""
    import ray.train
    import ray.train.torch

    from starbatch.train.loop import run

    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    wrap, gather = ddp_hooks(world_size, device)
    summary = run(TrainSettings(**config["settings"]), resume=config["resume"], rank=rank,
                  world_size=world_size, device=str(device), wrap=wrap, gather=gather,
                  progress=rank == 0)
    ray.train.report({k: v for k, v in summary.items() if isinstance(v, int | float | str)})


def ddp_hooks(world_size: int, device):
    """What the solvers take for data-parallel training in an initialised process group: `wrap`
    (a network in DDP) and `gather` (every rank's RNG state, for the checkpoint)."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        # InstanceNorm's unused running-stat buffers need no broadcast.
        ids = [device] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def gather(rng_state: torch.Tensor) -> list[torch.Tensor]:
        states: list = [None] * world_size
        dist.all_gather_object(states, rng_state)
        return states

    return wrap, gather


def resolve_paths(settings: TrainSettings) -> None:
    """--out and every input path made absolute: relative paths mean something here, not in a worker."""
    settings.out = str(Path(settings.out).resolve())
    for name in PATHS:
        if getattr(settings, name):
            setattr(settings, name, str(Path(getattr(settings, name)).resolve()))


def train_with_ray(settings: TrainSettings, resume: bool, workers: int, gpus_per_worker: float = 0,
                   address: str | None = None) -> dict:
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    resolve_paths(settings)
    out = Path(settings.out)
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True)
    resources = {"CPU": 1}
    if gpus_per_worker:
        resources["GPU"] = gpus_per_worker
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={"settings": asdict(settings), "resume": resume},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpus_per_worker > 0,
                                     resources_per_worker=resources),
        # A fresh Ray run each launch: resuming is done from our own checkpoints in --out.
        run_config=RunConfig(name=f"train-{time.strftime('%Y%m%d-%H%M%S')}",
                             storage_path=str(out / "ray")),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    return json.loads((out / "summary.json").read_text())  # rank 0's summary
