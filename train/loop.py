"""The training loop, the same for every family: resume or start, iterate, log, write samples and
checkpoints, and the model file at the end. What one iteration does is the family's solver's
(train/stargan_v1/solver.py).
"""

import json
import math
import time
from pathlib import Path

from starbatch.errors import StarbatchError
from starbatch.files import write_atomically
from starbatch.train import state
from starbatch.train.settings import TrainSettings
from starbatch.train.stargan_v1.solver import Solver as StarGANv1Solver
from starbatch.train.stargan_v2.solver import Solver as StarGANv2Solver

LOG_NAME = "log.jsonl"
SOLVERS = {"stargan-v1": StarGANv1Solver, "stargan-v2": StarGANv2Solver}  # settings.architecture -> its solver
PROGRESS_KEYS = ("loss_real", "loss_fake", "loss_rec", "loss_cls")  # losses the bar shows, unless the solver says


def run(settings: TrainSettings, resume: bool = False, rank: int = 0, world_size: int = 1,
        device: str = "cpu", wrap=None, gather=None, progress: bool = True,
        stop_at: int | None = None) -> dict:
    """Train from scratch or from the newest checkpoint in settings.out; returns a summary.

    `stop_at` ends the run early after a checkpoint at that step, as an interruption would.
    """
    out = Path(settings.out)
    trainer = SOLVERS[settings.architecture](settings, rank, world_size, device, wrap, gather)
    latest = state.latest_checkpoint(out)
    if resume and latest is None:
        raise StarbatchError(f"{out}: no checkpoint to resume (looked in {out / state.CHECKPOINT_DIR})")
    if not resume and latest is not None:
        raise StarbatchError(f"{out}: holds checkpoints of an earlier run; pass --resume to "
                             "continue it or choose another --out")
    if latest is not None:
        trainer.resume(latest)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        _trim_log(out / LOG_NAME, trainer.step)
    log = open(out / LOG_NAME, "a") if rank == 0 else None  # noqa: SIM115 (closed below)
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=settings.iters, initial=trainer.step, unit="it", dynamic_ncols=True)
    started, first = time.time(), trainer.step
    try:
        while trainer.step < settings.iters:
            values = trainer.iteration(trainer.step)
            trainer.step += 1
            if log:
                record = {"step": trainer.step, "lr": trainer.learning_rate,
                          "time": round(time.time() - started, 3), **values}
                log.write(json.dumps(record) + "\n")
                log.flush()
            if bar:
                bar.update(1)
                keys = getattr(trainer, "progress_keys", PROGRESS_KEYS)
                shown = {k.split("/")[-1]: f"{v:.3g}" for k, v in values.items() if k.endswith(keys)}
                bar.set_postfix(shown, refresh=False)
            if rank == 0 and settings.sample_every and trainer.step % settings.sample_every == 0:
                trainer.save_samples()
            at_end = trainer.step in (settings.iters, stop_at)
            if settings.checkpoint_every and (trainer.step % settings.checkpoint_every == 0 or at_end):
                trainer.save_checkpoint()
            if trainer.step == stop_at:
                break
    finally:
        if bar:
            bar.close()
        if log:
            log.close()
    elapsed = time.time() - started
    steps = trainer.step - first
    summary = {"step": trainer.step, "steps_run": steps, "seconds": round(elapsed, 2),
               "it_per_s": round(steps / elapsed, 4) if elapsed > 0 and steps else math.nan}
    if rank == 0:
        summary["model"] = str(trainer.save_model())
        if settings.sample_every:
            summary["samples"] = str(trainer.save_samples())
        write_atomically(out / "summary.json", json.dumps(summary, indent=2).encode())
    trainer.finish()
    return summary


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines past `step`: an interrupted run may have logged beyond its last checkpoint."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    write_atomically(path, ("\n".join(kept) + "\n" if kept else "").encode())
