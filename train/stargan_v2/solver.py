"""The StarGAN v2 solver: the official train() iteration (clovaai/stargan-v2 core/solver.py), resumable to the bit.

Each iteration, on one batch (data.py):
1. D step with a latent style s = F(z, y_trg), 2. D step with a reference style s = E(x_ref, y_trg),
3. G step with latent styles, which updates G, F and E, 4. G step with reference styles, which
updates G only (E gets gradients there but its optimizer does not step, as in the official code),
then the EMA (beta --ema-beta, official 0.999) of G, F and E, which the model file ships. A run
started from a model file (--init) may first run --d-warmup iterations of steps 1 and 2 only. lambda_ds
falls linearly to 0 over ds_iter. Adam (0, 0.99) with weight decay 1e-4 for all four; lr 1e-4, and 1e-6 for F.
With w_hpf > 0 a frozen FAN (frozen_fan.py) gives G its face masks: those of x_real in every step,
and those of x_fake for the cycle's G(x_fake, s_org). As in the official code they are constants:
its get_heatmap runs under no_grad, so no gradient flows through the FAN.

Where we differ from the official code, on purpose: the EMA networks start as copies of the
He-initialised ones (official build_model copies them before he_init, so its EMA starts from
PyTorch's default init and takes ~5k iterations to forget it); x_fake2 of the diversity term is
made under no_grad (the official code builds its graph and detaches it: the same values).
"""

import copy
from pathlib import Path

import torch
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.inference.runtime import autocast
from starbatch.models.model_file import prefixed, read_file, save_model
from starbatch.models.stargan_v2.config import ModelConfig
from starbatch.models.stargan_v2.fan import FAN
from starbatch.models.stargan_v2.networks import (
    new_discriminator,
    new_generator,
    new_mapping_network,
    new_style_encoder,
)
from starbatch.models.stargan_v2.sample import fan_masks
from starbatch.models.stargan_v2.shapes import NetworkConfig
from starbatch.train import state
from starbatch.train.settings import TrainSettings
from starbatch.train.solver_base import SolverBase
from starbatch.train.stargan_v1.solver import MODEL_NAME, learning_rate
from starbatch.train.stargan_v2 import losses
from starbatch.train.stargan_v2.data import DomainBatches, DomainImages, domain_splits, plain
from starbatch.train.stargan_v2.frozen_fan import frozen_fan
from starbatch.train.stargan_v2.samples import latent_grid, reference_grid, to_picture

AVERAGED = ("generator", "mapping_network", "style_encoder")  # the networks inference uses, as their EMA
NETWORKS = (*AVERAGED, "discriminator")
TRAINED_SUFFIX = "_train"  # checkpoint names of the trained (not averaged) G, F and E
LATENT_STEP, REFERENCE_STEP = AVERAGED, ("generator",)  # which optimizers each G step advances
# the train options that fix the networks' shapes (--init checks a model file against them)
SHAPE_OPTIONS = (("image-size", "img_size"), ("dim-in", "dim_in"), ("max-conv-dim", "max_conv_dim"),
                 ("hidden-dim", "hidden_dim"), ("style-dim", "style_dim"), ("latent-dim", "latent_dim"))


def model_config(settings: TrainSettings, domains: tuple[str, ...]) -> ModelConfig:
    networks = NetworkConfig(img_size=settings.image_size, num_domains=len(domains), style_dim=settings.style_dim,
                             latent_dim=settings.latent_dim, w_hpf=settings.w_hpf, dim_in=settings.dim_in,
                             max_conv_dim=settings.max_conv_dim, hidden_dim=settings.hidden_dim)
    return ModelConfig.from_networks(networks, domains, framing=settings.framing,
                                     notes={"trained_with": "starbatch train --family v2"})


class Solver(SolverBase):
    """Builds data, networks, their EMA and optimizers for one worker and runs iterations.

    `wrap` wraps the trained networks for distributed training (DDP); rank 0 alone writes files.
    """

    progress_keys = ("D/latent_real", "D/latent_fake", "G/latent_adv", "G/latent_cyc")

    def __init__(self, settings: TrainSettings, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", wrap=None, gather=None):
        super().__init__(settings, rank, world_size, device, gather)
        self.train_images, self.val_images = domain_splits(settings.data_dir)
        self.config = model_config(settings, self.train_images.domains)
        if len(self.train_images) < 2:
            raise StarbatchError(f"{settings.data_dir}: {len(self.train_images)} training image; need two or more")
        self.batches = DomainBatches(self.train_images, settings.batch_size, settings.image_size,
                                     settings.latent_dim, seed=settings.seed, rank=rank)
        torch.manual_seed(settings.seed)  # same initial weights on every worker
        shapes = self.config.networks
        builders = {"generator": new_generator, "mapping_network": new_mapping_network,
                    "style_encoder": new_style_encoder, "discriminator": new_discriminator}
        self.nets = {name: builders[name](shapes).to(self.device) for name in NETWORKS}
        for net in self.nets.values():
            net.apply(losses.he_init)
        if settings.init_from and state.latest_checkpoint(self.out) is None:  # a resume loads its checkpoint
            self._start_from(Path(settings.init_from))
        self.ema = {name: copy.deepcopy(self.nets[name]).requires_grad_(False) for name in AVERAGED}
        self.fan: FAN | None = frozen_fan(settings).to(self.device) if settings.w_hpf > 0 else None
        self.base_lr = {"generator": settings.g_lr, "mapping_network": settings.f_lr,
                        "style_encoder": settings.g_lr, "discriminator": settings.d_lr}
        self.optims = {name: torch.optim.Adam(self.nets[name].parameters(), self.base_lr[name],
                                              (settings.beta1, settings.beta2), weight_decay=settings.weight_decay)
                       for name in NETWORKS}
        self.run = {name: wrap(net) if wrap else net for name, net in self.nets.items()}

    # --- one iteration --------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        return self.optims["generator"].param_groups[0]["lr"]

    def _autocast(self):
        return autocast(self.device, self.precision)

    def _zero_grad(self) -> None:
        for optim in self.optims.values():
            optim.zero_grad(set_to_none=True)

    def iteration(self, i: int) -> dict[str, float]:
        s = self.settings
        for name, optim in self.optims.items():
            for group in optim.param_groups:
                group["lr"] = learning_rate(self.base_lr[name], i, s.iters, s.decay_iters)
        b = self.batches[i]
        x_real, y_org, y_trg = b.x_real.to(self.device), b.y_org.to(self.device), b.y_trg.to(self.device)
        x_ref, x_ref2 = b.x_ref.to(self.device), b.x_ref2.to(self.device)
        z_trg, z_trg2 = b.z_trg.to(self.device), b.z_trg2.to(self.device)
        lambda_ds = losses.diversity_weight(s.lambda_ds, i, s.ds_iter)
        masks = self.masks(x_real)  # once for the four steps, as the official train()

        log: dict[str, float] = {}
        log.update(self.d_step(x_real, y_org, y_trg, lambda: self.run["mapping_network"](z_trg, y_trg), "latent",
                               masks))
        log.update(self.d_step(x_real, y_org, y_trg, lambda: self.run["style_encoder"](x_ref, y_trg), "ref", masks))
        if i < s.d_warmup:  # D catches up with a G loaded by --init; G, F, E and their EMA wait
            return log
        log.update(self.g_step(x_real, y_org, y_trg, (z_trg, z_trg2), None, lambda_ds, LATENT_STEP, masks))
        log.update(self.g_step(x_real, y_org, y_trg, None, (x_ref, x_ref2), lambda_ds, REFERENCE_STEP, masks))
        for name in AVERAGED:
            losses.moving_average(self.nets[name], self.ema[name], s.ema_beta)
        log["G/lambda_ds"] = lambda_ds
        return log

    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The frozen FAN's face masks of x (w_hpf > 0), constants to G; None without masks."""
        return fan_masks(self.fan, x)

    def d_step(self, x_real, y_org, y_trg, target_style, kind: str, masks=None) -> dict[str, float]:
        """D on real images (with R1) and on G's translations in `target_style`; D's optimizer steps."""
        s = self.settings
        x_real = x_real.detach().requires_grad_(True)
        with self._autocast():
            out = self.run["discriminator"](x_real, y_org).float()
            loss_real = losses.adversarial(out, real=True)
            loss_reg = losses.r1_penalty(out, x_real)
            with torch.no_grad():
                x_fake = self.run["generator"](x_real.detach(), target_style(), masks=masks)
            loss_fake = losses.adversarial(self.run["discriminator"](x_fake, y_trg).float(), real=False)
        loss = loss_real + loss_fake + s.lambda_reg * loss_reg
        self._zero_grad()
        loss.backward()
        self.optims["discriminator"].step()
        return {f"D/{kind}_real": loss_real.item(), f"D/{kind}_fake": loss_fake.item(),
                f"D/{kind}_reg": loss_reg.item()}

    def g_step(self, x_real, y_org, y_trg, z_trgs, x_refs, lambda_ds: float, stepped: tuple[str, ...],
               masks=None) -> dict:
        """The G objective with latent (z_trgs) or reference (x_refs) styles; the `stepped` optimizers step.
        `masks` are x_real's (w_hpf > 0); the cycle's G(x_fake, s_org) takes x_fake's."""
        s, run = self.settings, self.run
        kind = "latent" if z_trgs is not None else "ref"

        def style(k: int) -> torch.Tensor:
            if z_trgs is not None:
                return run["mapping_network"](z_trgs[k], y_trg)
            return run["style_encoder"](x_refs[k], y_trg)

        with self._autocast():
            s_trg = style(0)
            x_fake = run["generator"](x_real, s_trg, masks=masks)
            loss_adv = losses.adversarial(run["discriminator"](x_fake, y_trg).float(), real=True)
            loss_sty = losses.l1(run["style_encoder"](x_fake, y_trg).float(), s_trg.float())
            with torch.no_grad():
                x_fake2 = run["generator"](x_real, style(1), masks=masks)
            loss_ds = losses.l1(x_fake.float(), x_fake2.float())
            x_rec = run["generator"](x_fake, run["style_encoder"](x_real, y_org), masks=self.masks(x_fake))
            loss_cyc = losses.l1(x_rec.float(), x_real)
        loss = loss_adv + s.lambda_sty * loss_sty - lambda_ds * loss_ds + s.lambda_cyc * loss_cyc
        self._zero_grad()
        loss.backward()
        for name in stepped:
            self.optims[name].step()
        return {f"G/{kind}_adv": loss_adv.item(), f"G/{kind}_sty": loss_sty.item(),
                f"G/{kind}_ds": loss_ds.item(), f"G/{kind}_cyc": loss_cyc.item()}

    # --- files ----------------------------------------------------------------------------

    def _networks_to_save(self) -> dict[str, dict[str, torch.Tensor]]:
        saved = {name: self.ema[name].state_dict() for name in AVERAGED}
        saved.update({name + TRAINED_SUFFIX: self.nets[name].state_dict() for name in AVERAGED})
        saved["discriminator"] = self.nets["discriminator"].state_dict()
        if self.fan is not None:
            saved["fan"] = self.fan.state_dict()
        return saved

    def resume(self, path: Path) -> None:
        saved = state.load_checkpoint(path)
        self.check_resumable(path, saved.settings)
        if tuple(saved.config.domains) != self.config.domains:
            raise StarbatchError(f"{path}: trained on domains {list(saved.config.domains)}, but "
                                 f"{self.settings.data_dir} holds {list(self.config.domains)}")
        try:
            for name in AVERAGED:
                self.ema[name].load_state_dict(saved.networks[name])
                self.nets[name].load_state_dict(saved.networks[name + TRAINED_SUFFIX])
            self.nets["discriminator"].load_state_dict(saved.networks["discriminator"])
            for name, optim in self.optims.items():
                optim.load_state_dict(saved.optimizers[name])
        except (KeyError, RuntimeError) as error:
            raise StarbatchError(f"{path}: not a complete StarGAN v2 checkpoint: {str(error)[:200]}") from None
        if self.fan is not None:
            self._check_fan(path, saved.networks.get("fan", {}))
        state.restore_run_rng(self, saved.rng)
        self.step = saved.step

    def _start_from(self, path: Path) -> None:
        """G, F and E from a StarGAN v2 model file (its EMA networks: what it ships), checked against
        the run's shapes and domains; D keeps its fresh weights (model files carry none)."""
        from starbatch.models.registry import config_from_metadata

        metadata, tensors = read_file(path)
        theirs = config_from_metadata(path, metadata)
        if theirs.architecture != self.config.architecture:
            raise StarbatchError(f"{path}: a {theirs.architecture} model; --init takes a StarGAN v2 model file")
        ours, shapes = self.config.networks, theirs.networks
        differing = [f"--{flag} {getattr(shapes, name)} (not {getattr(ours, name)})" for flag, name in SHAPE_OPTIONS
                     if getattr(shapes, name) != getattr(ours, name)]
        if differing:
            raise StarbatchError(f"{path}: its networks need " + ", ".join(differing) + "; train with those")
        if tuple(theirs.domains) != self.config.domains:
            raise StarbatchError(f"{path}: trained on domains {list(theirs.domains)}, but {self.settings.data_dir} "
                                 f"holds {list(self.config.domains)}: name the folders as the model's domains")
        try:
            for name in AVERAGED:
                self.nets[name].load_state_dict(prefixed(tensors, name + "."))
        except RuntimeError as error:
            raise StarbatchError(f"{path}: not a complete StarGAN v2 model: {str(error)[:200]}") from None
        self.config.notes["initialised_from"] = path.name

    def _check_fan(self, path: Path, trained_with: dict[str, torch.Tensor]) -> None:
        """The run's FAN must be the one it was trained with: its masks shaped every step."""
        ours = self.fan.state_dict()
        same = trained_with.keys() == ours.keys() and all(torch.equal(trained_with[k], ours[k].cpu()) for k in ours)
        if not same:
            source = "--wing " + self.settings.wing if self.settings.wing else "--fan-from " + self.settings.fan_from
            raise StarbatchError(f"{path}: trained with other FAN weights than {source}; resume with the FAN "
                                 "the run began with")

    def save_checkpoint(self) -> None:
        state.save_run_checkpoint(self, self._networks_to_save(),
                                  {name: optim.state_dict() for name, optim in self.optims.items()})

    def save_model(self) -> Path:
        """The EMA networks, as the official test code uses them: OUT/model.safetensors for `edit`."""
        path = self.out / MODEL_NAME
        self.config.step = self.step
        networks = {name: self.ema[name].state_dict() for name in AVERAGED}
        networks["fan"] = self.fan.state_dict() if self.fan is not None else None  # G's masks in `edit`
        save_model(path, self.config, networks)
        return path

    def _fixed_images(self, images: DomainImages, per_domain: int) -> tuple[torch.Tensor, list[int]]:
        chosen = [(int(i), d) for d in range(len(images.domains)) for i in images.of_domain(d)[:per_domain]]
        return torch.stack([plain(images.paths[i], self.settings.image_size) for i, _ in chosen]), \
            [d for _, d in chosen]

    def save_samples(self) -> Path:
        """samples/<step>-latent.png and -reference.png from the EMA networks; returns the first."""
        images = self.val_images or self.train_images
        per_domain = max(1, self.settings.samples // len(images.domains))
        inputs, _ = self._fixed_images(images, per_domain)
        references, ref_domains = self._fixed_images(images, 1 if per_domain < 2 else 2)
        inputs, references = inputs.to(self.device), references.to(self.device)
        masks = self.masks(inputs)  # the inputs' masks, for every column of both grids
        with self._autocast():
            latent = latent_grid(self.ema["generator"], self.ema["mapping_network"], inputs, len(images.domains),
                                 masks=masks)
            reference = reference_grid(self.ema["generator"], self.ema["style_encoder"], inputs, references,
                                       ref_domains, masks=masks)
        folder = self.out / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.step:08d}-latent.png"
        Image.fromarray(to_picture(latent)).save(path)
        Image.fromarray(to_picture(reference)).save(folder / f"{self.step:08d}-reference.png")
        return path

    def finish(self) -> None:
        """Nothing to change: the v2 networks have no running statistics."""


