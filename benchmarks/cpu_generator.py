"""Eager CPU time of the generator forward: official layers against starbatch's fused forward.

    python benchmarks/cpu_generator.py --batch 16 --size 128
"""

import argparse
import time

import torch

from starbatch.models.stargan_v1.networks import Generator, official_forward


def seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = Generator(conv_dim=64, c_dim=5, repeat_num=6)
    folded = Generator(conv_dim=64, c_dim=5, repeat_num=6, fold_labels=True)
    folded.load_state_dict(generator.state_dict())
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    c = torch.randint(0, 2, (args.batch, 5)).float()
    runs = {
        "official": lambda: official_forward(generator, x, c),
        "starbatch (reference, no fold)": lambda: generator(x, c),
        "starbatch (reference, label fold)": lambda: folded(x, c),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch}, {args.size}x{args.size}, best of {args.repeats}")
    with torch.inference_mode():
        base = None
        for name, fn in runs.items():
            t = seconds(fn, args.repeats)
            base = base or t
            print(f"{name:36s} {t * 1000:9.1f} ms  {args.batch / t:7.2f} images/s  x{base / t:.3f}")


if __name__ == "__main__":
    main()
