"""The StarGAN v1 solver: the official train() and train_multi() iterations, resumable to the bit.

One iteration takes one batch per data set (CelebA then RaFD when training both, official
train_multi): a D update on each, and every n_critic iterations a G update on each.
Target labels are the batch's labels shuffled (official `label_org[randperm]`).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from starbatch.inference.runtime import autocast
from starbatch.models.model_file import save_model
from starbatch.models.stargan_v1.config import ModelConfig
from starbatch.models.stargan_v1.labels import BINARY, LabelSet, label_space_for
from starbatch.models.stargan_v1.networks import load_weights, use_instance_statistics
from starbatch.train import state
from starbatch.train.data import BatchStream, ImageSet, data_framing, fixed_batch, splits
from starbatch.train.settings import TrainSettings
from starbatch.train.solver_base import SolverBase
from starbatch.train.stargan_v1 import losses
from starbatch.train.stargan_v1.samples import sample_grid, save_grid

MODEL_NAME = "model.safetensors"


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
    return [Part(label_set, *splits(label_set, settings.celeba_dir, settings.rafd_dir)) for label_set in space.sets]


def model_config(settings: TrainSettings) -> ModelConfig:
    return ModelConfig(
        image_size=settings.image_size,
        labels=label_space_for(settings.dataset, settings.attributes),
        g_conv_dim=settings.g_conv_dim, g_repeat_num=settings.g_repeat_num,
        d_conv_dim=settings.d_conv_dim, d_repeat_num=settings.d_repeat_num,
        framing=data_framing(settings.dataset, settings.celeba_dir, settings.rafd_dir),
        notes={"trained_with": "starbatch train", "dataset": settings.dataset},
    )


class Solver(SolverBase):
    """Builds data, models and optimizers for one worker and runs iterations.

    `wrap` wraps G and D for distributed training (DDP); rank 0 alone writes files.
    """

    def __init__(self, settings: TrainSettings, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", wrap=None, gather=None):
        super().__init__(settings, rank, world_size, device, gather)
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
        return autocast(self.device, self.precision)

    @property
    def learning_rate(self) -> float:
        return self.g_opt.param_groups[0]["lr"]

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
        self.check_resumable(path, saved.settings)
        load_weights(self.G, saved.generator)
        load_weights(self.D, saved.discriminator)
        self.g_opt.load_state_dict(saved.optimizers["g"])
        self.d_opt.load_state_dict(saved.optimizers["d"])
        state.restore_run_rng(self, saved.rng)
        self.step = saved.step

    def save_checkpoint(self) -> None:
        state.save_run_checkpoint(self, {"generator": self.G.state_dict(), "discriminator": self.D.state_dict()},
                                  {"g": self.g_opt.state_dict(), "d": self.d_opt.state_dict()})

    def save_model(self) -> Path:
        path = self.out / MODEL_NAME
        self.config.step = self.step
        save_model(path, self.config, {"generator": self.G.state_dict(), "discriminator": self.D.state_dict()})
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

    def finish(self) -> None:
        """G as inference runs it: per-image statistics in every InstanceNorm."""
        use_instance_statistics(self.G)
