"""What every family's solver holds for its run, whatever it trains: the settings, its rank among
the workers, device and precision, the run folder, the step, and the loop's own RNG. train/loop.py
drives a solver by these; state.save_run_checkpoint and state.restore_run_rng read and write them."""

from dataclasses import asdict
from pathlib import Path

import torch

from starbatch.errors import StarbatchError
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

    def check_resumable(self, path: Path, saved_settings: dict) -> None:
        """Refuse a checkpoint trained with other result settings than this run's (those a resume may
        change aside). A setting the file lacks was added since: the run had its default."""
        ours = self.settings.result_view()
        defaults = asdict(TrainSettings(out="", architecture=self.settings.architecture))
        theirs = {k: saved_settings.get(k, defaults[k]) for k in ours}
        changed = [k for k in ours if ours[k] != theirs[k] and k not in TrainSettings.CHANGEABLE_ON_RESUME]
        if changed:
            k = changed[0]
            raise StarbatchError(f"{path}: trained with {k}={theirs[k]!r}, not {ours[k]!r}; "
                                 "resume with the same settings or start a new --out")
