"""`starbatch edit`: every photo under the inputs, edited and written under --out."""

from pathlib import Path
from typing import Annotated

import typer

from starbatch.cli.common import (
    BackendOption,
    DeviceOption,
    ExpressionOption,
    FacesOption,
    ModelOption,
    PrecisionOption,
    ToOption,
    resolve_model,
    say_notes,
    write_report,
)


def edit(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).",
                                                 show_default=False)],
    to: ToOption = None,
    expression: ExpressionOption = None,
    from_labels: Annotated[str | None, typer.Option(
        "--from", help="The photos' current labels (Blond_Hair,Young); others count as 0. "
        "Default: estimated by the model's classifier.")] = None,
    model: ModelOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; mirrors the input tree.")] = Path("edited"),
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Images per model batch (default 8 on CPU, where small batches stay in cache; 32 on GPU).",
        show_default=False)] = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    backend: BackendOption = "auto",
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
    from starbatch.engines.photos import InProcess, edit_photos
    from starbatch.inference.editor import EditorSpec
    from starbatch.inference.runtime import default_batch_size, pick_device
    from starbatch.models.family import EditOptions

    if batch_size is None:
        batch_size = default_batch_size(pick_device(device))
    # The request is checked against the file's header; each engine loads the weights where it runs.
    spec = EditorSpec.from_options(resolve_model(model), EditOptions(to, expression, from_labels),
                                   device, precision, backend)
    say_notes(spec.notes)
    if workers is not None or address:
        from starbatch.engines.ray_pool import RayEngine

        engine = RayEngine(spec, workers, address)
    else:
        engine = InProcess(spec.build())
    summary = edit_photos(inputs, out, engine, batch_size=batch_size, crop_only=crop_only,
                          overwrite=overwrite, max_pixels=max_pixels, faces=faces.value)
    write_report(report, summary)
    if summary["failed"]:
        raise typer.Exit(1)
