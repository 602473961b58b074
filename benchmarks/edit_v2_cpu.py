"""StarGAN v2 `starbatch edit --crop-only --faces center` against an official-style loop, on CPU.

Both run the same weights (a random official-format `*_nets_ema.ckpt`, converted as `starbatch convert`
does) on the same crops. The official-style loop is what the official sample mode does, fed from a
folder: batches; per photo PIL decode, centre square, Resize(model size), ToTensor, Normalize; one
style s = F(z_seed, y) (or E(x_ref, y) with --style ref) for the batch; masks = FAN.get_heatmap(x)
when w_hpf > 0; x_fake = G(x, s, masks) under no_grad; save_image-style PNG. starbatch: the
in-process engine (threads decode ahead and encode behind) with the same request, once per generator
backend (torch; onnxruntime, which runs FAN and G as one exported graph). Model loading and the
one-time ONNX export are left out of the rates (the export is timed on its own, into an empty cache);
each is run --repeats times in rotating order, and each run's ratio to the official-style loop of the
same repeat is reported (median), in wall time and in this process's CPU time, which other users'
load on a shared machine disturbs less. The outputs are compared.

The default is a small model (128 px, narrow channels, w_hpf 0) so a run takes a minute or two;
`--w-hpf 1` adds the FAN (fixed size, 256 px input: it dominates the time on CPU), `--official-size`
the released 256 px widths.

    python benchmarks/edit_v2_cpu.py --images 16 --repeats 3
    python benchmarks/edit_v2_cpu.py --images 8 --repeats 3 --w-hpf 1
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the official shapes live in tests/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "models" / "stargan_v2"))
import official_stargan_v2 as official  # noqa: E402
from paired_runs import rotating_runs  # noqa: E402  (benchmarks/, the script's folder)

from starbatch.engines.photos import InProcess, edit_photos  # noqa: E402
from starbatch.inference.editor import Editor, EditorSpec  # noqa: E402
from starbatch.models.family import EditOptions  # noqa: E402
from starbatch.models.model_file import save_model  # noqa: E402
from starbatch.models.registry import load_model  # noqa: E402
from starbatch.models.stargan_v2.family import STARGAN_V2  # noqa: E402
from starbatch.models.stargan_v2.official import load_official  # noqa: E402
from starbatch.models.stargan_v2.sample import latent_code  # noqa: E402
from starbatch.synthetic.faces import celeba_face  # noqa: E402

SEED, DOMAIN = 7, 1
BACKENDS = ("torch", "onnxruntime")


def make_photos(folder: Path, count: int, width: int, height: int) -> list[Path]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    side = min(width, height)
    paths = []
    for i in range(count):
        base = np.stack([x / width * 255, y / height * 255, np.full_like(x, 40 * (i % 6))], axis=2)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        face = Image.fromarray(celeba_face(1, i)[0]).resize((side, side), Image.BICUBIC)
        left = (width - side) // 2
        pixels[:, left : left + side] = np.asarray(face)
        paths.append(folder / f"photo_{i:04d}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return paths


def official_checkpoint(path: Path, img_size: int, w_hpf: float, dim_in: int | None, max_conv_dim: int,
                        num_domains: int = 2, style_dim: int = 64, latent_dim: int = 16) -> Path:
    generator = torch.Generator().manual_seed(0)
    shapes = {"generator": official.generator_shapes(img_size, style_dim, w_hpf, max_conv_dim, dim_in),
              "mapping_network": official.mapping_shapes(latent_dim, style_dim, num_domains),
              "style_encoder": official.style_encoder_shapes(img_size, style_dim, num_domains, max_conv_dim, dim_in)}
    if w_hpf > 0:
        shapes["fan"] = official.fan_shapes()
    torch.save({name: official.random_state(s, generator, w_hpf) for name, s in shapes.items()}, path)
    return path


def load_crop(path: Path, size: int) -> torch.Tensor:
    image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1) * 2 - 1


@torch.no_grad()
def official_loop(nets, photos: list[Path], out: Path, size: int, reference: Path | None, batch_size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    y = torch.tensor([DOMAIN])
    if reference is not None:
        s = nets.style_encoder(load_crop(reference, size)[None], y)
    else:
        s = nets.mapping_network(latent_code(SEED, nets.config.latent_dim), y)
    for start in range(0, len(photos), batch_size):
        chunk = photos[start : start + batch_size]
        x = torch.stack([load_crop(path, size) for path in chunk])
        masks = nets.fan.get_heatmap(x) if nets.config.w_hpf > 0 else None
        fake = nets.generator(x, s.expand(len(chunk), -1), masks=masks)
        pixels = ((fake + 1) / 2).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
        for path, picture in zip(chunk, pixels.permute(0, 2, 3, 1).numpy(), strict=True):
            Image.fromarray(picture).save(out / f"{path.stem}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--w-hpf", type=float, default=0.0)
    parser.add_argument("--official-size", action="store_true", help="official widths (dim_in 2**14 // img_size, "
                        "max_conv_dim 512) instead of the narrow default (dim_in 16, max_conv_dim 128)")
    parser.add_argument("--style", choices=("seed", "ref"), default="seed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="both sides' batch (starbatch's CPU default)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="starbatch-bench-v2-"))
    photos_dir = work / "photos"
    photos_dir.mkdir()
    photos = make_photos(photos_dir, args.images, args.width, args.height)
    reference = make_photos(work, 1, 200, 200)[0] if args.style == "ref" else None
    dim_in, max_conv_dim = (None, 512) if args.official_size else (16, 128)
    checkpoint = official_checkpoint(work / "100000_nets_ema.ckpt", args.img_size, args.w_hpf, dim_in, max_conv_dim)
    config, networks = STARGAN_V2.import_official(checkpoint, domains="female,male")
    save_model(work / "model.safetensors", config, networks)
    nets = load_official(checkpoint, domains="female,male").networks  # the official layers, eval

    os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # the export is timed, not reused from ~/.cache
    model = load_model(work / "model.safetensors")
    options = EditOptions(domain="male", seed=None if reference else str(SEED), reference=reference)
    spec = EditorSpec.from_options(model.path, options, "cpu", "fp32", faces="center")
    suffix = spec.variants[0]
    engines, setup = {}, {}
    for backend in BACKENDS:
        start = time.perf_counter()
        engines[backend] = InProcess(Editor(model, spec.request, "cpu", backend=backend))
        setup[backend] = time.perf_counter() - start
    start = time.perf_counter()  # again, now from the cache: hash checks and the session only
    Editor(model, spec.request, "cpu", backend="onnxruntime")
    setup["onnxruntime, cache warm"] = time.perf_counter() - start

    runs = {"official-style loop": lambda out: official_loop(nets, photos, out, args.img_size, reference,
                                                             args.batch_size)}
    for backend, engine in engines.items():
        runs[f"--crop-only [{backend}]"] = lambda out, e=engine: edit_photos(
            [photos_dir], out, e, args.batch_size, crop_only=True, faces="center", variants=spec.variants)
    timings = rotating_runs(runs, args.repeats, work)  # paired with the official-style loop of each repeat
    folder, loads = timings.folders, timings.loads

    widths = f"dim_in {config.dim_in}, max_conv_dim {config.max_conv_dim}"
    print(f"\n{args.images} photos {args.width}x{args.height} JPEG, model {args.img_size}px ({widths}, w_hpf "
          f"{args.w_hpf:g}), style from {args.style}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, batch {args.batch_size}; median of {args.repeats}; load average (1 min) "
          f"during runs {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'':26s} {'images/s':>9s} {'wall x':>7s} {'CPU x':>6s}  (ratios vs the official-style loop of the same "
          "repeat, median; wall range)")
    print("\n".join(timings.rows("official-style loop", args.images, 26)))
    ours = {backend: folder[f"--crop-only [{backend}]"] for backend in BACKENDS}
    worst = {backend: worst_difference(ours[backend], folder["official-style loop"], photos, suffix, "")
             for backend in BACKENDS}
    worst["onnxruntime vs torch"] = worst_difference(ours["onnxruntime"], ours["torch"], photos, suffix, suffix)
    print("outputs agree (max uint8 difference): " + ", ".join(
        f"{name if 'vs' in name else f'--crop-only [{name}] vs official-style'} {value}"
        for name, value in worst.items()))
    print("set-up in this process, model loaded (onnxruntime: the export to an empty cache included): "
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in setup.items()))
    if max(worst.values()) > 1:
        sys.exit("outputs disagree")


def worst_difference(ours: Path, theirs: Path, photos: list[Path], our_suffix: str, their_suffix: str) -> int:
    worst = 0
    for path in photos:
        a = np.asarray(Image.open(ours / f"{path.stem}{our_suffix}.png"), dtype=int)
        b = np.asarray(Image.open(theirs / f"{path.stem}{their_suffix}.png"), dtype=int)
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


if __name__ == "__main__":
    main()
