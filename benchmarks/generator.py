"""Generator images/s on a CUDA GPU: official layers against starbatch's fused forward.

    python benchmarks/generator.py                      # 128 and 256, batch 1/16/64, fp32 and bf16
    python benchmarks/generator.py --sizes 128 --batches 64 --dtypes bf16

Variants: official eager (NCHW and channels_last), torch.compile of the official module (default
and max-autotune), starbatch (Triton kernels + label fold, channels_last) with and without CUDA
graphs. Goals (issue 3): at bf16, 128x128, batch 64, starbatch >= 1.25x torch.compile of the
official module and >= 3x official fp32 eager.
"""

import argparse
import copy
import sys
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def images_per_second(fn, batch: int, seconds: float = 2.0) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        runs += 1
        if runs % 10 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    return runs * batch / (time.perf_counter() - start)


def cuda_graphed(fn, *inputs):
    """Replay fn on the given static inputs from a captured CUDA graph."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn(*inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(*inputs)
    return graph.replay


def variants(generator, x, c):
    """name -> zero-argument callable running one batch."""
    from starbatch.models.stargan_v1.networks import Generator, official_forward

    channels_last = copy.deepcopy(generator).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def official(g, images):
        return lambda: official_forward(g, images, c)

    compiled = torch.compile(lambda images, labels: official_forward(generator, images, labels))
    autotuned = torch.compile(lambda images, labels: official_forward(generator, images, labels),
                              mode="max-autotune")
    fused = Generator(conv_dim=64, c_dim=5, fused=True, fold_labels=True).to(x.device, x.dtype)
    fused.load_state_dict(generator.state_dict())
    fused = fused.to(memory_format=torch.channels_last)
    return {
        "official eager": official(generator, x),
        "official eager channels_last": official(channels_last, x_cl),
        "torch.compile(official)": lambda: compiled(x, c),
        "torch.compile(official, max-autotune)": lambda: autotuned(x, c),
        "starbatch": lambda: fused(x_cl, c),
        "starbatch + CUDA graph": cuda_graphed(fused, x_cl, c),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--dtypes", choices=DTYPES, nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks/generator.py needs a CUDA GPU: no results without one.")
    from starbatch.models.stargan_v1.networks import Generator

    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    for size in args.sizes:
        for batch in args.batches:
            baseline = None  # official fp32 eager at this size and batch
            for dtype_name in ["fp32"] + [d for d in args.dtypes if d != "fp32"]:
                dtype = DTYPES[dtype_name]
                torch.manual_seed(0)
                generator = Generator(conv_dim=64, c_dim=5, fused=False).cuda().to(dtype)  # the official layers
                x = (torch.rand(batch, 3, size, size, device="cuda") * 2 - 1).to(dtype)
                c = torch.randint(0, 2, (batch, 5), device="cuda").to(dtype)
                rates = {}
                with torch.inference_mode():
                    for name, fn in variants(generator, x, c).items():
                        rates[name] = images_per_second(fn, batch, args.seconds)
                baseline = baseline or rates["official eager"]  # fp32 runs first
                if dtype_name not in args.dtypes:
                    continue
                compiled = rates["torch.compile(official)"]
                for name, rate in rates.items():
                    print(f"{size:4d}  batch {batch:3d}  {dtype_name}  {name:38s} "
                          f"{rate:9.1f} img/s  x{rate / baseline:5.2f} vs official fp32 eager  "
                          f"x{rate / compiled:5.2f} vs compile")
    print("goals: bf16 128 batch 64 starbatch >= 1.25x compile and >= 3x official fp32 eager")


if __name__ == "__main__":
    main()
