"""Options shared by `edit` and `video`, declared once so their names and help stay the same."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from starbatch.face_detection import FACE_MODES

ToOption = Annotated[str | None, typer.Option(
    "--to", help="Labels to set, comma-separated: Black_Hair,Young. Clear one with Male=0.")]
ExpressionOption = Annotated[str | None, typer.Option(help="Expression to give (RaFD models): happy.")]
ModelOption = Annotated[Path | None, typer.Option(
    "--model", "-m", envvar="STARBATCH_MODEL", show_envvar=True, help="Model file (.safetensors).",
    show_default=False)]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
PrecisionOption = Annotated[str, typer.Option(help="auto (bf16 on GPU, fp32 on CPU), fp32, bf16, fp16.")]


Faces = Enum("Faces", {mode: mode for mode in FACE_MODES}, type=str)  # typer's choices: the detector's modes


FacesOption = Annotated[Faces, typer.Option(
    help="detect: edit every face found (OpenCV Haar cascade, frontal faces at least 1/8 of the shorter "
    "side); a photo with none fails, naming the file. center: edit the central square, as before detection.")]


def say_respelled(space, to: str | None, expression: str | None, source: str | None) -> None:
    """Label names are matched ignoring case; one given in another spelling is echoed in the model's."""
    from starbatch.labels import respelled

    for given, label in respelled(space, to, expression, source):
        typer.echo(f"starbatch: {given} means {label}", err=True)
