"""A race check by repetition: the same inputs launched many times give bitwise identical outputs.

The kernels are meant to be deterministic (each program owns whole (n, c) planes, no atomics; the
backward's per-sample partials are summed by the launcher), so any difference between launches is
a race or an uninitialised read. On the GPU (STARBATCH_TEST_DEVICE=cuda) programs really run at
once, on the generators' layer shapes, many launches queued back to back; under the interpreter
programs run one after another, so there it checks only that the test itself runs (DESIGN.md).
"""

import pytest
import torch

from starbatch.kernels import adain, instance_norm

# (name, NCHW shape, channels_last, variant) on the GPU: v1 at 128 px batch 16 (several tiles per
# plane, one tile per plane with split channels, channels_last) and a v2 decoder AdaIN.
GPU_CASES = [
    ("v1 first layer, multi-tile", (16, 64, 128, 128), False, "relu_border"),
    ("v1 residual", (16, 256, 32, 32), False, "residual"),
    ("v1 down, channels_last", (16, 128, 64, 64), True, "relu"),
    ("v2 AdaIN", (16, 256, 64, 64), False, "adain"),
]
CPU_CASES = [  # the interpreter costs milliseconds per program: tiny, with one multi-tile plane
    ("multi-tile", (1, 1, 65, 65), False, "relu_border"),
    ("residual", (2, 3, 9, 10), False, "residual"),
    ("channels_last", (2, 6, 9, 10), True, "relu"),
    ("adain", (2, 3, 11, 10), False, "adain"),
]
REPEATS = {"cuda": 50, "cpu": 2}


def make_case(shape, channels_last, variant, device, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    n, c = shape[:2]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(shape, generator=gen).to(device, dtype).to(memory_format=layout)
    per_sample = variant == "adain"
    scale = torch.randn((n, c) if per_sample else (c,), generator=gen).to(device) * 0.5 + (0 if per_sample else 1)
    shift = (torch.randn(scale.shape, generator=gen) * 0.5).to(device)
    extra = None
    if variant == "residual":
        extra = torch.randn(shape, generator=gen).to(device, dtype).to(memory_format=layout)
    elif variant == "relu_border":
        extra = torch.randn(n, c, 7, 7, generator=gen).to(device)
    grad = torch.randn(shape, generator=gen).to(device, dtype).to(memory_format=layout)
    return x, scale, shift, extra, grad


def forward_and_backward(variant, x, scale, shift, extra, grad):
    """(out, and the gradient of every input that has one), the kernels forced."""
    leaves = [t.detach().requires_grad_() for t in (x, scale, shift)]
    if variant == "relu_border":
        leaves.append(extra.detach().requires_grad_())
    if variant == "adain":
        out = adain(*leaves, backend="triton")
    else:
        out = instance_norm(*leaves[:3], relu=variant != "residual",
                            residual=extra if variant == "residual" else None,
                            border=leaves[3] if variant == "relu_border" else None, backend="triton")
    return [out.detach(), *torch.autograd.grad(out, leaves, grad)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("case", range(len(GPU_CASES)), ids=[c[0] for c in GPU_CASES])
def test_many_launches_on_the_same_inputs_are_bitwise_identical(case, dtype, device):
    name, shape, channels_last, variant = (GPU_CASES if device.type == "cuda" else CPU_CASES)[case]
    inputs = make_case(shape, channels_last, variant, device, dtype)
    first = forward_and_backward(variant, *inputs)
    runs = [forward_and_backward(variant, *inputs) for _ in range(REPEATS[device.type])]
    for k, run in enumerate(runs, 1):  # compared only after all were queued: launches overlap
        for i, (a, b) in enumerate(zip(first, run, strict=True)):
            differ = (a != b).sum().item()
            assert differ == 0, f"{name}: launch {k}, output {i}: {differ} of {a.numel()} values differ"
