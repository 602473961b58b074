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


def option(help: str, cli_type: Any = None, to_setting=None, cli_default: Any = MISSING, **typer_options) -> dict:
    """Field metadata that makes a settings field a `starbatch train` option: its help, and when the
    option's type differs from the field's, the option's type, default and conversion."""
    return {"help": help, "cli_type": cli_type, "to_setting": to_setting, "cli_default": cli_default,
            "typer": typer_options}


def _text(path: Path | None) -> str | None:
    return str(path) if path else None


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


FOLDER = dict(cli_type=Path | None, to_setting=_text, file_okay=False, show_default=False)


@dataclass
class TrainSettings:
    """Everything that decides the run's result; stored in checkpoints, checked on resume."""

    out: str = field(metadata=option("Run folder: checkpoints, samples, log, model.safetensors.",
                                     cli_type=Path, to_setting=str, file_okay=False))
    architecture: str = "stargan-v1"  # the family trained (train/loop.py's SOLVERS)
    dataset: str = field(default="celeba", metadata=option("celeba, rafd or both (mask vector)."))
    celeba_dir: str | None = field(default=None, metadata=option("CelebA folder (images/, list_attr_celeba.txt).",
                                                                 **FOLDER))
    rafd_dir: str | None = field(default=None, metadata=option("RaFD folder (train/, test/).", **FOLDER))
    attributes: list[str] = field(default_factory=lambda: list(CELEBA_DEFAULT), metadata=option(
        "CelebA attributes, comma-separated.", cli_type=str, to_setting=_names, cli_default=",".join(CELEBA_DEFAULT)))
    image_size: int = field(default=128, metadata=option("Training resolution."))
    batch_size: int = field(default=16, metadata=option("Images per batch, per worker."))
    iters: int = field(default=200000, metadata=option("Iterations (one D update per data set each)."))
    decay_iters: int = field(default=100000, metadata=option("lr decays linearly to 0 over the last N."))
    g_conv_dim: int = field(default=64, metadata=option("G channels after its first conv."))
    d_conv_dim: int = field(default=64, metadata=option("D channels after its first conv."))
    g_repeat_num: int = field(default=6, metadata=option("G residual blocks."))
    d_repeat_num: int = field(default=6, metadata=option("D strided convs (image size must be a multiple of 2**N)."))
    g_lr: float = field(default=1e-4, metadata=option("G learning rate."))
    d_lr: float = field(default=1e-4, metadata=option("D learning rate."))
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = field(default=5, metadata=option("D updates per G update."))
    lambda_gp: float = LAMBDA_GP
    lambda_cls: float = LAMBDA_CLS
    lambda_rec: float = LAMBDA_REC
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
        check_precision(self.precision, TRAIN_PRECISIONS)
        if self.iters < 1 or self.batch_size < 1:
            raise StarbatchError("--iters and --batch-size must be positive")

    def result_view(self) -> dict:
        data = asdict(self)
        return {k: data[k] for k in self.RESULT_FIELDS}


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
        flag = "--" + f.name.replace("_", "-")
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
