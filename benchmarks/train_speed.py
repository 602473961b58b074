"""Training iterations/s of the official StarGAN v1 configuration, with the real solver.

    python benchmarks/train_speed.py                       # CUDA: 128 px, batch 16, bf16 and fp32
    python benchmarks/train_speed.py --dry-run             # CPU, 32 px and narrow nets: checks the script

Runs train/stargan_v1/solver.py's Solver.iteration (the loop's unit of work: a D update, a G update
every n_critic = 5) on CelebA-style batches held in memory on the device, so no decoding or copying
is timed: a handful of rendered faces (starbatch.synthetic) are decoded once and cycled. The count
after warm-up is a multiple of n_critic, so G updates are in the share they have in a real run.
--dry-run: CPU, fp32 only (bf16 autocast needs a GPU), tiny nets and a few iterations; its numbers
mean nothing.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

OFFICIAL = dict(image_size=128, batch_size=16, g_conv_dim=64, d_conv_dim=64, g_repeat_num=6, d_repeat_num=6)
TINY = dict(image_size=32, batch_size=2, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=2)
CACHED_BATCHES = 4


class InMemoryBatches:
    """Stands in for a data set's BatchStream: batch k is one of a few decoded ones, on the device."""

    def __init__(self, stream, device: torch.device):
        from starbatch.train.data import Batch

        self.batches = [Batch(b.images.to(device), b.labels.to(device))
                        for b in (stream.make(k) for k in range(CACHED_BATCHES))]

    def __getitem__(self, k: int):
        return self.batches[k % len(self.batches)]


def iterations_per_second(faces: Path, out: Path, shape: dict, precision: str, device: torch.device,
                          warmup: int, timed: int) -> float:
    from starbatch.train.settings import TrainSettings
    from starbatch.train.stargan_v1.solver import Solver

    settings = TrainSettings(out=str(out), dataset="celeba", celeba_dir=str(faces / "celeba"),
                             iters=10**6, precision=precision, sample_every=0, **shape)
    solver = Solver(settings, device=device)
    for part in solver.parts:
        part.stream = InMemoryBatches(part.stream, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(warmup):  # Triton and cuDNN pick and compile their kernels here
        solver.iteration(i)
    sync()
    start = time.perf_counter()
    for i in range(warmup, warmup + timed):
        solver.iteration(i)
    sync()
    return timed / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", nargs="+", choices=("bf16", "fp32"), default=["bf16", "fp32"])
    parser.add_argument("--warmup", type=int, default=10, help="iterations before the timing")
    parser.add_argument("--iters", type=int, default=25, help="timed iterations (a multiple of n_critic = 5)")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny nets, fp32, 1 + 5 iterations")
    args = parser.parse_args()
    if args.dry_run:
        device, shape = torch.device("cpu"), TINY
        args.precisions, args.warmup, args.iters = ["fp32"], 1, 5
        print(f"DRY RUN on the CPU (32 px, narrow nets, fp32; numbers mean nothing), torch {torch.__version__}")
    elif not torch.cuda.is_available():
        sys.exit("benchmarks/train_speed.py needs a CUDA GPU: no results without one (--dry-run checks "
                 "the script on the CPU).")
    else:
        device, shape = torch.device("cuda"), OFFICIAL
        torch.backends.cudnn.benchmark = True
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    from starbatch.synthetic.faces import make_faces

    print(f"official v1 solver: {shape}, n_critic 5, {args.warmup} warm-up + {args.iters} timed iterations")
    with tempfile.TemporaryDirectory() as tmp:
        faces = Path(tmp) / "faces"
        # a tenth goes to the test split: enough faces for one training batch and a little more
        make_faces(faces, shape["batch_size"] * 2 + 4, seed=0, rafd_identities=1)
        rates = {}
        for precision in args.precisions:
            rates[precision] = iterations_per_second(faces, Path(tmp) / f"run-{precision}", shape, precision,
                                                     device, args.warmup, args.iters)
            images = rates[precision] * shape["batch_size"]
            print(f"{precision:5s} {rates[precision]:8.2f} it/s  ({images:.0f} real images/s through D)", flush=True)
    parts = [f"{p} {r:.2f} it/s" for p, r in rates.items()]
    ratio = f", bf16 x{rates['bf16'] / rates['fp32']:.2f} fp32" if {"bf16", "fp32"} <= rates.keys() else ""
    print(f"summary: training {shape['image_size']} px batch {shape['batch_size']}: {', '.join(parts)}{ratio}")


if __name__ == "__main__":
    main()
