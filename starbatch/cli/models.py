"""`starbatch convert` and `starbatch info`: model files in and out."""

import os
from pathlib import Path
from typing import Annotated

import typer

from starbatch.cli.common import resolve_model
from starbatch.errors import StarbatchError


def convert(
    checkpoint: Annotated[Path, typer.Argument(
        metavar="CHECKPOINT", help="Official checkpoint: StarGAN v1's generator (200000-G.ckpt) or StarGAN v2's "
        "networks (100000_nets_ema.ckpt), told apart by their contents.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.safetensors).")],
    dataset: Annotated[str | None, typer.Option(
        help="StarGAN v1: what it was trained on: celeba, rafd or both (required for v1).",
        show_default=False)] = None,
    discriminator: Annotated[Path | None, typer.Option(
        help="StarGAN v1: official D checkpoint: lets edit estimate the photos' current labels.")] = None,
    attrs: Annotated[str | None, typer.Option(
        help="StarGAN v1: CelebA attributes it was trained with, in order (default the paper's 5).")] = None,
    image_size: Annotated[int | None, typer.Option(
        help="StarGAN v1: training image size (read from D if given).")] = None,
    wing: Annotated[Path | None, typer.Option(
        help="StarGAN v2: the official wing.ckpt (FAN face masks), for w_hpf models whose checkpoint lacks them.",
        show_default=False)] = None,
    domains: Annotated[str | None, typer.Option(
        help="StarGAN v2: domain names in the model's order (the sorted training folders); default "
        "female,male (2 domains, w_hpf 1) or cat,dog,wild (3 domains, w_hpf 0).", show_default=False)] = None,
) -> None:
    """Import official StarGAN checkpoints (v1 or v2) into one starbatch model file.

    Example: starbatch convert 200000-G.ckpt --discriminator 200000-D.ckpt --dataset celeba -o celeba.safetensors

    StarGAN v2: starbatch convert 100000_nets_ema.ckpt --wing wing.ckpt -o celeba_hq.safetensors
    """  # fmt: skip
    from starbatch.models.model_file import save_model
    from starbatch.models.registry import family, official_architecture

    v1_options = {"--dataset": dataset, "--discriminator": discriminator, "--attrs": attrs,
                  "--image-size": image_size}
    v2_options = {"--wing": wing, "--domains": domains}
    architecture = official_architecture(checkpoint)
    if architecture is None:  # unreadable: the importer of the options given says why
        architecture = "stargan-v1" if any(v is not None for v in v1_options.values()) else "stargan-v2"
    theirs, ours = (v2_options, v1_options) if architecture == "stargan-v1" else (v1_options, v2_options)
    foreign = [name for name, value in theirs.items() if value is not None]
    if foreign:
        raise StarbatchError(f"{checkpoint}: a {architecture} checkpoint, which takes {', '.join(ours)}; "
                             f"not {', '.join(foreign)}")
    if architecture == "stargan-v2":
        config, networks = family(architecture).import_official(checkpoint, wing, domains)
        save_model(output, config, networks)
        typer.echo(f"wrote {output}: stargan-v2, domains {','.join(config.domains)}, {config.img_size} px, "
                   f"style_dim {config.style_dim}, w_hpf {config.w_hpf:g}"
                   + (", FAN inside" if networks.get("fan") is not None else ""))
        return
    if dataset is None:
        raise StarbatchError(f"{checkpoint}: a StarGAN v1 generator: give --dataset (celeba, rafd or both)")
    attributes = [a.strip() for a in attrs.split(",") if a.strip()] if attrs else None
    # The official StarGAN v1 checkpoints (yunjey/stargan): these options are v1's.
    config, networks = family("stargan-v1").import_official(generator=checkpoint, dataset=dataset,
                                                           attributes=attributes, discriminator=discriminator,
                                                           image_size=image_size)  # fmt: skip
    save_model(output, config, networks)
    typer.echo(f"wrote {output}: {dataset}, {config.labels.dim} label values, {config.image_size} px"
               + (", with classifier" if networks.get("discriminator") else ""))


def info(model: Annotated[Path | None, typer.Argument(help="Model file; default as for edit.",
                                                      show_default=False)] = None) -> None:
    """Print a model file's family and configuration: v1's label vocabulary, v2's domains and networks.

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
