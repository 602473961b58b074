"""What every family's solver holds for its run, whatever it trains: the settings, its rank among
the workers, device and precision, the run folder, the step, and the loop's own RNG. train/loop.py
drives a solver by these; state.save_run_checkpoint and state.restore_run_rng read and write them."""

from pathlib import Path

import torch

from starbatch.inference.runtime import TRAIN_PRECISIONS, resolve_precision
from starbatch.train.settings import TrainSettings


class SolverBase:
    """`gather` collects every rank's loop RNG state on rank 0 for a distributed checkpoint (None
    without Ray); the loop generator's seed differs per rank, so ranks draw different targets."""

    def __init__(self, settings: TrainSettings, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", gather=None):
        settings.validate()
        self.settings, self.rank, self.world_size = settings, rank, world_size
        self.device = torch.device(device)
        self.precision = resolve_precision(settings.precision, self.device, TRAIN_PRECISIONS)
        self.out = Path(settings.out)
        self.generator = torch.Generator().manual_seed(settings.seed * 7919 + rank)  # kept in checkpoints
        self.step = 0
        self.gather = gather
