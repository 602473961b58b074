"""Several outputs per photo (`--seed 1,2,3`) in one run against one run per seed, on CPU.

One run with three seeds decodes each photo and finds its faces once for all three outputs; the
baseline is what a user would otherwise run: `--seed 1`, `--seed 2`, `--seed 3` one after the
other, each decoding the photos and finding their faces again. Both use the bundled StarGAN v2
demo model (64 px), face detection and alignment as `starbatch edit` does, the in-process engine,
on 640x480 JPEG photos with a rendered face; runs rotate (benchmarks/paired_runs.py) and the outputs
are compared byte for byte.

    python benchmarks/edit_variants.py --images 24 --repeats 3
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edit_v2_cpu import make_photos  # noqa: E402  (benchmarks/, the script's folder)
from paired_runs import rotating_runs  # noqa: E402

from starbatch.cli.common import BUNDLED_V2_MODEL  # noqa: E402
from starbatch.engines.photos import InProcess, edit_photos  # noqa: E402
from starbatch.inference.editor import EditorSpec  # noqa: E402
from starbatch.models.family import EditOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="starbatch-bench-variants-"))
    photos_dir = work / "photos"
    photos_dir.mkdir()
    photos = make_photos(photos_dir, args.images, 640, 480)
    seeds = args.seeds.split(",")

    def spec(seed: str) -> EditorSpec:
        return EditorSpec.from_options(BUNDLED_V2_MODEL, EditOptions(domain="male", seed=seed), "cpu", "fp32")

    together = spec(args.seeds)
    engine = InProcess(together.build())  # one model for both: the request's styles are per variant
    singles = [spec(seed) for seed in seeds]
    editors = [InProcess(s.build()) for s in singles]

    def one_run(out: Path) -> None:
        edit_photos([photos_dir], out, engine, args.batch_size, variants=together.variants)

    def run_per_seed(out: Path) -> None:
        for single, editor in zip(singles, editors, strict=True):
            edit_photos([photos_dir], out, editor, args.batch_size, variants=single.variants)

    runs = {"a run per seed": run_per_seed, f"one run, --seed {args.seeds}": one_run}
    timings = rotating_runs(runs, args.repeats, work)
    outputs = len(photos) * len(seeds)
    print(f"\n{len(photos)} photos 640x480 JPEG, {len(seeds)} seeds ({outputs} outputs), the bundled v2 model, "
          f"faces detected; torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"batch {args.batch_size}; median of {args.repeats}; load average (1 min) "
          f"{min(timings.loads):.1f}-{max(timings.loads):.1f}")
    print(f"{'':26s} {'images/s':>9s} {'wall x':>7s} {'CPU x':>6s}  (outputs/s; ratios vs a run per seed, same repeat)")
    print("\n".join(timings.rows("a run per seed", outputs, 26)))
    first, second = (timings.folders[name] for name in runs)
    names = sorted(p.name for p in first.iterdir())
    differing = [n for n in names if (first / n).read_bytes() != (second / n).read_bytes()]
    print(f"outputs: {len(names)} files each; {len(differing)} differ")
    if differing or names != sorted(p.name for p in second.iterdir()):
        sys.exit("outputs disagree")


if __name__ == "__main__":
    main()
