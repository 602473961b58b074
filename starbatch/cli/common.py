"""What the commands share: options declared once (same names and help), the model to use, one-line
errors and the JSON report. Light imports only: `starbatch --help` must not load torch or ray."""

import functools
import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from starbatch.errors import StarbatchError

BUNDLED_MODEL = Path(__file__).parent.parent / "models" / "demo.safetensors"
BUNDLED_V2_MODEL = Path(__file__).parent.parent / "models" / "demo_v2.safetensors"  # female / male styles

ToOption = Annotated[str | None, typer.Option(
    "--to", help="Labels to set, comma-separated: Black_Hair,Young. Clear one with Male=0.")]
ExpressionOption = Annotated[str | None, typer.Option(help="Expression to give (RaFD models): happy.")]
# StarGAN v2 models: a target domain and a style from seeds or a reference face.
DomainOption = Annotated[str | None, typer.Option(
    help="StarGAN v2: the target domain (female, male; cat, dog, wild), as the model names them.",
    show_default=False)]
SeedOption = Annotated[str | None, typer.Option(
    help="StarGAN v2: style seeds, comma-separated (1,2,3): each seed names one style, the same on any "
    "machine; edit writes one output per seed, NAME_DOMAIN_sSEED.EXT.", show_default=False)]
PsiOption = Annotated[float | None, typer.Option(
    help="StarGAN v2: pull the seeds' styles toward the domain's mean style, 1 (none, the default) to 0.",
    show_default=False)]
RefOption = Annotated[Path | None, typer.Option(
    "--ref", help="StarGAN v2: take the style from this photo's face (found and cropped as the inputs are).",
    show_default=False)]
ModelOption = Annotated[Path | None, typer.Option(
    "--model", "-m", envvar="STARBATCH_MODEL", show_envvar=True, help="Model file (.safetensors).",
    show_default=False)]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
PrecisionOption = Annotated[str, typer.Option(help="auto (bf16 on GPU, fp32 on CPU), fp32, bf16, fp16.")]
BackendOption = Annotated[str, typer.Option(
    help="What runs the generator: auto (onnxruntime on CPU in fp32, torch on GPU), torch, onnxruntime "
    "(exported once per model file, cached in ~/.cache/starbatch/onnx).")]

# The detector's modes (faces/detection.py's FACE_MODES, which a test keeps equal), spelled here so
# that `--help` does not import the detector and numpy with it.
FACE_MODES = ("detect", "center")
Faces = Enum("Faces", {mode: mode for mode in FACE_MODES}, type=str)  # typer's choices

FacesOption = Annotated[Faces, typer.Option(
    help="detect: edit every face found (RetinaFace, faces of --min-face px and more), each aligned as the "
    "model's training faces were (--framing). center: edit the central square, as before detection.")]
# faces/retinaface.py MIN_FACE (a test keeps them equal), spelled here for the same reason
MIN_FACE = 40
MinFaceOption = Annotated[int, typer.Option(
    "--min-face", min=32, metavar="PX",
    help="The smallest face looked for (its box side, in photo pixels). The search's cost falls with its "
    "square: large photos of large faces go much faster with more (4000x3000: ~1 s a photo at 40, ~0.1 s "
    "at 160).")]

# How faces are cropped for the model (models/family.py FRAMINGS); None: as the model file says.
Framing = Enum("Framing", {name: name for name in ("celeba", "celeba-hq", "synthetic", "none")}, type=str)
FramingOption = Annotated[Framing | None, typer.Option(
    help="Crop faces as these training faces were: celeba (official StarGAN v1), celeba-hq (official v2), "
    "synthetic (starbatch's rendered faces), none (the inputs are aligned crops: the whole picture). "
    "Default: what the model file says (starbatch info).", show_default=False)]

# What a photo or clip without a face gets (engines/photos.py NO_FACE_POLICIES, which a test keeps equal).
NoFace = Enum("NoFace", {name: name for name in ("copy", "skip", "fail")}, type=str)
NoFaceOption = Annotated[NoFace, typer.Option(
    "--no-face", help="Without a face: copy (written unchanged, exit 0), skip (nothing written, exit 0) or fail "
    "(reported as failed, exit 1).")]


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


def resolve_model(model: Path | None, architecture: str | None = None) -> Path:
    """--model, else $STARBATCH_MODEL (typer reads it), else the bundled demo model of `architecture`
    (the family the request is for: registry.architecture_taking), StarGAN v1's by default."""
    if model is not None:
        return model
    bundled, card, family_name = ((BUNDLED_V2_MODEL, "docs/MODEL_CARD_V2.md", " (StarGAN v2)")
                                  if architecture == "stargan-v2" else (BUNDLED_MODEL, "docs/MODEL_CARD.md", ""))
    if bundled.is_file():
        # Said every time: the demo models know only the project's synthetic faces.
        typer.echo(f"starbatch: no --model given: using the bundled demo model{family_name}, "
                   f"trained on synthetic faces only ({card}); give --model for real photos", err=True)
        return bundled
    raise StarbatchError(
        "no model: give --model FILE or set STARBATCH_MODEL (import official weights with "
        "`starbatch convert`, or train one with `starbatch train`)"
    )


def say_notes(notes: tuple[str, ...]) -> None:
    """What the model family tells the user about the request (e.g. a label name respelled)."""
    for note in notes:
        typer.echo(f"starbatch: {note}", err=True)


def write_report(path: Path | None, summary: dict) -> None:
    """--report: the run's summary as JSON (its folder is made if needed)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
