"""GB/s of the fused instance-norm ops on the generator's real layer shapes (needs a CUDA GPU).

    python benchmarks/kernels.py --batch 16 --size 128 --dtype bf16

Each op is timed three ways: PyTorch eager (F.instance_norm, relu, add), torch.compile of the same,
and starbatch's Triton kernel. GB/s counts the bytes an ideal kernel moves: read x (and the
residual), write the output; backward reads x and grad and writes dx. The goal is >= 80% of the
GPU's memory bandwidth for the fused IN + ReLU (DESIGN.md, issue 3).
"""

import argparse
import functools
import sys

import torch
import torch.nn.functional as F

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def layer_shapes(batch: int, size: int, conv_dim: int = 64) -> list[tuple[str, tuple, str]]:
    """(name, NCHW shape, variant) of every norm in the generator, once per distinct shape."""
    s = size
    return [
        ("first layer IN+ReLU+border", (batch, conv_dim, s, s), "border"),
        ("down 1 / up 2 IN+ReLU", (batch, conv_dim * 2, s // 2, s // 2), "relu"),
        ("down 2 / res IN+ReLU", (batch, conv_dim * 4, s // 4, s // 4), "relu"),
        ("res IN+residual", (batch, conv_dim * 4, s // 4, s // 4), "residual"),
        ("up 2 IN+ReLU", (batch, conv_dim, s, s), "relu"),
    ]


def eager_op(x, weight, bias, residual, border, variant):
    if border is not None:
        from starbatch.kernels.instance_norm import expand_border

        x = x + expand_border(border, *x.shape[-2:])
    y = F.instance_norm(x, weight=weight, bias=bias, eps=1e-5)
    if variant == "residual":
        return residual + y
    return torch.relu(y)


def peak_bandwidth_gbs() -> float | None:
    props = torch.cuda.get_device_properties(0)
    clock_khz = getattr(props, "memory_clock_rate", None)
    bus_bits = getattr(props, "memory_bus_width", None)
    if not clock_khz or not bus_bits:
        return None
    return 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9  # DDR: two transfers per clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--peak-gbs", type=float, help="the GPU's memory bandwidth, if not read")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks/kernels.py needs a CUDA GPU: no results without one.")
    from triton.testing import do_bench

    from starbatch.kernels import instance_norm

    dtype = DTYPES[args.dtype]
    peak = args.peak_gbs or peak_bandwidth_gbs()
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f"{torch.cuda.get_device_name()}, peak {peak or float('nan'):.0f} GB/s, {args.dtype}, "
          f"batch {args.batch}, {args.size}x{args.size}, "
          f"{'channels_last' if args.channels_last else 'NCHW'}")
    print(f"{'op':28s} {'shape':>22s} {'pass':>4s} {'eager':>8s} {'compile':>8s} "
          f"{'triton':>8s} GB/s  {'x eager':>7s} {'x comp':>7s} {'% peak':>6s}")
    compiled_op = torch.compile(eager_op)
    for name, shape, variant in layer_shapes(args.batch, args.size):
        n, c = shape[:2]
        x = torch.randn(shape, device="cuda", dtype=dtype).to(memory_format=layout)
        weight = torch.randn(c, device="cuda") * 0.3 + 1
        bias = torch.randn(c, device="cuda") * 0.3
        residual = torch.randn_like(x) if variant == "residual" else None
        border = torch.randn(n, c, 7, 7, device="cuda") if variant == "border" else None

        def triton_op(x, weight, bias, residual, border, variant):
            return instance_norm(x, weight, bias, relu=variant != "residual", residual=residual,
                                 border=border, backend="triton")

        element = x.element_size() * x.numel()
        for pass_name in ("fwd", "bwd"):
            moved = element * (2 + (residual is not None)) if pass_name == "fwd" else element * 3
            times = {}
            for label, op in (("eager", eager_op), ("compile", compiled_op),
                              ("triton", triton_op)):
                if pass_name == "fwd":
                    run = functools.partial(op, x, weight, bias, residual, border, variant)
                else:
                    leaf = x.detach().requires_grad_()
                    out = op(leaf, weight, bias, residual, border, variant)
                    grad = torch.randn_like(out)

                    def run(out=out, leaf=leaf, grad=grad):
                        return torch.autograd.grad(out, leaf, grad, retain_graph=True)
                times[label] = do_bench(run) * 1e-3
            gbs = {k: moved / t / 1e9 for k, t in times.items()}
            share = f"{100 * gbs['triton'] / peak:5.0f}%" if peak else "     -"
            print(f"{name:28s} {str(tuple(shape)):>22s} {pass_name:>4s} {gbs['eager']:8.0f} "
                  f"{gbs['compile']:8.0f} {gbs['triton']:8.0f}       "
                  f"{times['eager'] / times['triton']:7.2f} "
                  f"{times['compile'] / times['triton']:7.2f} {share}")


if __name__ == "__main__":
    main()
