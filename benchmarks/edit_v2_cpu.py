"""StarGAN v2 `starbatch edit --crop-only --faces center` against an official-style loop, on CPU.

Both run the same weights (a random official-format `*_nets_ema.ckpt`, converted as `starbatch convert`
does) on the same crops. The official-style loop is what the official sample mode does, fed from a
folder: batches; per photo PIL decode, centre square, Resize(model size), ToTensor, Normalize; one
style s = F(z_seed, y) (or E(x_ref, y) with --style ref) for the batch; masks = FAN.get_heatmap(x)
when w_hpf > 0; x_fake = G(x, s, masks) under no_grad; save_image-style PNG. starbatch: the
in-process engine (threads decode ahead and encode behind) with the same request. Model loading is
left out; each is run --repeats times, alternating, the best time counts. The outputs are compared.

The default is a small model (128 px, narrow channels, w_hpf 0) so a run takes a minute or two;
`--w-hpf 1` adds the FAN (fixed size, 256 px input: it dominates the time on CPU), `--official-size`
the released 256 px widths.

    python benchmarks/edit_v2_cpu.py --images 16 --repeats 2
"""

import argparse
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
    parser.add_argument("--repeats", type=int, default=2)
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

    model = load_model(work / "model.safetensors")
    options = EditOptions(domain="male", seed=None if reference else str(SEED), reference=reference)
    spec = EditorSpec.from_options(model.path, options, "cpu", "fp32", faces="center")
    engine = InProcess(Editor(model, spec.request, "cpu"))
    suffix = spec.variants[0]

    times: dict[str, list[float]] = {"official-style loop": [], "starbatch --crop-only": []}
    for repeat in range(args.repeats):
        start = time.perf_counter()
        official_loop(nets, photos, work / f"official{repeat}", args.img_size, reference, args.batch_size)
        times["official-style loop"].append(time.perf_counter() - start)
        start = time.perf_counter()
        edit_photos([photos_dir], work / f"crops{repeat}", engine, args.batch_size, crop_only=True, faces="center",
                    variants=spec.variants)
        times["starbatch --crop-only"].append(time.perf_counter() - start)

    worst = 0
    for path in photos:
        ours = np.asarray(Image.open(work / "crops0" / f"{path.stem}{suffix}.png"), dtype=int)
        theirs = np.asarray(Image.open(work / "official0" / f"{path.stem}.png"), dtype=int)
        worst = max(worst, int(np.abs(ours - theirs).max()))
    widths = f"dim_in {config.dim_in}, max_conv_dim {config.max_conv_dim}"
    print(f"\n{args.images} photos {args.width}x{args.height} JPEG, model {args.img_size}px ({widths}, w_hpf "
          f"{args.w_hpf:g}), style from {args.style}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    baseline = args.images / min(times["official-style loop"])
    for name, runs in times.items():
        rate = args.images / min(runs)
        print(f"{name:24s} {rate:7.2f} images/s   x{rate / baseline:.2f} vs official-style loop")
    print(f"outputs agree: max uint8 difference crop-only vs official-style = {worst}")
    if worst > 1:
        sys.exit("outputs disagree")


if __name__ == "__main__":
    main()
