"""The fused instance-norm kernels against their PyTorch reference, under the Triton interpreter,
or compiled on the GPU with STARBATCH_TEST_DEVICE=cuda (the `device` fixture, tests/conftest.py).

Shapes are small on purpose: the interpreter costs milliseconds per program.
"""

import pytest
import torch

from starbatch.kernels import instance_norm, instance_norm_reference
from starbatch.kernels.instance_norm import MAX_TILE, instance_norm_backward_op, instance_norm_op

EPS = 1e-5
# (shape, mean offset): batch 1, non-powers of two, planes of several tiles, a large mean.
SHAPES = [
    ((1, 3, 7, 7), 0.0),
    ((2, 5, 9, 13), 0.0),
    ((1, 2, 67, 71), 0.0),  # 4757 pixels > MAX_TILE: the multi-tile (Chan) path
    ((2, 3, 11, 10), 1000.0),
    ((1, 2, 65, 65), 1000.0),
]
VARIANTS = {  # the generator's three uses
    "relu": dict(relu=True),
    "residual": dict(relu=False, residual=True),
    "relu_border": dict(relu=True, border=True),
}


def make_inputs(shape, offset, variant, dtype=torch.float32, channels_last=False, seed=0, device="cpu"):
    """x, weight, bias and (optional) residual and border on `device`, drawn on the CPU (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    n, c = shape[:2]
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + offset
    inputs = {
        "x": x,
        "weight": torch.randn(c, generator=gen, dtype=torch.float64) * 0.5 + 1,
        "bias": torch.randn(c, generator=gen, dtype=torch.float64) * 0.5,
        "residual": torch.randn(shape, generator=gen, dtype=torch.float64)
        if VARIANTS[variant].get("residual") else None,
        "border": torch.randn((n, c, 7, 7), generator=gen, dtype=torch.float64)
        if VARIANTS[variant].get("border") else None,
    }
    cast = {}
    for name, tensor in inputs.items():
        if tensor is None:
            cast[name] = None
            continue
        # x and the residual carry the activation dtype; norm parameters stay fp32 (as in autocast)
        t = tensor.to(dtype if name in ("x", "residual") else torch.float32)
        if channels_last and t.dim() == 4 and name != "border":
            t = t.to(memory_format=torch.channels_last)
        cast[name] = t.to(device)
    return cast


def run(inputs, variant, backend, requires_grad=False, ref_dtype=None):
    leaves = {k: (v.to(ref_dtype) if ref_dtype else v).detach().requires_grad_(requires_grad)
              if v is not None else None for k, v in inputs.items()}
    out = instance_norm(leaves["x"], leaves["weight"], leaves["bias"], eps=EPS,
                        relu=VARIANTS[variant]["relu"], residual=leaves["residual"],
                        border=leaves["border"], backend=backend)
    return out, leaves


def assert_close(actual, expected, tol):
    """max |actual - expected| <= tol * max(1, max |expected|)."""
    scale = max(1.0, expected.abs().max().item())
    error = (actual.double() - expected.double()).abs().max().item()
    assert error <= tol * scale, f"max abs error {error:.3g} > {tol * scale:.3g}"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape,offset", SHAPES)
def test_forward_matches_reference_in_fp32(shape, offset, variant, device):
    inputs = make_inputs(shape, offset, variant, device=device)
    out, _ = run(inputs, variant, "triton")
    expected, _ = run(inputs, variant, "reference", ref_dtype=torch.float64)
    assert out.dtype == torch.float32
    assert_close(out, expected, 2e-6)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape,offset", SHAPES[:3])
def test_every_gradient_matches_reference_in_fp32(shape, offset, variant, device):
    inputs = make_inputs(shape, offset, variant, device=device)
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(device)
    out, leaves = run(inputs, variant, "triton", requires_grad=True)
    expected, ref_leaves = run(inputs, variant, "reference", requires_grad=True,
                               ref_dtype=torch.float64)
    names = [k for k, v in leaves.items() if v is not None]
    grads = torch.autograd.grad(out, [leaves[k] for k in names], grad)
    ref_grads = torch.autograd.grad(expected, [ref_leaves[k] for k in names], grad.double())
    for name, g, ref in zip(names, grads, ref_grads, strict=True):
        assert g.dtype == leaves[name].dtype and g.shape == leaves[name].shape, name
        assert_close(g, ref, 2e-5)


def test_gradients_hold_at_a_mean_of_1000(device):
    inputs = make_inputs((1, 2, 65, 65), 1000.0, "relu_border", device=device)
    grad = torch.randn(1, 2, 65, 65, generator=torch.Generator().manual_seed(1)).to(device)
    out, leaves = run(inputs, "relu_border", "triton", requires_grad=True)
    expected, ref_leaves = run(inputs, "relu_border", "reference", requires_grad=True,
                               ref_dtype=torch.float64)
    names = ["x", "weight", "bias", "border"]
    grads = torch.autograd.grad(out, [leaves[k] for k in names], grad)
    ref_grads = torch.autograd.grad(expected, [ref_leaves[k] for k in names], grad.double())
    for g, ref in zip(grads, ref_grads, strict=True):
        assert_close(g, ref, 2e-5)


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2**-10), (torch.bfloat16, 2**-7)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_half_precision_inputs_are_within_one_rounding(dtype, tol, variant, device):
    inputs = make_inputs((2, 3, 67, 9), 0.0, variant, dtype=dtype, device=device)
    out, _ = run(inputs, variant, "triton")
    expected, _ = run(inputs, variant, "reference", ref_dtype=torch.float64)
    assert out.dtype == dtype
    # statistics in fp32: one rounding of the output, at most one ulp of |out| <= 8
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("variant", VARIANTS)
def test_half_precision_gradients(variant, device):
    inputs = make_inputs((2, 3, 9, 11), 0.0, variant, dtype=torch.bfloat16, device=device)
    grad = torch.randn(2, 3, 9, 11, generator=torch.Generator().manual_seed(1)).to(device)
    out, leaves = run(inputs, variant, "triton", requires_grad=True)
    expected, ref_leaves = run(inputs, variant, "reference", requires_grad=True,
                               ref_dtype=torch.float64)
    dx, = torch.autograd.grad(out, leaves["x"], grad.bfloat16())
    ref_dx, = torch.autograd.grad(expected, ref_leaves["x"], grad.bfloat16().double())
    assert dx.dtype == torch.bfloat16
    torch.testing.assert_close(dx.double(), ref_dx, rtol=2**-7, atol=2**-7)


@pytest.mark.parametrize("variant", VARIANTS)
def test_channels_last_stays_channels_last_and_matches(variant, device):
    inputs = make_inputs((2, 6, 9, 10), 0.0, variant, channels_last=True, device=device)
    grad = torch.randn(2, 6, 9, 10, generator=torch.Generator().manual_seed(1)).to(device)
    out, leaves = run(inputs, variant, "triton", requires_grad=True)
    expected, ref_leaves = run(inputs, variant, "reference", requires_grad=True,
                               ref_dtype=torch.float64)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert_close(out, expected, 2e-6)
    dx, = torch.autograd.grad(out, leaves["x"], grad.to(memory_format=torch.channels_last))
    ref_dx, = torch.autograd.grad(expected, ref_leaves["x"], grad.double())
    assert dx.is_contiguous(memory_format=torch.channels_last)
    assert_close(dx, ref_dx, 2e-5)


def test_reference_is_the_official_layers():
    inputs = make_inputs((2, 4, 9, 9), 0.0, "residual")
    norm = torch.nn.InstanceNorm2d(4, affine=True)
    with torch.no_grad():
        norm.weight.copy_(inputs["weight"])
        norm.bias.copy_(inputs["bias"])
    x = inputs["x"]
    official = inputs["residual"] + norm(x)
    out = instance_norm_reference(x, inputs["weight"], inputs["bias"], eps=EPS,
                                  residual=inputs["residual"])
    assert torch.equal(out, official)
    assert torch.equal(instance_norm_reference(x, norm.weight, norm.bias, relu=True),
                       torch.relu(norm(x)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp64_gradcheck(variant, device):
    inputs = make_inputs((1, 1, 7, 7), 0.0, variant, dtype=torch.float64, device=device)
    x, weight, bias, border = (inputs[k].double().requires_grad_() if inputs[k] is not None
                               else None for k in ("x", "weight", "bias", "border"))
    residual = inputs["residual"]  # its gradient is the incoming one, compared above

    def op(x, weight, bias, border):
        return instance_norm_op(x, weight, bias, border, residual, EPS,
                                VARIANTS[variant]["relu"])[0]

    # full mode: fast mode's random projections missed a dropped term of dx in a trial
    assert torch.autograd.gradcheck(op, (x, weight, bias, border), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_opcheck(variant, device):
    inputs = make_inputs((2, 3, 7, 9), 0.0, variant, device=device)
    x, weight, bias = (inputs[k].requires_grad_() for k in ("x", "weight", "bias"))
    relu = VARIANTS[variant]["relu"]
    torch.library.opcheck(instance_norm_op,
                          (x, weight, bias, inputs["border"], inputs["residual"], EPS, relu))
    with torch.no_grad():
        out, mean, rstd = instance_norm_op(x, weight, bias, inputs["border"], None, EPS, relu)
    torch.library.opcheck(instance_norm_backward_op,
                          (torch.randn_like(out), x.detach(), weight.detach(), bias.detach(),
                           inputs["border"], mean, rstd, relu))


def test_torch_compile_traces_the_op(device):
    inputs = make_inputs((2, 3, 9, 9), 0.0, "relu", device=device)

    def layer(x, weight, bias):
        return instance_norm(x * 2, weight, bias, relu=True, backend="triton") + 1

    compiled = torch.compile(layer, fullgraph=True)
    x = inputs["x"].requires_grad_()
    out = compiled(x, inputs["weight"], inputs["bias"])
    expected = layer(x, inputs["weight"], inputs["bias"])
    assert_close(out, expected.detach(), 1e-6)
    dx, = torch.autograd.grad(out.square().sum(), x)
    ref_dx, = torch.autograd.grad(expected.square().sum(), x)
    assert_close(dx, ref_dx, 1e-6)


def test_a_border_needs_planes_of_7_pixels(device):
    inputs = make_inputs((1, 2, 7, 7), 0.0, "relu_border", device=device)
    with pytest.raises(ValueError, match="7x7"):
        instance_norm(inputs["x"][..., :6], inputs["weight"], inputs["bias"],
                      border=inputs["border"], backend="triton")


def test_multi_tile_shapes_really_exceed_one_tile():
    assert 67 * 71 > MAX_TILE and 65 * 65 > MAX_TILE
