"""`starbatch video`: edit every frame of a clip, keeping its timing, size, rotation, audio and subtitles.

Nothing heavy is imported at module level (torch, ray, av load inside the command), so
`starbatch --help` stays instant.
"""

import os
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
from starbatch.errors import StarbatchError


def video(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Video file (mp4, mov, mkv, webm...).",
                                               show_default=False)],
    to: ToOption = None,
    expression: ExpressionOption = None,
    from_labels: Annotated[str | None, typer.Option(
        "--from", help="The person's current labels (Blond_Hair,Young); others count as 0. "
        "Default: estimated once per clip by the model's classifier over 8 spread frames.")] = None,
    domain: DomainOption = None,
    seed: SeedOption = None,
    psi: PsiOption = None,
    ref: RefOption = None,
    model: ModelOption = None,
    faces: FacesOption = "detect",  # typer hands it over as Faces.detect
    min_face: MinFaceOption = MIN_FACE,
    framing: FramingOption = None,
    no_face: NoFaceOption = "copy",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output file; its extension picks the container. Default: NAME_edited.EXT "
        "beside the input.", show_default=False)] = None,
    codec: Annotated[str | None, typer.Option(help="Video encoder: libx264 (h264), libx265 (hevc), libvpx-vp9, "
                                              "mpeg4. Default: libx264 (.webm: libvpx-vp9).", show_default=False)]
    = None,
    crf: Annotated[int, typer.Option(min=0, max=63,
                                     help="Quality for x264/x265/vp9: lower is better; 0: lossless.")] = 18,
    preset: Annotated[str | None, typer.Option(help="x264/x265 speed preset (ultrafast ... veryslow).",
                                               show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per model batch.")] = 8,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    backend: BackendOption = "auto",
    workers: Annotated[int | None, typer.Option(
        min=1, help="Edit keyframe-aligned segments in N Ray workers (one GPU each where CUDA is).",
        show_default=False)] = None,
    address: Annotated[str | None, typer.Option(
        envvar="RAY_ADDRESS", show_envvar=True, help="Join this Ray cluster (implies the Ray engine).",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the output if it exists.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write a JSON summary.", show_default=False)] = None,
) -> None:
    """Edit every frame of INPUT and write a clip with the same frames, frame times and audio.

    Video is re-encoded (H.264 by default; --codec, --crf), audio and subtitles copied untouched.

    The source labels are fixed once per clip (from 8 spread frames). Faces are followed: searched
    every half second, each crop held still through small changes (no flicker) and moved smoothly
    when its face moves; where a face leaves (a cut) its edit fades out, and frames without a face
    are written unchanged.

    Example: starbatch video talk.mp4 --expression happy -o talk_happy.mp4

    StarGAN v2 (one style for the whole clip): starbatch video talk.mp4 -m afhq.safetensors --domain cat --seed 7
    """  # fmt: skip
    import av

    from starbatch.engines.run_record import record_path, refuse_other_settings, this_run, write_record
    from starbatch.files import check_writable
    from starbatch.inference.editor import EditorSpec
    from starbatch.media.video import EncodeSettings, check_copies, check_output, default_codec
    from starbatch.models.family import EditOptions
    from starbatch.models.registry import architecture_taking

    # Usage and set-up errors (exit 2) are all found here, before torch loads and any frame is read.
    output = out or input_path.with_name(f"{input_path.stem}_edited{input_path.suffix or '.mp4'}")
    if output.suffix == "":
        raise StarbatchError(f"{output}: give the output an extension (.mp4, .mov, .mkv) to pick its container")
    if output.exists() and output.resolve() == input_path.resolve():
        raise StarbatchError(f"{output}: output would overwrite the input; choose another -o")
    settings = EncodeSettings(codec=codec or default_codec(output), crf=crf, preset=preset)
    check_output(output, settings)
    options = EditOptions(to, expression, from_labels, domain, seed, psi, ref)
    model_path = resolve_model(model, architecture_taking(options))
    spec = EditorSpec.from_options(model_path, options, device, precision, faces.value, backend,
                                   framing.value if framing else None, min_face)  # fmt: skip
    if len(spec.variants) > 1:  # a clip is edited with one style (one condition) throughout
        raise StarbatchError(f"video writes one clip: give one style, not {len(spec.variants)} (e.g. one --seed)")
    if not input_path.is_file():
        raise StarbatchError(f"{input_path}: " + ("a folder; video edits one clip (edit takes folders of photos)"
                                                  if input_path.is_dir() else "no such file"))  # fmt: skip
    check_copies(input_path, output)
    check_writable(output.parent, output)
    record_file = record_path(output, one_file=True)
    record, earlier = this_run(
        record_file, spec.model_path, spec.request,
        {"faces": faces.value, "precision": precision, "backend": backend, "codec": settings.resolved_codec(),
         "crf": crf, "preset": preset, "framing": spec.framing, "no_face": no_face.value, "min_face": min_face},
        {"--to": to, "--expression": expression, "--from": from_labels, "--domain": domain, "--seed": seed,
         "--psi": psi, "--ref": str(ref) if ref else None},
        inputs={"input": input_path})  # fmt: skip
    say_notes(spec.notes)
    if output.exists() and not overwrite:
        if earlier is None:
            raise StarbatchError(f"{output}: already exists (use --overwrite to replace it)")
        refuse_other_settings(output, earlier, record, overwrite, one_file=True)
        typer.echo(f"starbatch: {output}: already edited from this clip with these settings; nothing to do "
                   "(--overwrite redoes it)", err=True)  # fmt: skip
        write_report(report, {"input": str(input_path), "output": str(output), "skipped": True})
        return
    ray = workers is not None or address or os.environ.get("RAY_ADDRESS")
    if ray:
        from starbatch.extras import RAY, require

        require(*RAY, "the Ray engine (--workers, --address)")
    editor = None if ray else spec.build()  # a device or precision this machine lacks: exit 2, here

    # From here a failure is the clip's (unreadable, no face, a frame that will not decode or encode,
    # the output that cannot be written): one line naming it, exit 1.
    try:
        if ray:
            from starbatch.engines.ray_pool import edit_video_ray

            summary = edit_video_ray(input_path, output, spec, settings, workers=workers, address=address,
                                     batch_size=batch_size, faces=faces.value, no_face=no_face.value,
                                     resume=record["settings"])  # fmt: skip
        else:
            from starbatch.engines.video import edit_video

            summary = edit_video(input_path, output, editor, settings, batch_size=batch_size,
                                 faces=faces.value, no_face=no_face.value, resume=record["settings"])  # fmt: skip
    except StarbatchError as error:
        typer.echo(f"starbatch: error: {error}", err=True)
        raise typer.Exit(1) from None
    except OSError as error:  # e.g. the folder made read-only mid-run (av's PermissionError is one too)
        typer.echo(f"starbatch: error: {error.filename or output}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    except av.FFmpegError as error:  # media/video.py names the frame where it can; never a traceback
        typer.echo(f"starbatch: error: {input_path}: {error}", err=True)
        raise typer.Exit(1) from None
    if summary["output"] is not None:  # --no-face skip on a clip without a face writes nothing
        write_record(record_file, record)
    write_report(report, summary)
