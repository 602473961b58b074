"""`starbatch video`: edit every frame of a clip, keeping its timing, size, rotation, audio and subtitles.

Nothing heavy is imported at module level (torch, ray, av load inside the command), so
`starbatch --help` stays instant.
"""

import os
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
from starbatch.errors import NoFaceFound, StarbatchError


def video(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Video file (mp4, mov, mkv, webm...).",
                                               show_default=False)],
    to: ToOption = None,
    expression: ExpressionOption = None,
    from_labels: Annotated[str | None, typer.Option(
        "--from", help="The person's current labels (Blond_Hair,Young); others count as 0. "
        "Default: estimated once per clip by the model's classifier over 8 spread frames.")] = None,
    model: ModelOption = None,
    faces: FacesOption = "detect",  # typer hands it over as Faces.detect
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output file; its extension picks the container. Default: NAME_edited.EXT "
        "beside the input.", show_default=False)] = None,
    codec: Annotated[str, typer.Option(help="Video encoder: libx264 (h264), libx265 (hevc), libvpx-vp9, mpeg4.")]
    = "libx264",
    crf: Annotated[int, typer.Option(min=0, max=63, help="Quality for x264/x265/vp9: lower is better.")] = 18,
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

    The source labels are fixed once per clip (from 8 spread frames). The face is followed: searched
    every half second, its crop held still through small changes (no flicker) and moved smoothly
    when the face moves.

    Example: starbatch video talk.mp4 --expression happy -o talk_happy.mp4
    """  # fmt: skip
    import av

    from starbatch.inference.editor import EditorSpec
    from starbatch.media.video import EncodeSettings
    from starbatch.models.family import EditOptions

    output = out or input_path.with_name(f"{input_path.stem}_edited{input_path.suffix or '.mp4'}")
    if output.suffix == "":
        raise StarbatchError(f"{output}: give the output an extension (.mp4, .mov, .mkv) to pick its container")
    if input_path.exists() and output.exists() and output.resolve() == input_path.resolve():
        raise StarbatchError(f"{output}: output would overwrite the input; choose another -o")
    if output.exists() and not overwrite:
        raise StarbatchError(f"{output}: already exists (use --overwrite to replace it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = EncodeSettings(codec=codec, crf=crf, preset=preset)
    spec = EditorSpec.from_options(resolve_model(model), EditOptions(to, expression, from_labels),
                                   device, precision, backend)
    say_notes(spec.notes)
    try:
        if workers is not None or address or os.environ.get("RAY_ADDRESS"):
            from starbatch.engines.ray_pool import edit_video_ray

            summary = edit_video_ray(input_path, output, spec, settings, workers=workers, address=address,
                                     batch_size=batch_size, faces=faces.value)  # fmt: skip
        else:
            from starbatch.engines.video import edit_video

            summary = edit_video(input_path, output, spec.build(), settings, batch_size=batch_size,
                                 faces=faces.value)  # fmt: skip
    except NoFaceFound as error:  # bad input, not a usage error: exit 1, as edit does for a failed file
        typer.echo(f"starbatch: error: {error}", err=True)
        raise typer.Exit(1) from None
    except av.FFmpegError as error:  # media/video.py names the frame where it can; never a traceback
        raise StarbatchError(f"{input_path}: {error}") from None
    write_report(report, summary)
