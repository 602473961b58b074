"""The settings of a training run, declared once: the dataclass the loop reads and checkpoints
store, and the `starbatch train` options, derived from its fields (a field with `help` is an option).

No torch here: the CLI builds `starbatch train --help` from this module.
"""

import inspect
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from starbatch.errors import StarbatchError
from starbatch.inference.runtime import TRAIN_PRECISIONS, check_precision
from starbatch.models.stargan_v1.labels import CELEBA_DEFAULT

LAMBDA_GP, LAMBDA_CLS, LAMBDA_REC = 10.0, 1.0, 10.0  # the paper's loss weights (section 4)


def option(help: str, cli_type: Any = None, to_setting=None, cli_default: Any = MISSING, flag: str | None = None,
           **typer_options) -> dict:
    """Field metadata that makes a settings field a `starbatch train` option: its help, and when the
    option's type differs from the field's, the option's type, default and conversion; `flag` when
    the option is not named after the field."""
    return {"help": help, "cli_type": cli_type, "to_setting": to_setting, "cli_default": cli_default,
            "flag": flag, "typer": typer_options}


def _text(path: Path | None) -> str | None:
    return str(path) if path else None


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


FOLDER = dict(cli_type=Path | None, to_setting=_text, file_okay=False, show_default=False)
FILE = dict(cli_type=Path | None, to_setting=_text, dir_okay=False, show_default=False)
FAMILIES = {"v1": "stargan-v1", "v2": "stargan-v2"}  # --family -> the architecture trained


def _architecture(family: str) -> str:
    name = family.strip().lower()
    if name in FAMILIES.values():
        return name
    if name not in FAMILIES:
        raise StarbatchError(f"--family {family!r}: choose v1 (StarGAN) or v2 (StarGAN v2)")
    return FAMILIES[name]


# The official values where the families differ (None in a field: its family's). StarGAN: Adam
# (0.5, 0.999), lr decay over the last 100k of 200k iterations; StarGAN v2 (clovaai core/solver.py,
# main.py): Adam (0, 0.99), weight decay 1e-4, no lr decay.
FAMILY_DEFAULTS = {
    "stargan-v1": {"beta1": 0.5, "beta2": 0.999, "weight_decay": 0.0, "decay_iters": 100000},
    "stargan-v2": {"beta1": 0.0, "beta2": 0.99, "weight_decay": 1e-4, "decay_iters": 0},
}
V2_LAMBDA_REG, V2_LAMBDA_STY, V2_LAMBDA_DS, V2_LAMBDA_CYC = 1.0, 1.0, 1.0, 1.0  # official CelebA-HQ run


@dataclass
class TrainSettings:
    """Everything that decides the run's result; stored in checkpoints, checked on resume."""

    out: str = field(metadata=option("Run folder: checkpoints, samples, log, model.safetensors.",
                                     cli_type=Path, to_setting=str, file_okay=False))
    architecture: str = field(default="stargan-v1", metadata=option(  # train/loop.py's SOLVERS
        "v1 (StarGAN: --dataset, --celeba-dir, --rafd-dir) or v2 (StarGAN v2: --data).", cli_type=str,
        to_setting=_architecture, cli_default="v1", flag="--family"))
    dataset: str = field(default="celeba", metadata=option("v1: celeba, rafd or both (mask vector)."))
    celeba_dir: str | None = field(default=None, metadata=option("CelebA folder (images/, list_attr_celeba.txt).",
                                                                 **FOLDER))
    rafd_dir: str | None = field(default=None, metadata=option("RaFD folder (train/, test/).", **FOLDER))
    attributes: list[str] = field(default_factory=lambda: list(CELEBA_DEFAULT), metadata=option(
        "CelebA attributes, comma-separated.", cli_type=str, to_setting=_names, cli_default=",".join(CELEBA_DEFAULT)))
    data_dir: str | None = field(default=None, metadata=option(
        "v2: one folder per domain (domains: the sorted names), or DIR/train/<domain> (+ DIR/val/<domain>).",
        flag="--data", **FOLDER))
    image_size: int = field(default=128, metadata=option("Training resolution."))
    batch_size: int = field(default=16, metadata=option("Images per batch, per worker."))
    iters: int = field(default=200000, metadata=option("Iterations (one D update per data set each)."))
    decay_iters: int | None = field(default=None, metadata=option(
        "lr decays linearly to 0 over the last N (default v1: 100000, v2: 0, none).", show_default=False))
    g_conv_dim: int = field(default=64, metadata=option("G channels after its first conv."))
    d_conv_dim: int = field(default=64, metadata=option("D channels after its first conv."))
    g_repeat_num: int = field(default=6, metadata=option("G residual blocks."))
    d_repeat_num: int = field(default=6, metadata=option("D strided convs (image size must be a multiple of 2**N)."))
    # StarGAN v2's networks (official defaults but for the mapping width; shrink them for CPUs)
    dim_in: int = field(default=0, metadata=option("v2: channels of every network's first conv (0: 2**14 // size)."))
    max_conv_dim: int = field(default=512, metadata=option("v2: channel cap of the conv networks."))
    hidden_dim: int = field(default=512, metadata=option("v2: mapping network width."))
    style_dim: int = field(default=64, metadata=option("v2: style code size."))
    latent_dim: int = field(default=16, metadata=option("v2: latent code size."))
    w_hpf: float = field(default=0.0, metadata=option(
        "v2: weight of the FAN-masked high-pass (1: official CelebA-HQ; 0: none). Above 0, G keeps the face's "
        "detail under masks from a frozen FAN: give --fan-from or --wing."))
    fan_from: str | None = field(default=None, metadata=option(
        "v2 with --w-hpf: the FAN's weights from a StarGAN v2 model file holding fan.* (e.g. the converted "
        "official CelebA-HQ model). Give it again on --resume.", **FILE))
    wing: str | None = field(default=None, metadata=option(
        "v2 with --w-hpf: the FAN's weights from the official wing.ckpt instead.", **FILE))
    init_from: str | None = field(default=None, metadata=option(
        "v2: start G, F and E (and their moving averages) from a StarGAN v2 model file instead of random "
        "weights, to fine-tune it (e.g. the converted official model); D starts anew. The file's network "
        "options and domains must be the run's. A --resume continues from its checkpoint.", flag="--init", **FILE))
    d_warmup: int = field(default=0, metadata=option(
        "v2 with --init: the first N iterations train D alone (both D steps) against the file's G, F and E, "
        "which stay as they are; then the usual iterations. A fresh D sets a trained G back at first; on the "
        "demo model 500 warm-up iterations did not prevent that (docs/MODEL_CARD_V2.md)."))
    framing: str = field(default="synthetic", metadata=option(
        "v2: how the training faces were cropped (synthetic, celeba-hq, celeba, none), stored for edit."))
    g_lr: float = field(default=1e-4, metadata=option("G learning rate (v2: G and E)."))
    d_lr: float = field(default=1e-4, metadata=option("D learning rate."))
    f_lr: float = field(default=1e-6, metadata=option("v2: mapping network learning rate."))
    beta1: float | None = None
    beta2: float | None = None
    weight_decay: float | None = None
    n_critic: int = field(default=5, metadata=option("D updates per G update."))
    lambda_gp: float = LAMBDA_GP
    lambda_cls: float = LAMBDA_CLS
    lambda_rec: float = LAMBDA_REC
    lambda_reg: float = field(default=V2_LAMBDA_REG, metadata=option("v2: weight of R1 on real images."))
    lambda_sty: float = field(default=V2_LAMBDA_STY, metadata=option("v2: weight of style reconstruction."))
    lambda_ds: float = field(default=V2_LAMBDA_DS, metadata=option("v2: initial weight of diversity sensitivity "
                                                                   "(official AFHQ: 2)."))
    ds_iter: int = field(default=100000, metadata=option("v2: lambda_ds decays linearly to 0 over N iterations."))
    lambda_cyc: float = field(default=V2_LAMBDA_CYC, metadata=option("v2: weight of cycle consistency."))
    ema_beta: float = field(default=0.999, metadata=option(
        "v2: decay of the moving average of G, F and E that the model file ships (official 0.999: it takes "
        "thousands of steps to forget the initial weights; a short run may lower it on --resume)."))
    # not in the paper: |x - G(x, c_org)|, keeps colours a cycle could swap
    lambda_id: float = field(default=0.0, metadata=option(
        "Weight of an identity term |x - G(x, c_org)| (not in the paper; 0: off). May be added on --resume."))
    seed: int = field(default=0, metadata=option("Seed of weights, batches and targets."))
    precision: str = field(default="fp32", metadata=option("fp32, bf16 (GPU only), or auto (bf16 on GPU)."))
    # Not part of the result: how often things are written.
    sample_every: int = field(default=1000, metadata=option("Write a sample grid every N steps (0: never)."))
    checkpoint_every: int = field(default=10000, metadata=option("Write a checkpoint every N steps."))
    samples: int = 8

    RESULT_FIELDS = ("architecture", "dataset", "attributes", "image_size", "batch_size", "iters", "decay_iters",
                     "g_conv_dim", "d_conv_dim", "g_repeat_num", "d_repeat_num", "g_lr", "d_lr",
                     "beta1", "beta2", "n_critic", "lambda_gp", "lambda_cls", "lambda_rec", "lambda_id",
                     "seed")
    V2_RESULT_FIELDS = ("architecture", "image_size", "batch_size", "iters", "decay_iters", "dim_in", "max_conv_dim",
                        "hidden_dim", "style_dim", "latent_dim", "w_hpf", "g_lr", "d_lr", "f_lr", "beta1", "beta2",
                        "weight_decay", "lambda_reg", "lambda_sty", "lambda_ds", "ds_iter", "lambda_cyc", "ema_beta",
                        "d_warmup", "seed")
    # what a resume may change: more steps, the identity term added to fine-tune a model, a faster average
    CHANGEABLE_ON_RESUME = ("iters", "lambda_id", "ema_beta")

    def __post_init__(self) -> None:
        for name, value in FAMILY_DEFAULTS.get(self.architecture, {}).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    @property
    def is_v2(self) -> bool:
        return self.architecture == FAMILIES["v2"]

    def validate(self) -> None:
        check_precision(self.precision, TRAIN_PRECISIONS)
        if self.iters < 1 or self.batch_size < 1:
            raise StarbatchError("--iters and --batch-size must be positive")
        if self.d_warmup < 0 or (self.d_warmup and not (self.is_v2 and self.init_from)):
            raise StarbatchError(f"--d-warmup {self.d_warmup}: give a number of iterations (0 or more) with --family "
                                 "v2 --init MODEL: it warms a fresh D up to a trained G")
        if self.is_v2:
            self._validate_v2()
            return
        if self.init_from:
            raise StarbatchError("--init: fine-tuning from a model file is for --family v2")
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

    def _validate_v2(self) -> None:
        from starbatch.models.stargan_v2.config import FRAMINGS
        from starbatch.models.stargan_v2.shapes import NetworkConfig

        if not self.data_dir:
            raise StarbatchError("--family v2 needs --data DIR (one folder per domain)")
        if self.w_hpf and not (self.fan_from or self.wing):
            raise StarbatchError(f"--w-hpf {self.w_hpf:g}: G's face masks need the FAN: give --fan-from "
                                 "MODEL.safetensors (a StarGAN v2 model with fan.*) or --wing wing.ckpt")
        if self.fan_from and self.wing:
            raise StarbatchError("--fan-from and --wing both name the FAN's weights: give one")
        if (self.fan_from or self.wing) and not self.w_hpf:
            raise StarbatchError(f"{'--fan-from' if self.fan_from else '--wing'}: the FAN is used with --w-hpf "
                                 "above 0 only (e.g. --w-hpf 1)")
        if self.framing not in FRAMINGS:
            raise StarbatchError(f"--framing {self.framing!r}: choose {', '.join(FRAMINGS)}")
        if self.batch_size < 2:
            raise StarbatchError("--batch-size: StarGAN v2 needs at least 2 images per batch")
        try:
            NetworkConfig(img_size=self.image_size, style_dim=self.style_dim, latent_dim=self.latent_dim,
                          dim_in=self.dim_in, max_conv_dim=self.max_conv_dim, hidden_dim=self.hidden_dim)
        except ValueError as error:
            raise StarbatchError(f"--family v2: {error}") from None

    def result_view(self) -> dict:
        data = asdict(self)
        return {k: data[k] for k in (self.V2_RESULT_FIELDS if self.is_v2 else self.RESULT_FIELDS)}


def option_parameters() -> list[inspect.Parameter]:
    """The `starbatch train` options, one per settings field with help, in field order."""
    parameters = []
    for f in fields(TrainSettings):
        if "help" not in f.metadata:
            continue
        meta = f.metadata
        if meta["cli_default"] is not MISSING:
            default = meta["cli_default"]
        elif f.default is not MISSING:
            default = f.default
        else:
            default = inspect.Parameter.empty  # a required option
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        option_type = meta["cli_type"] or f.type
        annotation = Annotated[option_type, typer.Option(flag, help=meta["help"], **meta["typer"])]
        parameters.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=annotation))
    return parameters


def settings_from_options(options: dict[str, Any]) -> TrainSettings:
    """The settings from the options' values (converted where the option's type is not the field's)."""
    values = {}
    for f in fields(TrainSettings):
        if f.name in options:
            convert = f.metadata.get("to_setting")
            values[f.name] = convert(options[f.name]) if convert else options[f.name]
    return TrainSettings(**values)
