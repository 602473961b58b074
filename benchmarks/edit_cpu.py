"""`starbatch edit` against a plain official-style loop, on the same photos and model, on CPU, with
each generator backend (torch, onnxruntime).

Baseline (what the official test() does, fed from a folder): batches of 16; for each photo PIL
decode, centre square crop, Resize(128), ToTensor, Normalize; labels tiled and concatenated; G
forward (train mode, as official test() leaves it); save_image-style PNG. starbatch, per backend:
`edit --crop-only --faces center` (the same outputs, so they are compared), the full `edit --faces
center` (paste back at photo size) and the full `edit` with face detection (the default; the photos
carry a synthetic face, 200 px, off-centre). Model loading and the one-time ONNX export are left
out of these timings; each is run --repeats times, in rotating order, and the ratios to the official
loop of the same repeat are reported (median), in wall and CPU time. Then the
start-up: `starbatch edit` on one photo in a fresh process, per backend, the ONNX cache warm.

    python benchmarks/edit_cpu.py --images 16 --repeats 5
    python benchmarks/edit_cpu.py --threads 1 --io-threads 2 --cv2-threads 1  # thread sizing
"""

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the official reference lives in tests/
from paired_runs import rotating_runs  # noqa: E402  (benchmarks/, the script's folder)

import starbatch.engines.photos as photos_engine  # noqa: E402
from starbatch.engines.photos import InProcess, edit_photos  # noqa: E402
from starbatch.faces.detection import centre_box  # noqa: E402
from starbatch.inference.compositing import model_input, paste_edit  # noqa: E402
from starbatch.inference.editor import Editor, EditorSpec  # noqa: E402
from starbatch.media.images import read_photo  # noqa: E402
from starbatch.models.family import EditOptions  # noqa: E402
from starbatch.models.model_file import save_model  # noqa: E402
from starbatch.models.registry import load_model  # noqa: E402
from starbatch.models.stargan_v1.config import ModelConfig  # noqa: E402
from starbatch.models.stargan_v1.labels import label_space_for  # noqa: E402
from starbatch.synthetic.faces import celeba_face  # noqa: E402
from tests.models import official_stargan as official  # noqa: E402

TARGET = [1.0, 0.0, 0.0, 0.0, 1.0]  # Black_Hair, Young from a photo with no labels set
BACKENDS = ("torch", "onnxruntime")


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


def official_loop(generator, photos: list[Path], out: Path, image_size: int, batch_size: int = 16) -> None:
    out.mkdir(parents=True, exist_ok=True)
    labels = torch.tensor([TARGET])
    with torch.no_grad():
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


def worst_difference(first: Path, second: Path) -> int:
    """The largest uint8 difference between same-named images of two folders (every file of `first`)."""
    worst = 0
    for path in sorted(first.iterdir()):
        if not (second / path.name).is_file():
            continue
        a = np.asarray(Image.open(path), dtype=int)
        b = np.asarray(Image.open(second / path.name), dtype=int)
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


def pasted_difference(editors: list[Editor], photos: list[Path]) -> int:
    """The largest uint8 difference between two editors' full-size results before encoding (JPEG
    re-encoding spreads a one-level change over a few levels, so the written files differ more)."""
    decoded = [read_photo(path) for path in photos]
    boxes = [centre_box(*photo.size) for photo in decoded]
    size = editors[0].image_size
    inputs = torch.from_numpy(np.stack([model_input(p, b, size) for p, b in zip(decoded, boxes, strict=True)]))
    results = []
    for editor in editors:
        edited = editor(inputs)
        results.append([paste_edit(p, b, x, y).rgb.astype(int)
                        for p, b, x, y in zip(decoded, boxes, inputs, edited, strict=True)])
    return max(int(np.abs(a - b).max()) for a, b in zip(*results, strict=True))


def start_up(model: Path, photo: Path, backend: str, out: Path, threads: int) -> float:
    """Seconds for `starbatch edit` on one photo in a fresh process (imports, model, first batch)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "starbatch", "edit", str(photo), "-m", str(model), "--to", "Black_Hair",
               "--from", "Male=0", "--faces", "center", "--backend", backend, "-o", str(out), "--overwrite"]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="starbatch's --batch-size (its CPU default)")
    parser.add_argument("--threads", type=int, default=None, help="model threads (torch and onnxruntime)")
    parser.add_argument("--io-threads", type=int, default=None, help="decode and encode threads, each way")
    parser.add_argument("--cv2-threads", type=int, default=None, help="OpenCV's threads (Haar detection)")
    parser.add_argument("--startup-repeats", type=int, default=3, help="0 skips the start-up timing")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    backends = args.backends.split(",")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.io_threads:
        photos_engine.IO_THREADS = args.io_threads
    if args.cv2_threads is not None:
        import cv2

        cv2.setNumThreads(args.cv2_threads)

    work = Path(tempfile.mkdtemp(prefix="starbatch-bench-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # the export is timed, not reused from ~/.cache
    photos_dir = work / "photos"
    photos_dir.mkdir()
    photos = make_photos(photos_dir, args.images, args.width, args.height)
    torch.manual_seed(0)
    reference = official.trained_like(official.Generator(64, 5, 6))
    config = ModelConfig(image_size=args.image_size, labels=label_space_for("celeba"))
    model_path = work / "model.safetensors"
    save_model(model_path, config, {"generator": reference.state_dict()})
    model = load_model(model_path)
    request = EditorSpec.from_options(model.path, EditOptions("Black_Hair,Young", None, "Male=0")).request
    start = time.perf_counter()
    hashlib.sha256(model_path.read_bytes()).hexdigest()
    model_hash_ms = (time.perf_counter() - start) * 1000
    engines, setup = {}, {}
    for backend in backends:
        start = time.perf_counter()
        engines[backend] = InProcess(Editor(model, request, "cpu", backend=backend))
        setup[backend] = time.perf_counter() - start
    if "onnxruntime" in backends:  # again, now from the cache: hash checks and the session only
        start = time.perf_counter()
        Editor(model, request, "cpu", backend="onnxruntime")
        setup["onnxruntime, cache warm"] = time.perf_counter() - start
    reference.train()  # official test() never calls eval(): IN also updates running stats

    runs = {"official loop": lambda out: official_loop(reference, photos, out, args.image_size)}
    for backend in backends:
        engine = engines[backend]
        runs[f"--crop-only --faces center [{backend}]"] = lambda out, e=engine: edit_photos(
            [photos_dir], out, e, args.batch_size, crop_only=True, faces="center")
        runs[f"--faces center [{backend}]"] = lambda out, e=engine: edit_photos(
            [photos_dir], out, e, args.batch_size, faces="center")
        runs[f"detect faces [{backend}]"] = lambda out, e=engine: edit_photos([photos_dir], out, e, args.batch_size)
    timings = rotating_runs(runs, args.repeats, work)  # paired with the official loop of each repeat
    folder, loads = timings.folders, timings.loads

    startup: dict[str, list[float]] = {backend: [] for backend in backends}
    one_photo = photos[0]
    for _ in range(args.startup_repeats):
        for backend in backends:
            startup[backend].append(start_up(model_path, one_photo, backend, work / f"startup_{backend}",
                                             torch.get_num_threads()))

    print(f"\n{args.images} photos {args.width}x{args.height} JPEG, model {args.image_size}px conv_dim 64, random "
          f"weights; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} model threads, {photos_engine.IO_THREADS} io threads each way, "
          f"OpenCV threads {args.cv2_threads if args.cv2_threads is not None else 'default'}, starbatch "
          f"batch {args.batch_size}; median of {args.repeats}; load average (1 min) during runs "
          f"{min(loads):.1f}-{max(loads):.1f}")
    print(f"{'':42s} {'images/s':>9s} {'wall x':>7s} {'CPU x':>6s}  (ratios vs the official loop of the same repeat,"
          " median; wall range)")
    print("\n".join(timings.rows("official loop", args.images, 42)))
    print("outputs agree (max uint8 difference):")
    for backend in backends:
        print(f"  --crop-only [{backend}] vs official loop: "
              f"{worst_difference(folder[f'--crop-only --faces center [{backend}]'], folder['official loop'])}")
    if len(backends) == 2:
        for kind in ("--crop-only --faces center", "--faces center", "detect faces"):
            print(f"  {kind} onnxruntime vs torch, files written: "
                  f"{worst_difference(folder[f'{kind} [onnxruntime]'], folder[f'{kind} [torch]'])}")
        pasted = pasted_difference([engines[b].editor for b in BACKENDS], photos[: args.batch_size])
        print(f"  --faces center onnxruntime vs torch, pixels before encoding ({args.batch_size} photos): {pasted}")
    print("set-up in this process, model loaded (onnxruntime: the export to an empty cache included): "
          + ", ".join(f"{b} {s:.2f} s" for b, s in setup.items()))
    print(f"sha256 of the {model_path.stat().st_size / 1e6:.1f} MB model file: {model_hash_ms:.0f} ms")
    if args.startup_repeats:
        print("start-up, `starbatch edit` on one photo in a fresh process (cache warm), median: "
              + ", ".join(f"{b} {statistics.median(s):.2f} s ({min(s):.2f}-{max(s):.2f})" for b, s in startup.items()))


if __name__ == "__main__":
    main()
