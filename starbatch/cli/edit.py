"""`starbatch edit`: every photo under the inputs, edited and written under --out."""

from pathlib import Path
from typing import Annotated

import typer

from starbatch.cli.common import (
    MIN_FACE,
    BackendOption,
    DeviceOption,
    DomainOption,
    ExpressionOption,
    FacesOption,
    FramingOption,
    MinFaceOption,
    ModelOption,
    NoFaceOption,
    PrecisionOption,
    PsiOption,
    RefOption,
    SeedOption,
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
    domain: DomainOption = None,
    seed: SeedOption = None,
    psi: PsiOption = None,
    ref: RefOption = None,
    model: ModelOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; mirrors the input tree. With one photo, "
                                      "NAME.EXT writes that file in EXT's format.")] = Path("edited"),
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Images per model batch (default 8 on CPU, where small batches stay in cache; 32 on GPU).",
        show_default=False)] = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    backend: BackendOption = "auto",
    faces: FacesOption = "detect",  # typer hands it over as Faces.detect
    min_face: MinFaceOption = MIN_FACE,
    framing: FramingOption = None,
    no_face: NoFaceOption = "copy",
    crop_only: Annotated[bool, typer.Option(help="Write the model-size crop (PNG) instead of pasting back; with "
                                            "--faces detect, the largest face's aligned crop (none: nothing).")]
    = False,
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

    StarGAN v2: starbatch edit ./photos -m celeba_hq.safetensors --domain male --seed 1,2,3 -o ./edited
    """  # fmt: skip
    from starbatch.engines.run_record import record_path, refuse_other_settings, this_run, write_record
    from starbatch.files import check_writable
    from starbatch.inference.editor import EditorSpec
    from starbatch.models.family import EditOptions
    from starbatch.models.registry import architecture_taking

    # Every usage error is found before torch loads (seconds): the request against the model
    # file's header, the inputs, the output place and what made the outputs already there.
    options = EditOptions(to, expression, from_labels, domain, seed, psi, ref)
    model_path = resolve_model(model, architecture_taking(options))
    spec = EditorSpec.from_options(model_path, options, device, precision, faces.value, backend,
                                   framing.value if framing else None, min_face)  # fmt: skip
    from starbatch.media.jobs import output_is_file, plan_jobs  # Pillow and numpy: after the request's check

    plan = plan_jobs(inputs, out, overwrite, crop_only, spec.variants)
    one_file = output_is_file(out)
    check_writable(out.parent if one_file else out, out)
    record_file = record_path(out, one_file)
    record, earlier = this_run(record_file, spec.model_path, spec.request,
                               {"faces": faces.value, "crop_only": crop_only, "precision": precision,
                                "backend": backend, "framing": spec.framing, "no_face": no_face.value,
                                "min_face": min_face},
                               {"--to": to, "--expression": expression, "--from": from_labels, "--domain": domain,
                                "--seed": seed, "--psi": psi, "--ref": str(ref) if ref else None})  # fmt: skip
    if not one_file or out.exists():  # a record beside a file that is not there tells nothing
        refuse_other_settings(out, earlier, record, overwrite, one_file)
    if workers is not None or address:
        from starbatch.extras import RAY, require

        require(*RAY, "the Ray engine (--workers, --address)")
    say_notes(spec.notes)
    if plan.skipped and earlier is None and not overwrite:
        typer.echo(f"starbatch: {out}: no record of what made the existing outputs (an older starbatch?); "
                   "keeping them as edited with these settings (--overwrite redoes them)", err=True)
    if not one_file:
        write_record(record_file, record)  # first: an interrupted run resumes under it

    from starbatch.engines.photos import InProcess, edit_photos
    from starbatch.inference.runtime import default_batch_size, pick_device

    if batch_size is None:
        batch_size = default_batch_size(pick_device(device))
    if workers is not None or address:
        from starbatch.engines.ray_pool import RayEngine

        engine = RayEngine(spec, workers, address)
    else:
        engine = InProcess(spec.build())
    summary = edit_photos(inputs, out, engine, batch_size=batch_size, crop_only=crop_only, overwrite=overwrite,
                          max_pixels=max_pixels, faces=faces.value, plan=plan,
                          variants=spec.variants, no_face=no_face.value)  # fmt: skip
    if one_file and out.exists() and not summary["failed"]:
        write_record(record_file, record)
    write_report(report, summary)
    if summary["failed"]:
        raise typer.Exit(1)
