"""The `starbatch` command line. Heavy modules (torch, ray) are imported inside the commands so
`starbatch --help` stays instant."""

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from starbatch import train_commands, video_command
from starbatch.cli_options import DeviceOption, ExpressionOption, FacesOption, ModelOption, PrecisionOption, ToOption
from starbatch.errors import StarbatchError

app = typer.Typer(
    name="starbatch",
    help="Edit facial attributes in whole photo folders and videos with StarGAN.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
BUNDLED_MODEL = Path(__file__).parent / "models" / "demo.safetensors"


def one_line_errors(command):
    """Print a user's mistake as one line (exit 2) instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StarbatchError as error:
            typer.echo(f"starbatch: error: {error}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("starbatch: interrupted; run the same command again to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def resolve_model(model: Path | None) -> Path:
    """--model, else $STARBATCH_MODEL (typer reads it), else the bundled demo model."""
    if model is not None:
        return model
    if BUNDLED_MODEL.is_file():
        # Said every time: the demo model knows only the project's synthetic faces.
        typer.echo("starbatch: no --model given: using the bundled demo model, trained on synthetic faces "
                   "only (docs/MODEL_CARD.md); give --model for real photos", err=True)
        return BUNDLED_MODEL
    raise StarbatchError(
        "no model: give --model FILE or set STARBATCH_MODEL (import official weights with "
        "`starbatch convert`, or train one with `starbatch train`)"
    )




@app.command()
@one_line_errors
def edit(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).",
                                                 show_default=False)],
    to: ToOption = None,
    expression: ExpressionOption = None,
    source: Annotated[str | None, typer.Option(
        "--from", help="The photos' current labels (Blond_Hair,Young); others count as 0. "
        "Default: estimated by the model's classifier.")] = None,
    model: ModelOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; mirrors the input tree.")] = Path("edited"),
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Images per model batch (default 8 on CPU, where small batches stay in cache; 32 on GPU).",
        show_default=False)] = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    faces: FacesOption = "detect",  # typer hands it over as Faces.detect
    crop_only: Annotated[bool, typer.Option(help="Write the model-size crop (PNG) instead of pasting back; with "
                                            "--faces detect, the largest face's crop.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Redo outputs that already exist.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write a JSON report of every file.")] = None,
    max_pixels: Annotated[int, typer.Option(help="Refuse larger images (decompression bomb guard).")] = 89_478_485,
    workers: Annotated[int | None, typer.Option(min=1, help="Shard the photos over N Ray workers (one GPU each "
                                                "where CUDA is).", show_default=False)] = None,
    address: Annotated[str | None, typer.Option(envvar="RAY_ADDRESS", show_envvar=True, show_default=False,
                                                help="Join this Ray cluster (implies the Ray engine).")] = None,
) -> None:
    """Edit every photo under INPUTS and write the results, same size and format, under --out.

    Example: starbatch edit ./photos --to Black_Hair,Young -o ./edited
    """  # fmt: skip
    from starbatch.checkpoint import load_model
    from starbatch.cli_options import say_respelled
    from starbatch.edit_run import edit_photos
    from starbatch.editing import Editor, pick_device
    from starbatch.labels import plan_passes, source_from_text

    torch_device = pick_device(device)
    if precision == "auto":
        precision = "bf16" if torch_device.type == "cuda" else "fp32"
    if batch_size is None:  # measured: benchmarks/results/edit_cpu.md
        batch_size = 32 if torch_device.type == "cuda" else 8
    loaded = load_model(resolve_model(model), torch_device)
    space = loaded.config.labels
    passes = plan_passes(space, to, expression)
    source_labels = source_from_text(space, source) if source else None
    say_respelled(space, to, expression, source)
    editor = Editor(loaded, passes, source_labels, str(torch_device), precision)
    engine = {}
    if workers is not None or address:
        from starbatch.editing import EditorSpec
        from starbatch.ray_engine import RayEngine

        spec = EditorSpec(loaded.path, tuple(passes), source_labels, device, precision)
        engine["run"] = RayEngine(spec, workers, address).run_edit
    summary = edit_photos(inputs, out, editor, batch_size=batch_size, crop_only=crop_only,
                          overwrite=overwrite, max_pixels=max_pixels, faces=faces.value, **engine)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(summary, indent=2) + "\n")
    if summary["failed"]:
        raise typer.Exit(1)


@app.command()
@one_line_errors
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
    from starbatch.checkpoint import import_official, save_model

    attributes = [a.strip() for a in attrs.split(",") if a.strip()] if attrs else None
    config, g_state, d_state = import_official(generator, dataset, attributes, discriminator, image_size)
    save_model(output, config, g_state, d_state)
    typer.echo(f"wrote {output}: {dataset}, {config.labels.dim} label values, {config.image_size} px"
               + (", with classifier" if d_state else ""))


@app.command()
@one_line_errors
def info(model: Annotated[Path | None, typer.Argument(help="Model file; default as for edit.",
                                                      show_default=False)] = None) -> None:
    """Print a model file's configuration and label vocabulary.

    Example: starbatch info celeba.safetensors
    """
    from starbatch.checkpoint import config_from_metadata, read_header

    path = resolve_model(model or (Path(os.environ["STARBATCH_MODEL"])
                                   if os.environ.get("STARBATCH_MODEL") else None))
    metadata, names = read_header(path)  # one read of the header; no weights needed
    config = config_from_metadata(path, metadata)
    has_d = any(k.startswith("discriminator.") for k in names)
    typer.echo(f"model        {path}")
    typer.echo(f"architecture {config.architecture} (format v{config.version})")
    typer.echo(f"image size   {config.image_size}")
    typer.echo(f"generator    conv_dim {config.g_conv_dim}, {config.g_repeat_num} residual blocks")
    typer.echo(f"classifier   {'yes (estimates source labels)' if has_d else 'no (edit needs --from)'}")
    typer.echo(f"step         {config.step}")
    typer.echo(f"labels       {config.labels.dim} values" + (", with mask vector" if config.labels.mask else ""))
    for label_set in config.labels.sets:
        kind = "pick one" if label_set.kind == "onehot" else "yes/no each"
        typer.echo(f"  {label_set.name} ({kind}): {', '.join(label_set.labels)}")


app.command("video")(one_line_errors(video_command.video))
app.command("make-faces")(one_line_errors(train_commands.make_faces))
app.command("train")(one_line_errors(train_commands.train))
app.command("eval")(one_line_errors(train_commands.evaluate))


def main() -> None:
    app(prog_name="starbatch")


if __name__ == "__main__":
    sys.exit(main())
