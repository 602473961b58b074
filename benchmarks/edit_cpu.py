"""`starbatch edit` against a plain official-style loop, on the same photos and model, on CPU.

Baseline (what the official test() does, fed from a folder): batches of 16; for each photo PIL
decode, centre square crop, Resize(128), ToTensor, Normalize; labels tiled and concatenated;
G forward (train mode, as official test() leaves it); save_image-style PNG. A second baseline runs
the same loop with per-image statistics only and inference_mode, which separates the model-side
gain from the pipeline's (threads decoding ahead and encoding behind). starbatch: the
`edit --crop-only` path (same outputs, so they are compared), and the full `edit` (paste back at
photo size) for reference; all three with `--faces center`, the official crop, so the comparison
stays like for like. The photos carry a synthetic face (train/faces.py, 200 px, off-centre), so a
fourth run, the full `edit` with the default `--faces detect`, gives the cost of face detection,
also printed per image against G's time. Model loading is left out of all timings; each is run
--repeats times, alternating, and the best time counts.

    python benchmarks/edit_cpu.py --images 64 --repeats 2
"""

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the official reference lives in tests/
from starbatch.engines.photos import InProcess, edit_photos  # noqa: E402
from starbatch.faces.detection import placements  # noqa: E402
from starbatch.inference.editor import Editor, EditorSpec  # noqa: E402
from starbatch.media.images import read_photo  # noqa: E402
from starbatch.models.family import EditOptions  # noqa: E402
from starbatch.models.model_file import save_model  # noqa: E402
from starbatch.models.registry import load_model  # noqa: E402
from starbatch.models.stargan_v1.config import ModelConfig  # noqa: E402
from starbatch.models.stargan_v1.labels import label_space_for  # noqa: E402
from starbatch.models.stargan_v1.networks import use_instance_statistics  # noqa: E402
from starbatch.synthetic.faces import celeba_face  # noqa: E402
from tests.models import official_stargan as official  # noqa: E402

TARGET = [1.0, 0.0, 0.0, 0.0, 1.0]  # Black_Hair, Young from a photo with no labels set


def make_photos(folder: Path, count: int, width: int, height: int) -> list[Path]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    side = min(200, width, height)
    for i in range(count):
        base = np.stack([x / width * 255, y / height * 255, np.full_like(x, 40 * (i % 6))], axis=2)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        face = Image.fromarray(celeba_face(1, i)[0]).resize((side, side), Image.BICUBIC)
        pixels[top : top + side, left : left + side] = np.asarray(face)
        paths.append(folder / f"photo_{i:04d}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return paths


def official_loop(generator, photos: list[Path], out: Path, image_size: int, batch_size: int = 16,
                  grad_mode=torch.no_grad) -> None:
    out.mkdir(parents=True, exist_ok=True)
    labels = torch.tensor([TARGET])
    with grad_mode():
        for start in range(0, len(photos), batch_size):
            chunk = photos[start : start + batch_size]
            tensors = []
            for path in chunk:
                image = Image.open(path).convert("RGB")
                side = min(image.size)
                left, top = (image.width - side) // 2, (image.height - side) // 2
                image = image.crop((left, top, left + side, top + side)).resize((image_size,) * 2, Image.BILINEAR)
                tensors.append(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1) * 2 - 1)
            x = torch.stack(tensors)
            y = generator(x, labels.expand(len(chunk), -1))
            pixels = ((y + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for path, picture in zip(chunk, pixels, strict=True):
                Image.fromarray(picture).save(out / f"{path.stem}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="starbatch's --batch-size")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="starbatch-bench-"))
    photos_dir = work / "photos"
    photos_dir.mkdir()
    photos = make_photos(photos_dir, args.images, args.width, args.height)
    torch.manual_seed(0)
    reference = official.trained_like(official.Generator(64, 5, 6))
    config = ModelConfig(image_size=args.image_size, labels=label_space_for("celeba"))
    save_model(work / "model.safetensors", config, {"generator": reference.state_dict()})
    model = load_model(work / "model.safetensors")
    request = EditorSpec.from_options(model.path, EditOptions("Black_Hair,Young", None, "Male=0")).request
    engine = InProcess(Editor(model, request, "cpu"))
    reference.train()  # official test() never calls eval(): IN also updates running stats
    # The same loop without that bookkeeping, to show how much of the ratio is the model side.
    lean = use_instance_statistics(copy.deepcopy(reference)).eval()

    times: dict[str, list[float]] = {"official loop": [], "official loop, lean G": [],
                                     "starbatch --crop-only": [], "starbatch (full size)": [],
                                     "starbatch --faces detect": []}
    for repeat in range(args.repeats):
        start = time.perf_counter()
        official_loop(reference, photos, work / f"official{repeat}", args.image_size)
        times["official loop"].append(time.perf_counter() - start)
        start = time.perf_counter()
        official_loop(lean, photos, work / f"lean{repeat}", args.image_size, grad_mode=torch.inference_mode)
        times["official loop, lean G"].append(time.perf_counter() - start)
        start = time.perf_counter()
        edit_photos([photos_dir], work / f"crops{repeat}", engine, args.batch_size, crop_only=True, faces="center")
        times["starbatch --crop-only"].append(time.perf_counter() - start)
        start = time.perf_counter()
        edit_photos([photos_dir], work / f"full{repeat}", engine, args.batch_size, faces="center")
        times["starbatch (full size)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        detected = edit_photos([photos_dir], work / f"detect{repeat}", engine, args.batch_size)
        times["starbatch --faces detect"].append(time.perf_counter() - start)

    decoded = [read_photo(path).rgb for path in photos]
    start = time.perf_counter()
    for rgb in decoded:
        placements(rgb, "detect", engine.editor.framing, engine.editor.image_size)
    detect_ms = (time.perf_counter() - start) / len(decoded) * 1000
    batch = torch.from_numpy(np.zeros((args.batch_size, 3, args.image_size, args.image_size), np.float32))
    engine.editor(batch)
    start = time.perf_counter()
    engine.editor(batch)
    model_ms = (time.perf_counter() - start) / args.batch_size * 1000

    worst = 0
    for path in photos:
        ours = np.asarray(Image.open(work / "crops0" / f"{path.stem}.png"), dtype=int)
        theirs = np.asarray(Image.open(work / "official0" / f"{path.stem}.png"), dtype=int)
        worst = max(worst, int(np.abs(ours - theirs).max()))
    print(f"\n{args.images} photos {args.width}x{args.height} JPEG, model {args.image_size}px conv_dim 64, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    baseline = args.images / min(times["official loop"])
    for name, runs in times.items():
        rate = args.images / min(runs)
        print(f"{name:24s} {rate:7.2f} images/s   x{rate / baseline:.2f} vs official loop")
    print(f"outputs agree: max uint8 difference crop-only vs official = {worst}")
    print(f"face detection: {detect_ms:.1f} ms per photo (one thread, after decoding) vs G {model_ms:.1f} ms per "
          f"image ({detect_ms / model_ms:.2f}x); faces found in {detected['edited']} of {args.images} photos "
          "(rates above count every photo)")
    if worst > 1:
        sys.exit("outputs disagree")


if __name__ == "__main__":
    main()
