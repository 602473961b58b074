"""StarGAN v2's fused norms under the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET=1),
or compiled on the GPU with STARBATCH_TEST_DEVICE=cuda (the `device` fixture):
AdaIN + LeakyReLU(0.2) with a per-sample (N, C) scale and shift, and the encoder's affine (C,)
IN + LeakyReLU(0.2), against their PyTorch references.

fp32 tolerances come from the fp64 reference run, not from a guess: a result made of m summed
terms may be off by (4 + log2 m) fp32 ulps of the largest sum of its terms' absolute values (a
tree sum adds log2 m roundings, normalising and activating a handful). Half-precision outputs may
add the one rounding to their dtype. PyTorch's own fp32 CPU path is no yardstick: at a mean of
1000 it is off by up to 10^4 of those ulps, the kernels by under 11.

Shapes are tiny on purpose: the interpreter costs milliseconds per (n, c) plane.
"""

import math
import os

import pytest
import torch
import torch.nn.functional as F

from starbatch.kernels import adain, adain_reference, instance_norm, instance_norm_reference
from starbatch.kernels.instance_norm import MAX_TILE, instance_norm_backward_op, instance_norm_op

EPS = 1e-5
SLOPE = 0.2
FP32_ULP = 2.0**-23
# one rounding to the dtype, relative: half a step, but the interpreter truncates fp32 -> bf16
# (a whole step; measured, and it ignores fp_downcast_rounding="rtne")
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
HALF_ROUNDING = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-7 if INTERPRETED else 2.0**-8}
# (shape, mean offset): minimal, unaligned, planes of several tiles, large means
SHAPES = [
    ((1, 1, 1, 2), 0.0),
    ((2, 3, 5, 7), 0.0),
    ((1, 2, 67, 71), 0.0),  # 4757 pixels > MAX_TILE: the multi-tile (Chan) path
    ((2, 3, 11, 10), 1000.0),
    ((1, 2, 65, 65), 1000.0),
]
# adain: (N, C) gamma and beta of the decoder; affine: (C,) weight and bias of the encoder, to_rgb
VARIANTS = ("adain", "affine")


def make_inputs(shape, offset, variant, seed=0, device="cpu"):
    """fp64 x, scale and shift holding fp32 values, so every run sees the same numbers (drawn on
    the CPU, then moved to `device`)."""
    gen = torch.Generator().manual_seed(seed)
    n, c = shape[:2]
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + offset
    if variant == "adain":  # gamma, beta = fc(style): around 0
        scale = torch.randn(n, c, generator=gen, dtype=torch.float64) * 0.5
    else:  # an IN weight: around 1
        scale = torch.randn(c, generator=gen, dtype=torch.float64) * 0.5 + 1
    shift = torch.randn(scale.shape, generator=gen, dtype=torch.float64) * 0.5
    grad = torch.randn(shape, generator=gen, dtype=torch.float64)
    return [t.float().double().to(device) for t in (x, scale, shift, grad)]


def fused(variant, x, scale, shift, backend):
    if variant == "adain":
        return adain(x, scale, shift, eps=EPS, backend=backend)
    return instance_norm(x, scale, shift, eps=EPS, relu=True, negative_slope=SLOPE, backend=backend)


def run(variant, inputs, backend, dtype=torch.float64, param_dtype=None, channels_last=False):
    """(out, [dx, dscale, dshift]) of the op on inputs cast to dtype (params to param_dtype)."""
    x, scale, shift, grad = inputs
    x, grad = x.to(dtype), grad.to(dtype)
    if channels_last:
        x, grad = x.to(memory_format=torch.channels_last), grad.to(memory_format=torch.channels_last)
    leaves = [t.detach().requires_grad_() for t in (x, scale.to(param_dtype or dtype),
                                                    shift.to(param_dtype or dtype))]
    out = fused(variant, *leaves, backend)
    return out, list(torch.autograd.grad(out, leaves, grad)), leaves


def fp32_bounds(variant, inputs):
    """Allowed max abs error of (out, dx, dscale, dshift) of an fp32 run, from fp64 quantities."""
    x, scale, shift, grad = inputs
    n, c, height, width = x.shape
    weight = (1 + scale if variant == "adain" else scale).view(-1, c, 1, 1)
    bias = shift.view(-1, c, 1, 1)
    x_hat = F.instance_norm(x, eps=EPS)
    rstd = (x.var(dim=(2, 3), unbiased=False, keepdim=True) + EPS).rsqrt()
    g = grad * torch.where(x_hat * weight + bias > 0, 1.0, SLOPE)  # the grad through the LReLU

    def mean_abs(t):
        return t.abs().mean(dim=(2, 3), keepdim=True)

    def ulps(terms):
        return (4 + math.log2(terms)) * FP32_ULP

    hw = height * width
    summed, terms = ((2, 3), hw) if variant == "adain" else ((0, 2, 3), n * hw)
    return [
        ulps(hw) * (weight.abs() * x_hat.abs() + bias.abs()).max().item(),
        ulps(hw) * (rstd * weight.abs() * (g.abs() + mean_abs(g)
                                           + x_hat.abs() * mean_abs(g * x_hat))).max().item(),
        ulps(terms) * (g * x_hat).abs().sum(summed).max().item(),
        ulps(terms) * g.abs().sum(summed).max().item(),
    ]


def max_error(actual, expected):
    return (actual.double() - expected.double()).abs().max().item()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape,offset", SHAPES)
def test_fp32_forward_and_every_gradient_are_within_the_fp64_bounds(shape, offset, variant, device):
    inputs = make_inputs(shape, offset, variant, device=device)
    out, grads, leaves = run(variant, inputs, "triton", torch.float32)
    expected, expected_grads, _ = run(variant, inputs, "reference")
    bounds = fp32_bounds(variant, inputs)
    assert out.dtype == torch.float32
    for name, actual, want, leaf, bound in zip(("out", "dx", "dscale", "dshift"), [out, *grads],
                                               [expected, *expected_grads], [out, *leaves], bounds,
                                               strict=True):
        assert actual.shape == leaf.shape and actual.dtype == leaf.dtype, name
        error = max_error(actual, want)
        assert error <= bound, f"{name}: max abs error {error:.3g} > {bound:.3g}"


@pytest.mark.parametrize("dtype", HALF_ROUNDING)
@pytest.mark.parametrize("variant", VARIANTS)
def test_half_precision_output_and_gradients_are_one_rounding_away(variant, dtype, device):
    """x, the grad and the style in fp16/bf16 (an IN weight stays fp32, as under autocast); the
    kernel computes in fp32 and rounds each result once."""
    inputs = [t.to(dtype).double() for t in make_inputs((2, 3, 67, 9), 0.0, variant, device=device)]
    param_dtype = dtype if variant == "adain" else torch.float32
    out, grads, leaves = run(variant, inputs, "triton", dtype, param_dtype)
    expected, expected_grads, _ = run(variant, inputs, "reference")
    rounding = HALF_ROUNDING[dtype]
    for actual, want, leaf, bound in zip([out, *grads], [expected, *expected_grads],
                                         [out, *leaves], fp32_bounds(variant, inputs), strict=True):
        assert actual.dtype == leaf.dtype
        step = rounding if actual.dtype == dtype else 0.0
        torch.testing.assert_close(actual.double(), want, rtol=step, atol=bound * (1 + step))


@pytest.mark.parametrize("variant", VARIANTS)
def test_channels_last_stays_channels_last_and_matches(variant, device):
    inputs = make_inputs((2, 6, 9, 10), 0.0, variant, device=device)
    out, grads, _ = run(variant, inputs, "triton", torch.float32, channels_last=True)
    expected, expected_grads, _ = run(variant, inputs, "reference")
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert grads[0].is_contiguous(memory_format=torch.channels_last)
    for actual, want, bound in zip([out, *grads], [expected, *expected_grads],
                                   fp32_bounds(variant, inputs), strict=True):
        assert max_error(actual, want) <= bound


def test_fp64_gradcheck_of_the_per_sample_affine_and_leaky_slope(device):
    x, scale, shift, _ = make_inputs((2, 1, 3, 4), 0.0, "adain", device=device)
    weight = (1 + scale).requires_grad_()
    leaves = (x.requires_grad_(), weight, shift.requires_grad_())

    def op(x, weight, bias):
        return instance_norm_op(x, weight, bias, None, None, EPS, True, SLOPE)[0]

    # full mode: fast mode's random projections can miss a dropped term of dx
    assert torch.autograd.gradcheck(op, leaves, eps=1e-6, atol=1e-5)


def test_opcheck_of_the_per_sample_forward_and_backward(device):
    x, scale, shift, grad = (t.float() for t in make_inputs((2, 3, 5, 6), 0.0, "adain", device=device))
    weight = 1 + scale
    torch.library.opcheck(instance_norm_op, (x.requires_grad_(), weight.requires_grad_(),
                                             shift.requires_grad_(), None, None, EPS, True, SLOPE))
    with torch.no_grad():
        _, mean, rstd = instance_norm_op(x, weight, shift, None, None, EPS, True, SLOPE)
    torch.library.opcheck(instance_norm_backward_op, (grad, x.detach(), weight.detach(),
                                                      shift.detach(), None, mean, rstd, True, SLOPE))


def test_torch_compile_traces_an_adain_layer_with_its_style_fc(device):
    """gamma and beta are strided halves of fc(style), as in the official AdaIN."""
    torch.manual_seed(0)
    fc = torch.nn.Linear(4, 2 * 3).to(device)
    x = torch.randn(2, 3, 6, 5).to(device).requires_grad_()
    style = torch.randn(2, 4).to(device)

    def layer(x, style):
        gamma, beta = fc(style).chunk(2, dim=1)
        return adain(x * 2, gamma, beta, backend="triton") + 1

    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    out, expected = compiled(x, style), layer(x, style)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    params = [x, fc.weight, fc.bias]
    for g, want in zip(torch.autograd.grad(out.square().sum(), params),
                       torch.autograd.grad(expected.square().sum(), params), strict=True):
        torch.testing.assert_close(g, want, rtol=0, atol=0)


def test_adain_reference_is_the_official_adain_and_leaky_relu():
    x, _, _, _ = make_inputs((2, 4, 5, 6), 0.0, "adain")
    torch.manual_seed(0)
    fc, norm = torch.nn.Linear(8, 2 * 4).double(), torch.nn.InstanceNorm2d(4, affine=False)
    style = torch.randn(2, 8, dtype=torch.float64)
    h = fc(style).view(2, 8, 1, 1)  # official AdaIN.forward, then the block's actv
    gamma, beta = torch.chunk(h, chunks=2, dim=1)
    official = torch.nn.LeakyReLU(0.2)((1 + gamma) * norm(x) + beta)
    gamma, beta = fc(style).chunk(2, dim=1)
    assert torch.equal(adain_reference(x, gamma, beta), official)
    assert torch.equal(adain(x, gamma, beta), official)  # on CPU, "auto" runs the reference


def test_affine_reference_is_the_official_encoder_norm_and_leaky_relu():
    x, weight, bias, _ = make_inputs((2, 4, 5, 6), 0.0, "affine")
    norm = torch.nn.InstanceNorm2d(4, affine=True).double()
    with torch.no_grad():
        norm.weight.copy_(weight)
        norm.bias.copy_(bias)
    official = torch.nn.LeakyReLU(0.2)(norm(x))  # official ResBlk: norm1, actv; to_rgb
    assert torch.equal(instance_norm_reference(x, weight, bias, relu=True, negative_slope=0.2),
                       official)


@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_a_style_of_the_wrong_shape_is_one_clear_error(backend, device):
    x, gamma, beta, _ = make_inputs((2, 3, 4, 4), 0.0, "adain", device=device)
    with pytest.raises(ValueError, match=r"gamma and beta must both be \(2, 3\).*\(2, 3, 1, 1\)"):
        adain(x, gamma[:, :, None, None], beta, backend=backend)
    with pytest.raises(ValueError, match=r"weight and bias must both be \(3,\) or \(2, 3\)"):
        instance_norm(x, gamma[:1], beta[:1], relu=True, negative_slope=SLOPE, backend=backend)


def test_multi_tile_shapes_really_exceed_one_tile():
    assert 67 * 71 > MAX_TILE and 65 * 65 > MAX_TILE
