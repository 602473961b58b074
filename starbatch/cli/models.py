"""`starbatch convert` and `starbatch info`: model files in and out."""

import os
from pathlib import Path
from typing import Annotated

import typer

from starbatch.cli.common import resolve_model


def convert(
    generator: Annotated[Path, typer.Argument(help="Official generator checkpoint (e.g. 200000-G.ckpt).",
                                              show_default=False)],
    dataset: Annotated[str, typer.Option(help="What it was trained on: celeba, rafd or both.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.safetensors).")],
    discriminator: Annotated[Path | None, typer.Option(
        help="Official D checkpoint: lets edit estimate the photos' current labels.")] = None,
    attrs: Annotated[str | None, typer.Option(
        help="CelebA attributes it was trained with, in order (default the paper's 5).")] = None,
    image_size: Annotated[int | None, typer.Option(help="Training image size (read from D if given).")] = None,
) -> None:
    """Import official StarGAN checkpoints into one starbatch model file.

    Example: starbatch convert 200000-G.ckpt --discriminator 200000-D.ckpt --dataset celeba -o celeba.safetensors
    """  # fmt: skip
    from starbatch.models.model_file import save_model
    from starbatch.models.registry import family

    attributes = [a.strip() for a in attrs.split(",") if a.strip()] if attrs else None
    # The official StarGAN v1 checkpoints (yunjey/stargan): these options are v1's.
    config, networks = family("stargan-v1").import_official(generator=generator, dataset=dataset,
                                                           attributes=attributes, discriminator=discriminator,
                                                           image_size=image_size)  # fmt: skip
    save_model(output, config, networks)
    typer.echo(f"wrote {output}: {dataset}, {config.labels.dim} label values, {config.image_size} px"
               + (", with classifier" if networks.get("discriminator") else ""))


def info(model: Annotated[Path | None, typer.Argument(help="Model file; default as for edit.",
                                                      show_default=False)] = None) -> None:
    """Print a model file's configuration and label vocabulary.

    Example: starbatch info celeba.safetensors
    """
    from starbatch.models.model_file import network_names, read_header
    from starbatch.models.registry import config_from_metadata, family

    path = resolve_model(model or (Path(os.environ["STARBATCH_MODEL"])
                                   if os.environ.get("STARBATCH_MODEL") else None))
    metadata, names = read_header(path)  # one read of the header; no weights needed
    config = config_from_metadata(path, metadata)
    typer.echo(f"model        {path}")
    typer.echo(f"architecture {config.architecture} (format v{config.version})")
    typer.echo(f"image size   {config.image_size}")
    for field, value in family(config.architecture).describe(config, network_names(names)):
        typer.echo(f"{field:<12} {value}" if field else f"  {value}")
