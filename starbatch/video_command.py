"""`starbatch video`: edit every frame of a clip, keeping its timing, size, rotation, audio and subtitles.

Nothing heavy is imported at module level (torch, ray, av load inside the command), so
`starbatch --help` stays instant.
"""

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from starbatch.cli_options import DeviceOption, ExpressionOption, FacesOption, ModelOption, PrecisionOption, ToOption
from starbatch.errors import NoFaceFound, StarbatchError


def video(
    source: Annotated[Path, typer.Argument(help="Video file (mp4, mov, mkv, webm...).", show_default=False)],
    to: ToOption = None,
    expression: ExpressionOption = None,
    source_labels: Annotated[str | None, typer.Option(
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
    workers: Annotated[int | None, typer.Option(
        min=1, help="Edit keyframe-aligned segments in N Ray workers (one GPU each where CUDA is).",
        show_default=False)] = None,
    address: Annotated[str | None, typer.Option(
        envvar="RAY_ADDRESS", show_envvar=True, help="Join this Ray cluster (implies the Ray engine).",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the output if it exists.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write a JSON summary.", show_default=False)] = None,
) -> None:
    """Edit every frame of SOURCE and write a clip with the same frames, frame times and audio.

    Video is re-encoded (H.264 by default; --codec, --crf), audio and subtitles copied untouched.

    The source labels are fixed once per clip (from 8 spread frames). The face is followed: searched
    every half second, its crop held still through small changes (no flicker) and moved smoothly
    when the face moves.

    Example: starbatch video talk.mp4 --expression happy -o talk_happy.mp4
    """  # fmt: skip
    from starbatch.cli import resolve_model
    from starbatch.video import EncodeSettings

    output = out or source.with_name(f"{source.stem}_edited{source.suffix or '.mp4'}")
    if output.suffix == "":
        raise StarbatchError(f"{output}: give the output an extension (.mp4, .mov, .mkv) to pick its container")
    if source.exists() and output.exists() and output.resolve() == source.resolve():
        raise StarbatchError(f"{output}: output would overwrite the input; choose another -o")
    if output.exists() and not overwrite:
        raise StarbatchError(f"{output}: already exists (use --overwrite to replace it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = EncodeSettings(codec=codec, crf=crf, preset=preset)
    model_path = resolve_model(model)
    import av

    from starbatch.checkpoint import read_config
    from starbatch.cli_options import say_respelled
    from starbatch.editing import EditorSpec

    spec = EditorSpec.from_options(model_path, to, expression, source_labels, device, precision)
    say_respelled(read_config(model_path).labels, to, expression, source_labels)
    try:
        if workers is not None or address or os.environ.get("RAY_ADDRESS"):
            from starbatch.ray_engine import edit_video_ray

            summary = edit_video_ray(source, output, spec, settings, workers=workers, address=address,
                                     batch_size=batch_size, faces=faces.value)  # fmt: skip
        else:
            from starbatch.video_edit import edit_video

            summary = edit_video(source, output, spec.build(), settings, batch_size=batch_size, faces=faces.value)
    except NoFaceFound as error:  # bad input, not a usage error: exit 1, as edit does for a failed file
        typer.echo(f"starbatch: error: {error}", err=True)
        raise typer.Exit(1) from None
    except av.FFmpegError as error:  # video.py names the frame where it can; never a traceback
        raise StarbatchError(f"{source}: {error}") from None
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(summary, indent=2) + "\n")
