"""`starbatch make-faces`, `train` and `eval`: thin typed commands over starbatch.train.

No torch or ray at module top: `starbatch --help` must stay instant (DESIGN.md).
"""

import inspect
import json
from pathlib import Path
from typing import Annotated

import typer

from starbatch.cli.common import resolve_model
from starbatch.errors import StarbatchError
from starbatch.train.settings import option_parameters, settings_from_options

CLASSIFIER_CACHE = Path.home() / ".cache" / "starbatch"
Dir = Annotated[Path | None, typer.Option(file_okay=False, show_default=False)]


def make_faces(
    out: Annotated[Path, typer.Argument(help="Folder to create: OUT/celeba and OUT/rafd, or with --domains "
                                        "OUT/train/<domain> and OUT/val/<domain>.", file_okay=False)],
    n: Annotated[int, typer.Option("--n", min=1, help="CelebA-style faces to render (with --domains: "
                                   "faces per domain).")] = 2000,
    seed: Annotated[int, typer.Option(help="Same seed, same faces, on any machine.")] = 0,
    rafd_identities: Annotated[int | None, typer.Option(
        help="RaFD people, 8 expressions each (default n // 8); a tenth form the test split.",
        show_default=False)] = None,
    domains: Annotated[str | None, typer.Option(
        help="A StarGAN v2 set instead, one folder per domain, comma-separated domains of one attribute: "
             "female,male; old,young; hair colours (black,blond,brown,gray,red); expressions (angry,...,surprised).",
        show_default=False)] = None,
) -> None:
    """Render a synthetic face set at 128x128 in CelebA's and RaFD's layouts, or StarGAN v2's.

    OUT/celeba holds images/ and list_attr_celeba.txt (40 attributes; hair colour, Male and
    Young are drawn by shape); OUT/rafd holds train/ and test/, one folder per expression.
    With --domains: OUT/train/<domain>/ and OUT/val/<domain>/ (a tenth of each domain), the
    domain drawn by shape and everything else (hair, skin, expression, background) varied.

    Example: starbatch make-faces data/faces --n 2000 --seed 0

    Example: starbatch make-faces data/gender --domains female,male --n 1000
    """
    from tqdm import tqdm

    if domains is not None:
        from starbatch.synthetic.domains import domain_group, make_domain_faces

        names = [name.strip() for name in domains.split(",") if name.strip()]
        domain_group(names)  # a usage error before any face is drawn
        with tqdm(total=n * len(names), unit="face", desc="faces") as bar:
            made = make_domain_faces(out, names, n, seed, progress=bar.update)
        typer.echo(f"{out}: {len(names)} {made['group']} domains ({', '.join(names)}), "
                   f"{made['train_per_domain']} train + {made['val_per_domain']} val faces each")
        return

    from starbatch.synthetic.faces import make_faces as render

    identities = rafd_identities if rafd_identities is not None else max(2, n // 8)
    with tqdm(total=n + identities, unit="face", desc="faces") as bar:
        made = render(out, n, seed, identities, progress=bar.update)
    typer.echo(f"{out}: {made['celeba']} CelebA faces, {made['rafd_identities']} RaFD people "
               f"x 8 expressions ({made['rafd_test_identities']} held out for test)")


def _launch(
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in "
                                         "--out, exactly.")] = False,
    workers: Annotated[int, typer.Option(help="Ray Train workers (DDP); 0: no Ray.")] = 0,
    gpus_per_worker: Annotated[float, typer.Option(help="GPUs per Ray worker.")] = 0,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join (--out must be on "
                                                "storage every node sees).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (without Ray).")] = "auto",
) -> None:
    """How a run is launched (not stored in its settings): the options after the settings'."""


def train(**options) -> None:
    """Train StarGAN (WGAN-GP, lambda_cls 1, lambda_rec 10, Adam 1e-4) on CelebA, RaFD or both.

    Writes OUT/log.jsonl (every loss), OUT/samples/ (input + one column per domain),
    OUT/checkpoints/ (resume with --resume) and finally OUT/model.safetensors for `edit`.

    Example: starbatch train --dataset both --celeba-dir data/faces/celeba
    --rafd-dir data/faces/rafd --image-size 64 --g-conv-dim 32 --d-conv-dim 32
    --d-repeat-num 5 --iters 20000 --out runs/joint

    StarGAN v2 (--family v2): the official objectives (non-saturating GAN + R1, style, diversity,
    cycle), Adam (0, 0.99) with weight decay 1e-4, the EMA of G, F and E in the model file; samples
    are latent-guided (psi 0.5, 0.7, 1.0) and reference-guided grids. --w-hpf 1 with --fan-from MODEL
    (or --wing wing.ckpt) trains as the official CelebA-HQ model: a frozen FAN's face masks keep the
    face's detail, and the FAN ships in the model file.

    Example: starbatch make-faces data/gender --domains female,male --n 1000 && starbatch train
    --family v2 --data data/gender --image-size 64 --dim-in 16 --max-conv-dim 128 --hidden-dim 128
    --batch-size 8 --iters 20000 --ds-iter 20000 --out runs/v2
    """
    if options["workers"] > 0:  # first: without Ray the rest cannot run
        from starbatch.extras import RAY, require

        require("ray.train", RAY[1], "train --workers")
    launch = {name: options.pop(name) for name in LAUNCH}
    settings = settings_from_options(options)
    settings.validate()
    if launch["workers"] > 0:
        from starbatch.train.distributed import train_with_ray

        summary = train_with_ray(settings, launch["resume"], launch["workers"], launch["gpus_per_worker"],
                                 launch["address"])  # fmt: skip
    else:
        from starbatch.inference.runtime import pick_device
        from starbatch.train.loop import run

        summary = run(settings, resume=launch["resume"], device=str(pick_device(launch["device"])))
    typer.echo(json.dumps(summary))


# The options: one per settings field (train/settings.py), then the launch options.
LAUNCH = inspect.signature(_launch).parameters
train.__signature__ = inspect.Signature(
    option_parameters() + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in LAUNCH.values()])
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}


def evaluate(
    model: Annotated[Path | None, typer.Argument(help="Model file; default as for edit.",
                                                 show_default=False)] = None,
    celeba_dir: Dir = None,
    rafd_dir: Dir = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="StarGAN v2: DIR/train/<domain> (the judge learns it) and DIR/val/<domain> (translated).",
        file_okay=False, show_default=False)] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report here.",
                                                  dir_okay=False, show_default=False)] = None,
    classifier_epochs: Annotated[int, typer.Option(help="Epochs of the judging classifiers.")] = 25,
    cache_dir: Annotated[Path, typer.Option(help="Where trained classifiers are kept.")] =
        CLASSIFIER_CACHE,
) -> None:
    """Score a model as the paper does: translations judged by an independent classifier.

    The classifier is trained on the real images of the training split; every test image is
    translated to every domain of its data set. Use faces the model never saw: make a fresh set
    with another seed.

    StarGAN v1 (--celeba-dir, --rafd-dir): classification error per domain and overall
    (overall_error, a fraction), the classifier's own error on the real test images and the
    reconstruction L1. StarGAN v2 (--data): every source domain to every other, with 10 latent and
    10 reference styles per image: the judge's accuracy on outputs and on real images, diversity
    (pixel L1 and judge-feature distance between the 10 outputs, beside real images' own spread),
    a Frechet distance in the judge's feature space (not FID) and the reconstruction L1.

    Example: starbatch make-faces heldout --n 2000 --seed 4242 && starbatch eval
    --celeba-dir heldout/celeba --rafd-dir heldout/rafd --json eval.json

    Example: starbatch make-faces heldout2 --domains female,male --n 300 --seed 4242 && starbatch eval
    runs/v2/model.safetensors --data heldout2
    """
    from starbatch.files import write_atomically
    from starbatch.models.registry import load_model, read_config
    from starbatch.train.evaluate import evaluate as run_eval

    path = resolve_model(model, "stargan-v2" if data is not None else None)  # --data: a v2 set
    v2 = read_config(path).architecture == "stargan-v2"
    if v2 and data is None:
        raise StarbatchError(f"{path}: a StarGAN v2 model: give --data DIR (DIR/train/<domain>, DIR/val/<domain>)")
    if not v2 and data is not None:
        raise StarbatchError(f"{path}: --data is for StarGAN v2 models; score this one with --celeba-dir/--rafd-dir")
    if v2:
        from starbatch.train.stargan_v2.evaluate import evaluate as run_v2_eval

        report = run_v2_eval(load_model(path), data, classifier_epochs, cache_dir)
    else:
        report = run_eval(load_model(path), celeba_dir, rafd_dir, classifier_epochs, cache_dir)
    report["model"] = str(path)
    _warn_if_the_judge_is_weak(report)
    text = json.dumps(report, indent=2)
    if json_out is not None:
        if json_out.parent and not json_out.parent.is_dir():
            raise StarbatchError(f"{json_out}: its folder does not exist")
        write_atomically(json_out, text.encode())
    typer.echo(text)


WEAK_JUDGE = 0.15  # the judge's error on real test images above which its verdicts mean little


def _warn_if_the_judge_is_weak(report: dict) -> None:
    weak = {name: error for name, error in report["classifier_error_on_real_test_images_per_domain"].items()
            if error is not None and error > WEAK_JUDGE}
    if weak:
        worst = ", ".join(f"{name} {error:.2f}" for name, error in sorted(weak.items(), key=lambda kv: -kv[1])[:4])
        typer.echo(f"starbatch: warning: the judge itself errs on real test images ({worst}): those rows "
                   "measure the judge as much as the model (a larger held-out set trains a better judge)", err=True)
