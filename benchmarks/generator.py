"""Generator images/s on a CUDA GPU: official layers against starbatch's fused forward.

    python benchmarks/generator.py                      # 128 and 256, batch 1/16/64, fp32 and bf16
    python benchmarks/generator.py --sizes 128 --batches 64 --dtypes bf16 --budget-s 60
    python benchmarks/generator.py --dry-run            # CPU, tiny: checks the script, not a GPU

v1 (StarGAN, conv_dim 64, 6 residual blocks): official eager (NCHW and channels_last),
torch.compile of the official module (default, and max-autotune where the budget allows),
starbatch (Triton kernels + label fold, channels_last) with and without a CUDA graph. v2 (StarGAN
v2's official 256 px Generator, w_hpf 0 and 1 with FAN masks computed once, outside the timing):
eager, channels_last and torch.compile; it has no fused path yet. Goals (issue 3): bf16, 128x128,
batch 64: starbatch >= 1.25x torch.compile of the official module and >= 3x official fp32 eager.

Work is done most important first and stops at --budget-s: v1 at 128 px batch 64, the other
v1 points, v2, then max-autotune (its compile alone can take minutes); what the budget cut is
printed as skipped. Each compile starts from a reset dynamo with static shapes, so one point's
graphs never leak into another's. --dry-run runs the same code on the CPU (the fused column is the
PyTorch reference, torch.compile only traces (its eager backend), no CUDA graphs): its numbers mean
nothing.
"""

import argparse
import copy
import sys
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
GOAL = (128, 64, "bf16")  # size, batch, dtype of issue 3's goals


class Bench:
    """Device, compile backend, timing and the time budget of one run."""

    def __init__(self, dry_run: bool, seconds: float, budget_s: float):
        self.dry_run = dry_run
        self.device = torch.device("cpu" if dry_run else "cuda")
        self.compile_backend = "eager" if dry_run else "inductor"  # dynamo's trace, no code generated
        self.seconds = seconds
        self.deadline = time.monotonic() + budget_s

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def images_per_second(self, fn, batch: int) -> float:
        for _ in range(2 if self.dry_run else 3):
            fn()
        self.sync()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < self.seconds or runs == 0:
            fn()
            runs += 1
            if runs % 10 == 0:
                self.sync()
        self.sync()
        return runs * batch / (time.perf_counter() - start)

    def compile(self, fn, mode: str | None = None):
        torch._dynamo.reset()  # no cache entries from earlier points: each point compiles its own graph
        if self.compile_backend != "inductor":
            return torch.compile(fn, backend=self.compile_backend, dynamic=False)
        return torch.compile(fn, mode=mode, dynamic=False)


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


# ----------------------------------------------------------------------------- v1


def v1_generator(bench: Bench, dtype, fused: bool):
    from starbatch.models.stargan_v1.networks import Generator

    conv_dim, repeat_num = (8, 2) if bench.dry_run else (64, 6)
    torch.manual_seed(0)
    return Generator(conv_dim=conv_dim, c_dim=5, repeat_num=repeat_num, fused=fused,
                     fold_labels=True if fused else None).to(bench.device, dtype)


def v1_variants(bench: Bench, generator, x, c, autotune: bool):
    """name -> zero-argument callable running one batch of the v1 generator."""
    from starbatch.models.stargan_v1.networks import official_forward

    if autotune:
        tuned = bench.compile(lambda images, labels: official_forward(generator, images, labels),
                              mode="max-autotune")
        return {"torch.compile(official, max-autotune)": lambda: tuned(x, c)}
    channels_last = copy.deepcopy(generator).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    compiled = bench.compile(lambda images, labels: official_forward(generator, images, labels))
    fused = v1_generator(bench, x.dtype, fused=True)
    fused.load_state_dict(generator.state_dict())
    fused = fused.to(memory_format=torch.channels_last)
    runs = {
        "official eager": lambda: official_forward(generator, x, c),
        "official eager channels_last": lambda: official_forward(channels_last, x_cl, c),
        "torch.compile(official)": lambda: compiled(x, c),
        "starbatch": lambda: fused(x_cl, c),
    }
    if bench.device.type == "cuda":
        runs["starbatch + CUDA graph"] = cuda_graphed(fused, x_cl, c)
    return runs


def v1_inputs(bench: Bench, size: int, batch: int, dtype):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, 3, size, size, generator=gen) * 2 - 1).to(bench.device, dtype)
    c = torch.randint(0, 2, (batch, 5), generator=gen).to(bench.device, dtype)
    return x, c


def report(size, batch, dtype_name, rates, baseline, compiled, family="v1") -> None:
    for name, rate in rates.items():
        versus_compile = f"x{rate / compiled:5.2f} vs compile" if compiled else ""
        print(f"{family} {size:4d}  batch {batch:3d}  {dtype_name}  {name:40s} {rate:9.1f} img/s  "
              f"x{rate / baseline:5.2f} vs official fp32 eager  {versus_compile}", flush=True)


def run_v1_point(bench: Bench, size: int, batch: int, dtypes: list[str], results: dict) -> None:
    """All v1 variants at one size and batch (the fp32 eager baseline first, whatever dtypes)."""
    with torch.inference_mode():
        generator = v1_generator(bench, torch.float32, fused=False)
        x, c = v1_inputs(bench, size, batch, torch.float32)
        from starbatch.models.stargan_v1.networks import official_forward

        baseline = bench.images_per_second(lambda: official_forward(generator, x, c), batch)
        results[(size, batch, "fp32 baseline")] = baseline
        for dtype_name in dtypes:
            if bench.left() <= 0:
                print(f"v1 {size:4d}  batch {batch:3d}  {dtype_name}  skipped (time budget)", flush=True)
                continue
            dtype = DTYPES[dtype_name]
            generator = v1_generator(bench, dtype, fused=False)
            x, c = v1_inputs(bench, size, batch, dtype)
            rates = {name: bench.images_per_second(fn, batch)
                     for name, fn in v1_variants(bench, generator, x, c, autotune=False).items()}
            results[(size, batch, dtype_name)] = rates
            report(size, batch, dtype_name, rates, baseline, rates["torch.compile(official)"])


def run_v1_autotune(bench: Bench, size: int, batch: int, dtype_name: str, results: dict) -> None:
    with torch.inference_mode():
        generator = v1_generator(bench, DTYPES[dtype_name], fused=False)
        x, c = v1_inputs(bench, size, batch, DTYPES[dtype_name])
        started = time.monotonic()
        (name, fn), = v1_variants(bench, generator, x, c, autotune=True).items()
        rate = bench.images_per_second(fn, batch)
        print(f"v1 {size:4d}  batch {batch:3d}  {dtype_name}  (max-autotune compile and timing took "
              f"{time.monotonic() - started:.0f} s)", flush=True)
    rates = results.setdefault((size, batch, dtype_name), {})
    rates[name] = rate
    report(size, batch, dtype_name, {name: rate}, results[(size, batch, "fp32 baseline")],
           rates.get("torch.compile(official)"))


# ----------------------------------------------------------------------------- v2


def v2_variants(bench: Bench, generator, x, s, masks):
    """name -> zero-argument callable running one batch of the v2 generator."""
    channels_last = copy.deepcopy(generator).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    masks_cl = tuple(m.contiguous(memory_format=torch.channels_last) for m in masks) if masks else None
    compiled = bench.compile(generator)
    return {"official eager": lambda: generator(x, s, masks),
            "official eager channels_last": lambda: channels_last(x_cl, s, masks_cl),
            "torch.compile(official)": lambda: compiled(x, s, masks)}


def run_v2_point(bench: Bench, w_hpf: int, batch: int, dtypes: list[str]) -> None:
    """StarGAN v2's official Generator (256 px; --dry-run: 32 px, narrow) at one batch size."""
    from starbatch.models.stargan_v2.fan import FAN
    from starbatch.models.stargan_v2.networks import Generator

    size, style_dim, max_dim = (32, 16, 32) if bench.dry_run else (256, 64, 512)
    with torch.inference_mode():
        torch.manual_seed(0)
        x = torch.rand(batch, 3, size, size, device=bench.device) * 2 - 1
        s = torch.randn(batch, style_dim, device=bench.device)
        masks = FAN().to(bench.device).get_heatmap(x) if w_hpf else None  # outside the timing
        baseline = None
        for dtype_name in ["fp32"] + [d for d in dtypes if d != "fp32"]:
            if bench.left() <= 0:
                print(f"v2 {size:4d}  batch {batch:3d}  {dtype_name}  w_hpf {w_hpf}  skipped (time budget)")
                continue
            dtype = DTYPES[dtype_name]
            torch.manual_seed(0)
            dim_in = 8 if bench.dry_run else 0
            generator = Generator(size, style_dim, max_dim, w_hpf, dim_in).to(bench.device, dtype)
            md = tuple(m.to(dtype) for m in masks) if masks is not None else None
            rates = {name: bench.images_per_second(fn, batch)
                     for name, fn in v2_variants(bench, generator, x.to(dtype), s.to(dtype), md).items()}
            baseline = baseline or rates["official eager"]  # fp32 runs first
            if dtype_name in dtypes:
                report(size, batch, dtype_name, rates, baseline, rates["torch.compile(official)"],
                       family=f"v2 w_hpf {w_hpf}")


# ----------------------------------------------------------------------------- main


def print_goals(results: dict, goal: tuple[int, int, str]) -> None:
    size, batch, dtype_name = goal
    rates = results.get((size, batch, dtype_name))
    if not rates or "starbatch" not in rates:
        print(f"summary: goal point {size} px batch {batch} {dtype_name} not measured")
        return
    ours = max(rates.get("starbatch", 0.0), rates.get("starbatch + CUDA graph", 0.0))
    baseline = results[(size, batch, "fp32 baseline")]
    best_compile = max(v for k, v in rates.items() if k.startswith("torch.compile"))
    print(f"summary: v1 {size} px batch {batch} {dtype_name}: starbatch {ours:.1f} img/s = "
          f"x{ours / best_compile:.2f} the best torch.compile (goal >= 1.25), "
          f"x{ours / baseline:.2f} official fp32 eager (goal >= 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 16, 1])
    parser.add_argument("--dtypes", choices=DTYPES, nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--seconds", type=float, default=0.5, help="timed seconds per variant")
    parser.add_argument("--budget-s", type=float, default=1e9, help="stop starting new work after this")
    parser.add_argument("--v2-batches", type=int, nargs="*", default=[16], help="v2 batch sizes (none: no v2)")
    parser.add_argument("--autotune", choices=("goal", "none", "all"), default="goal",
                        help="where max-autotune runs: the goal point (then 128 px batch 64 fp32), nowhere, everywhere")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, 16 px, batch 1, a narrow G: checks the script, not a GPU")
    args = parser.parse_args()
    if args.dry_run:
        args.sizes, args.batches, args.v2_batches = [16], [1], args.v2_batches and [1]
        args.seconds = min(args.seconds, 0.05)
    elif not torch.cuda.is_available():
        sys.exit("benchmarks/generator.py needs a CUDA GPU: no results without one (--dry-run checks "
                 "the script on the CPU).")
    bench = Bench(args.dry_run, args.seconds, args.budget_s)
    if bench.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    else:
        print(f"DRY RUN on the CPU (reference kernels, torch.compile's eager backend, no CUDA graphs, a narrow G; "
              f"numbers mean nothing), torch {torch.__version__}")
    points = sorted(((s, b) for s in args.sizes for b in args.batches),
                    key=lambda p: (p != GOAL[:2], p[0], -p[1]))
    results: dict = {}
    for size, batch in points:
        if bench.left() <= 0:
            print(f"v1 {size:4d}  batch {batch:3d}  skipped (time budget)")
            continue
        run_v1_point(bench, size, batch, args.dtypes, results)
    for batch in args.v2_batches:
        for w_hpf in (1,) if args.dry_run else (1, 0):  # the dry run: the masked path alone
            run_v2_point(bench, w_hpf, batch, args.dtypes)
    # the dry run's goal point is its first, so the summary line is exercised too
    goal = GOAL if not args.dry_run else (*points[0], args.dtypes[-1])
    if args.autotune == "all":
        tuned = [(s, b, d) for s, b in points for d in args.dtypes]
    elif args.autotune == "goal":
        tuned = [(goal[0], goal[1], d) for d in (goal[2], "fp32")[: 1 if args.dry_run else 2]
                 if d in args.dtypes and (goal[0], goal[1]) in points]
        tuned = list(dict.fromkeys(tuned))
    else:
        tuned = []
    for size, batch, dtype_name in tuned:
        if bench.left() <= 0:
            print(f"v1 {size:4d}  batch {batch:3d}  {dtype_name}  max-autotune skipped (time budget)")
            continue
        run_v1_autotune(bench, size, batch, dtype_name, results)
    print_goals(results, goal)


if __name__ == "__main__":
    main()
