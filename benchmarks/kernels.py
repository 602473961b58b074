"""GB/s of the fused norms on the StarGAN generators' real layer shapes (needs a CUDA GPU).

    python benchmarks/kernels.py --batch 16 --size 128 --v2-size 256 --dtype bf16
    python benchmarks/kernels.py --dry-run    # CPU, tiny shapes: checks the script, not a GPU

Each op is timed three ways: PyTorch eager (the official layers' ops), torch.compile of the same,
and starbatch's kernel. GB/s counts the bytes an ideal kernel moves: read x (and the residual),
write the output; backward reads x and grad and writes dx. The yardstick is the card's measured
copy bandwidth (read and write of a 1 GiB buffer): the goal is >= 80% of it (issues 3 and 16).

v1 (StarGAN, conv_dim 64): IN + ReLU (+ label border), IN + residual. v2 (StarGAN v2's Generator,
w_hpf 1, whose shapes include w_hpf 0's): AdaIN + LeakyReLU(0.2) of the decoder, affine IN +
LeakyReLU(0.2) of the encoder and to_rgb.

--dry-run runs every row on the CPU with the PyTorch reference in the kernel's column and
torch.compile's eager backend (dynamo's trace, no code generated): its numbers mean nothing.
--only NAME keeps the rows whose op name contains NAME (repeatable); --budget-s stops starting rows
after that many seconds (the summary lines still come).
"""

import argparse
import functools
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch._functorch import config as functorch_config

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
EPS = 1e-5
V2_SLOPE = 0.2
COPY_BYTES = 2**30


def layer_shapes(batch: int, size: int, conv_dim: int = 64) -> list[tuple[str, tuple, str]]:
    """(name, NCHW shape, variant) of every norm in the v1 generator, once per distinct shape."""
    s = size
    return [
        ("first layer IN+ReLU+border", (batch, conv_dim, s, s), "border"),
        ("down 1 / up 2 IN+ReLU", (batch, conv_dim * 2, s // 2, s // 2), "relu"),
        ("down 2 / res IN+ReLU", (batch, conv_dim * 4, s // 4, s // 4), "relu"),
        ("res IN+residual", (batch, conv_dim * 4, s // 4, s // 4), "residual"),
        ("up 2 IN+ReLU", (batch, conv_dim, s, s), "relu"),
    ]


def v2_layer_shapes(batch: int, size: int, w_hpf: int = 1,
                    max_dim: int = 512) -> list[tuple[str, tuple, str]]:
    """(name, NCHW shape, variant) of every norm in the official v2 Generator, once per distinct
    shape (clovaai/stargan-v2 core/model.py): an encoder ResBlk(dim, out, downsample) normalises
    dim channels at its input and after its avg-pool; a decoder AdainResBlk(out, dim, upsample)
    out channels at its input and dim after the nearest x2 and conv1; to_rgb dim_in at full size."""
    dim, s = 2**14 // size, size
    affine, adain = [(dim, s)], []
    for _ in range(int(math.log2(size)) - 4 + (w_hpf > 0)):
        out = min(dim * 2, max_dim)
        affine += [(dim, s), (dim, s // 2)]
        adain += [(out, s // 2), (dim, s)]
        dim, s = out, s // 2
    affine += [(dim, s)] * 4  # two bottleneck blocks each side, two norms each
    adain += [(dim, s)] * 4
    rows = []
    for name, variant, planes in (("v2 dec AdaIN+LReLU", "adain", adain),
                                  ("v2 enc/to_rgb IN+LReLU", "affine_lrelu", affine)):
        for c, s in sorted(set(planes), key=lambda p: (-p[1], p[0])):
            rows.append((name, (batch, c, s, s), variant))
    return rows


# ----------------------------------------------------------------------------- the official ops
# One function per variant: torch.compile's recompile limit counts per function, and one shared
# function would run later shapes eagerly once it is reached.


def official_relu(x, weight, bias):
    return torch.relu(F.instance_norm(x, weight=weight, bias=bias, eps=EPS))


def official_residual(x, weight, bias, residual):
    return residual + F.instance_norm(x, weight=weight, bias=bias, eps=EPS)


def official_border(x, weight, bias, border):
    from starbatch.kernels.instance_norm import expand_border  # the label planes' share of conv 0

    x = x + expand_border(border, *x.shape[-2:])
    return torch.relu(F.instance_norm(x, weight=weight, bias=bias, eps=EPS))


def official_affine_lrelu(x, weight, bias):
    return F.leaky_relu(F.instance_norm(x, weight=weight, bias=bias, eps=EPS), V2_SLOPE)


def official_adain(x, gamma, beta):
    out = (1 + gamma[:, :, None, None]) * F.instance_norm(x, eps=EPS) + beta[:, :, None, None]
    return F.leaky_relu(out, V2_SLOPE)


OFFICIAL = {"relu": official_relu, "residual": official_residual, "border": official_border,
            "affine_lrelu": official_affine_lrelu, "adain": official_adain}


def fused(variant: str, backend: str):
    """starbatch's op for a variant, with the official op's arguments."""
    from starbatch.kernels import adain, instance_norm

    if variant == "adain":
        return functools.partial(adain, backend=backend)

    def op(x, weight, bias, extra=None):
        return instance_norm(x, weight, bias, eps=EPS, relu=variant != "residual",
                             negative_slope=V2_SLOPE if variant == "affine_lrelu" else 0.0,
                             residual=extra if variant == "residual" else None,
                             border=extra if variant == "border" else None, backend=backend)

    return op


def make_args(variant: str, shape: tuple, dtype: torch.dtype, layout, device: str) -> tuple:
    """x and the op's other inputs; norm parameters and styles in fp32, as under autocast."""
    n, c = shape[:2]
    x = torch.randn(shape, device=device, dtype=dtype).to(memory_format=layout)
    if variant == "adain":
        return x, torch.randn(n, c, device=device) * 0.3, torch.randn(n, c, device=device) * 0.3
    args = (x, torch.randn(c, device=device) * 0.3 + 1, torch.randn(c, device=device) * 0.3)
    if variant == "residual":
        return args + (torch.randn_like(x),)
    if variant == "border":
        return args + (torch.randn(n, c, 7, 7, device=device),)
    return args


# ----------------------------------------------------------------------------- timing


def cpu_seconds(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cuda_seconds(fn) -> float:
    from triton.testing import do_bench

    return do_bench(fn) * 1e-3


def copy_bandwidth_gbs(seconds, device: str, nbytes: int) -> float:
    """Read + write GB/s of a plain device copy: what a memory-bound kernel can hope for."""
    src = torch.empty(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    return 2 * nbytes / seconds(lambda: dst.copy_(src)) / 1e9


def peak_bandwidth_gbs() -> float | None:
    props = torch.cuda.get_device_properties(0)
    clock_khz = getattr(props, "memory_clock_rate", None)
    bus_bits = getattr(props, "memory_bus_width", None)
    if not clock_khz or not bus_bits:
        return None
    return 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9  # DDR: two transfers per clock


def bench_row(name, shape, variant, seconds, compiled, backend, dtype, layout, device, copy_gbs, stats=None):
    """The row's fwd and bwd lines; (pass, % of copy, x eager, x compile) of each go to `stats`."""
    inputs = make_args(variant, shape, dtype, layout, device)
    x = inputs[0]
    element = x.element_size() * x.numel()
    ops = {"eager": OFFICIAL[variant], "compile": compiled[variant], "fused": fused(variant, backend)}
    lines = []
    for pass_name in ("fwd", "bwd"):
        moved = element * (2 + (variant == "residual")) if pass_name == "fwd" else element * 3
        times = {}
        for label, op in ops.items():
            if pass_name == "fwd":
                run = functools.partial(op, *inputs)
            else:
                leaf = x.detach().requires_grad_()
                out = op(leaf, *inputs[1:])
                grad = torch.randn_like(out)

                def run(out=out, leaf=leaf, grad=grad):
                    return torch.autograd.grad(out, leaf, grad, retain_graph=True)
            times[label] = seconds(run)
        gbs = {k: moved / t / 1e9 for k, t in times.items()}
        if stats is not None:
            stats.append((pass_name, 100 * gbs["fused"] / copy_gbs, times["eager"] / times["fused"],
                          times["compile"] / times["fused"]))
        lines.append(f"{name:28s} {str(tuple(shape)):>22s} {pass_name:>4s} {gbs['eager']:8.0f} "
                     f"{gbs['compile']:8.0f} {gbs['fused']:8.0f}       "
                     f"{times['eager'] / times['fused']:7.2f} "
                     f"{times['compile'] / times['fused']:7.2f} "
                     f"{100 * gbs['fused'] / copy_gbs:6.0f}%")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128, help="v1 image size")
    parser.add_argument("--v2-size", type=int, default=256, help="v2 image size (official: 256)")
    parser.add_argument("--families", nargs="+", choices=("v1", "v2"), default=["v1", "v2"])
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--budget-s", type=float, default=1e9, help="start no row after this many seconds")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="only the rows whose op name contains NAME (repeatable)")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, batch 1, v1 at 16 px, v2 at 32 px, the reference for the kernel")
    args = parser.parse_args()
    if args.dry_run:
        args.batch, args.size, args.v2_size = 1, 16, 32
        device, backend, seconds, compile_backend = "cpu", "reference", cpu_seconds, "eager"
        copy_bytes = 2**24
    elif not torch.cuda.is_available():
        sys.exit("benchmarks/kernels.py needs a CUDA GPU: no results without one (--dry-run checks "
                 "the script on the CPU).")
    else:
        device, backend, seconds, compile_backend = "cuda", "triton", cuda_seconds, "inductor"
        copy_bytes = COPY_BYTES

    dtype = DTYPES[args.dtype]
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    copy_gbs = copy_bandwidth_gbs(seconds, device, copy_bytes)
    if device == "cuda":
        peak = peak_bandwidth_gbs()
        print(f"{torch.cuda.get_device_name()}, copy {copy_gbs:.0f} GB/s (spec peak "
              f"{peak or float('nan'):.0f}), torch {torch.__version__}")
    else:
        print(f"DRY RUN on the CPU (reference kernels, torch.compile's eager backend; numbers mean nothing), "
              f"copy {copy_gbs:.0f} GB/s, torch {torch.__version__}")
    print(f"{args.dtype}, batch {args.batch}, v1 {args.size}x{args.size}, v2 {args.v2_size}x"
          f"{args.v2_size}, {'channels_last' if args.channels_last else 'NCHW'}")
    print(f"{'op':28s} {'shape':>22s} {'pass':>4s} {'eager':>8s} {'compile':>8s} "
          f"{'fused':>8s} GB/s  {'x eager':>7s} {'x comp':>7s} {'% copy':>7s}")
    rows = []
    if "v1" in args.families:
        rows += layer_shapes(args.batch, args.size)
    if "v2" in args.families:
        rows += v2_layer_shapes(args.batch, args.v2_size)
    if args.only:
        rows = [row for row in rows if any(name in row[0] for name in args.only)]
    # a compiled backward donates its saved buffers unless told not to, and is then refused a
    # second run over the same graph (retain_graph), which is how the backward is timed
    functorch_config.donated_buffer = False
    compiled = {variant: torch.compile(op, backend=compile_backend) for variant, op in OFFICIAL.items()}
    stats, deadline = [], time.monotonic() + args.budget_s
    for name, shape, variant in rows:
        if time.monotonic() > deadline:
            print(f"{name:28s} {str(tuple(shape)):>22s} skipped (time budget)", flush=True)
            continue
        for line in bench_row(name, shape, variant, seconds, compiled, backend, dtype, layout,
                              device, copy_gbs, stats):
            print(line, flush=True)
    for pass_name in ("fwd", "bwd"):
        mine = [row[1:] for row in stats if row[0] == pass_name]
        if mine:
            copy, eager, comp = (sorted(column) for column in zip(*mine, strict=True))
            print(f"summary: fused {pass_name} over {len(mine)} rows: {copy[0]:.0f}-{copy[-1]:.0f}% of copy "
                  f"bandwidth (median {statistics.median(copy):.0f}%, goal >= 80%), x{statistics.median(eager):.2f} "
                  f"eager, x{statistics.median(comp):.2f} torch.compile (medians); copy {copy_gbs:.0f} GB/s")


if __name__ == "__main__":
    main()
