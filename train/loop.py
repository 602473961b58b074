"""The StarGAN solver: the official train() and train_multi() loops, resumable to the bit.

One iteration takes one batch per data set (CelebA then RaFD when training both, official
train_multi): a D update on each, and every n_critic iterations a G update on each.
Target labels are the batch's labels shuffled (official `label_org[randperm]`).
"""

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from starbatch.checkpoint import ModelConfig, save_model, write_atomically
from starbatch.errors import StarbatchError
from starbatch.labels import BINARY, CELEBA_DEFAULT, LabelSet, label_space_for
from starbatch.model import load_weights, use_instance_statistics
from starbatch.train import losses, state
from starbatch.train.data import BatchStream, ImageSet, celeba_splits, fixed_batch, rafd_split
from starbatch.train.samples import sample_grid, save_grid

LOG_NAME = "log.jsonl"
MODEL_NAME = "model.safetensors"
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class TrainSettings:
    """Everything that decides the run's result; stored in checkpoints, checked on resume."""

    dataset: str
    out: str
    celeba_dir: str | None = None
    rafd_dir: str | None = None
    attributes: list[str] = field(default_factory=lambda: list(CELEBA_DEFAULT))
    image_size: int = 128
    batch_size: int = 16
    iters: int = 200000
    decay_iters: int = 100000
    g_conv_dim: int = 64
    d_conv_dim: int = 64
    g_repeat_num: int = 6
    d_repeat_num: int = 6
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 5
    lambda_gp: float = losses.LAMBDA_GP
    lambda_cls: float = losses.LAMBDA_CLS
    lambda_rec: float = losses.LAMBDA_REC
    lambda_id: float = 0.0  # not in the paper: |x - G(x, c_org)|, keeps colours a cycle could swap
    seed: int = 0
    precision: str = "fp32"
    # Not part of the result: how often things are written.
    sample_every: int = 1000
    checkpoint_every: int = 10000
    samples: int = 8

    RESULT_FIELDS = ("dataset", "attributes", "image_size", "batch_size", "iters", "decay_iters",
                     "g_conv_dim", "d_conv_dim", "g_repeat_num", "d_repeat_num", "g_lr", "d_lr",
                     "beta1", "beta2", "n_critic", "lambda_gp", "lambda_cls", "lambda_rec", "lambda_id",
                     "seed")
    # what a resume may change: more steps, or the identity term added to fine-tune a model
    CHANGEABLE_ON_RESUME = ("iters", "lambda_id")

    def validate(self) -> None:
        if self.dataset not in ("celeba", "rafd", "both"):
            raise StarbatchError(f"--dataset {self.dataset!r}: choose celeba, rafd or both")
        if self.dataset in ("celeba", "both") and not self.celeba_dir:
            raise StarbatchError(f"--dataset {self.dataset} needs --celeba-dir")
        if self.dataset in ("rafd", "both") and not self.rafd_dir:
            raise StarbatchError(f"--dataset {self.dataset} needs --rafd-dir")
        if self.image_size % 2**self.d_repeat_num or self.image_size < 2**self.d_repeat_num:
            raise StarbatchError(f"--image-size {self.image_size} must be a multiple of "
                                 f"2**d_repeat_num = {2**self.d_repeat_num}")
        if self.image_size % 4:
            raise StarbatchError(f"--image-size {self.image_size}: G needs a multiple of 4")
        if self.precision not in PRECISIONS:
            raise StarbatchError(f"--precision {self.precision!r}: choose fp32 or bf16")
        if self.iters < 1 or self.batch_size < 1:
            raise StarbatchError("--iters and --batch-size must be positive")

    def result_view(self) -> dict:
        data = asdict(self)
        return {k: data[k] for k in self.RESULT_FIELDS}


def learning_rate(base: float, step: int, iters: int, decay_iters: int) -> float:
    """lr for 0-based iteration `step`: constant, then linear to 0 over the last decay_iters.

    The official code subtracts base/num_iters_decay only every lr_update_step (1000) iterations,
    so its lr ends at 9.99e-5 rather than 0; we decay every step, all the way, as the paper says.
    """
    remaining = iters - step
    if decay_iters <= 0 or remaining > decay_iters:
        return base
    return base * remaining / decay_iters


@dataclass
class Part:
    """One data set's share of the loop: its label set, its batches and where its labels sit."""

    label_set: LabelSet
    train: ImageSet
    test: ImageSet
    stream: BatchStream | None = None


def load_parts(settings: TrainSettings) -> list[Part]:
    space = label_space_for(settings.dataset, settings.attributes)
    parts = []
    for label_set in space.sets:
        if label_set.name == "celeba":
            train, test = celeba_splits(Path(settings.celeba_dir), settings.attributes)
        else:
            train, test = rafd_split(Path(settings.rafd_dir), "train"), rafd_split(
                Path(settings.rafd_dir), "test")
        parts.append(Part(label_set, train, test))
    return parts


def model_config(settings: TrainSettings) -> ModelConfig:
    return ModelConfig(
        image_size=settings.image_size,
        labels=label_space_for(settings.dataset, settings.attributes),
        g_conv_dim=settings.g_conv_dim, g_repeat_num=settings.g_repeat_num,
        d_conv_dim=settings.d_conv_dim, d_repeat_num=settings.d_repeat_num,
        notes={"trained_with": "starbatch train", "dataset": settings.dataset},
    )


class Trainer:
    """Builds data, models and optimizers for one worker and runs iterations.

    `wrap` wraps G and D for distributed training (DDP); rank 0 alone writes files.
    """

    def __init__(self, settings: TrainSettings, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", wrap=None, gather=None):
        settings.validate()
        self.settings, self.rank, self.world_size = settings, rank, world_size
        self.device = torch.device(device)
        if settings.precision != "fp32" and self.device.type != "cuda":
            raise StarbatchError(f"--precision {settings.precision} needs a GPU; CPU trains fp32")
        self.out = Path(settings.out)
        self.config = model_config(settings)
        self.space = self.config.labels
        self.parts = load_parts(settings)
        for part in self.parts:
            part.stream = BatchStream(part.train, settings.batch_size, settings.image_size,
                                      seed=settings.seed + 1000 * self.space.sets.index(part.label_set),
                                      rank=rank, world_size=world_size)
        torch.manual_seed(settings.seed)  # same initial weights on every worker
        self.G = self.config.new_generator().to(self.device)
        self.D = self.config.new_discriminator().to(self.device)
        self.g_opt = torch.optim.Adam(self.G.parameters(), settings.g_lr,
                                      (settings.beta1, settings.beta2))
        self.d_opt = torch.optim.Adam(self.D.parameters(), settings.d_lr,
                                      (settings.beta1, settings.beta2))
        self.generator = torch.Generator().manual_seed(settings.seed * 7919 + rank)
        self.step = 0
        self.gather = gather  # all ranks' loop RNG states to rank 0, for distributed checkpoints
        self.g_run, self.d_run = (wrap(self.G), wrap(self.D)) if wrap else (self.G, self.D)

    # --- one iteration --------------------------------------------------------------------

    def _labels(self, label_set: LabelSet, part: torch.Tensor) -> torch.Tensor:
        if label_set.kind != BINARY:
            part = torch.nn.functional.one_hot(part, len(label_set.labels)).float()
        full = self.space.full_vector(label_set, part.cpu().numpy())
        return torch.from_numpy(full).to(self.device)

    def _classes(self, logits: torch.Tensor, label_set: LabelSet) -> torch.Tensor:
        start = self.space.offset(label_set)
        return logits[:, start : start + len(label_set.labels)]  # known part only (mask vector)

    def iteration(self, i: int) -> dict[str, float]:
        s = self.settings
        for opt, base in ((self.g_opt, s.g_lr), (self.d_opt, s.d_lr)):
            for group in opt.param_groups:
                group["lr"] = learning_rate(base, i, s.iters, s.decay_iters)
        log: dict[str, float] = {}
        for part in self.parts:
            batch = part.stream[i]
            prefix = f"{part.label_set.name}/" if len(self.parts) > 1 else ""
            log.update({prefix + k: v for k, v in self._train_on(part.label_set, batch, i).items()})
        return log

    def _autocast(self):
        dtype = PRECISIONS[self.settings.precision]
        return torch.autocast(self.device.type, dtype, enabled=dtype != torch.float32)

    def _train_on(self, label_set: LabelSet, batch, i: int) -> dict[str, float]:
        s = self.settings
        kind = label_set.kind
        x_real = batch.images.to(self.device)
        label_org = batch.labels.to(self.device)
        order = torch.randperm(x_real.size(0), generator=self.generator).to(self.device)
        label_trg = label_org[order]
        c_org, c_trg = self._labels(label_set, label_org), self._labels(label_set, label_trg)
        alpha = torch.rand(x_real.size(0), 1, 1, 1, generator=self.generator).to(self.device)

        # D: real/fake, gradient penalty and classification of real images (official order).
        with self._autocast():
            out_src, out_cls = self.d_run(x_real)
            d_real = losses.adversarial_real(out_src.float())
            d_cls = losses.classification(self._classes(out_cls.float(), label_set), label_org, kind)
            x_fake = self.g_run(x_real, c_trg)
            out_src, _ = self.d_run(x_fake.detach())
            d_fake = losses.adversarial_fake(out_src.float())
            x_hat = losses.interpolate(x_real, x_fake.float(), alpha)
            out_src, _ = self.d_run(x_hat)
            d_gp = losses.gradient_penalty(out_src.float(), x_hat)
        d_loss = d_real + d_fake + s.lambda_cls * d_cls + s.lambda_gp * d_gp
        self.d_opt.zero_grad(set_to_none=True)
        self.g_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        log = {"D/loss_real": d_real.item(), "D/loss_fake": d_fake.item(),
               "D/loss_cls": d_cls.item(), "D/loss_gp": d_gp.item()}

        if (i + 1) % s.n_critic == 0:  # G: fool D, be classified as c_trg, reconstruct x
            with self._autocast():
                x_fake = self.g_run(x_real, c_trg)
                out_src, out_cls = self.d_run(x_fake)
                g_fake = -losses.adversarial_fake(out_src.float())
                g_cls = losses.classification(self._classes(out_cls.float(), label_set), label_trg,
                                              kind)
                x_rec = self.g_run(x_fake, c_org)
                g_rec = losses.reconstruction(x_real, x_rec.float())
                g_id = losses.reconstruction(x_real, self.g_run(x_real, c_org).float()) if s.lambda_id else None
            g_loss = g_fake + s.lambda_rec * g_rec + s.lambda_cls * g_cls
            if g_id is not None:
                g_loss = g_loss + s.lambda_id * g_id
            self.d_opt.zero_grad(set_to_none=True)
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
            log.update({"G/loss_fake": g_fake.item(), "G/loss_rec": g_rec.item(),
                        "G/loss_cls": g_cls.item()})
            if g_id is not None:
                log["G/loss_id"] = g_id.item()
        return log

    # --- files ----------------------------------------------------------------------------

    def resume(self, path: Path) -> None:
        saved = state.load_checkpoint(path)
        ours, defaults = self.settings.result_view(), asdict(TrainSettings("celeba", ""))
        theirs = {k: saved.settings.get(k, defaults[k]) for k in ours}  # older files lack newer fields
        changed = [k for k in ours if ours[k] != theirs[k] and k not in TrainSettings.CHANGEABLE_ON_RESUME]
        if changed:
            k = changed[0]
            raise StarbatchError(f"{path}: trained with {k}={theirs[k]!r}, not {ours[k]!r}; "
                                 "resume with the same settings or start a new --out")
        load_weights(self.G, saved.generator)
        load_weights(self.D, saved.discriminator)
        self.g_opt.load_state_dict(saved.optimizers["g"])
        self.d_opt.load_state_dict(saved.optimizers["d"])
        state.restore_rng(saved.rng, self.generator)
        worker_key = f"rng.worker{self.rank}"
        if worker_key in saved.rng and len([k for k in saved.rng if "worker" in k]) == self.world_size:
            self.generator.set_state(saved.rng[worker_key])
        self.step = saved.step

    def save_checkpoint(self) -> None:
        worker_rng = self.gather(self.generator.get_state()) if self.gather else None
        if self.rank != 0:
            return
        path = state.checkpoint_path(self.out, self.step)
        path.parent.mkdir(parents=True, exist_ok=True)
        state.save_checkpoint(
            path, self.config, self.G.state_dict(), self.D.state_dict(),
            {"g": self.g_opt.state_dict(), "d": self.d_opt.state_dict()}, self.step,
            asdict(self.settings), state.rng_states(self.generator), worker_rng,
        )
        state.prune_checkpoints(self.out)

    def save_model(self) -> Path:
        path = self.out / MODEL_NAME
        self.config.step = self.step
        save_model(path, self.config, self.G.state_dict(), self.D.state_dict())
        return path

    def save_samples(self) -> Path:
        inputs = []
        for part in self.parts:
            count = max(1, self.settings.samples // len(self.parts))
            fixed = fixed_batch(part.test if len(part.test) else part.train, count,
                                self.settings.image_size)
            source = fixed.labels.numpy().astype(np.float32)
            inputs.append((part.label_set, fixed.images, source))
        path = self.out / "samples" / f"{self.step:08d}-images.png"
        with self._autocast():
            save_grid(path, sample_grid(self.G, self.space, inputs))
        return path


def run(settings: TrainSettings, resume: bool = False, rank: int = 0, world_size: int = 1,
        device: str = "cpu", wrap=None, gather=None, progress: bool = True,
        stop_at: int | None = None) -> dict:
    """Train from scratch or from the newest checkpoint in settings.out; returns a summary.

    `stop_at` ends the run early after a checkpoint at that step, as an interruption would.
    """
    out = Path(settings.out)
    trainer = Trainer(settings, rank, world_size, device, wrap, gather)
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
                record = {"step": trainer.step, "lr": trainer.g_opt.param_groups[0]["lr"],
                          "time": round(time.time() - started, 3), **values}
                log.write(json.dumps(record) + "\n")
                log.flush()
            if bar:
                bar.update(1)
                shown = {k.split("/")[-1]: f"{v:.3g}" for k, v in values.items()
                         if k.endswith(("loss_real", "loss_fake", "loss_rec", "loss_cls"))}
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
    use_instance_statistics(trainer.G)
    return summary


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines past `step`: an interrupted run may have logged beyond its last checkpoint."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    write_atomically(path, ("\n".join(kept) + "\n" if kept else "").encode())
