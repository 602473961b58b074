"""The label fold: conv on 3 channels + a (N, C, 7, 7) border table == the official concat conv."""

import pytest
import torch
import torch.nn.functional as F

from starbatch.kernels import concat_labels, first_layer, label_border_table
from starbatch.kernels.instance_norm import border_cases, expand_border, sum_border

EPS = 1e-5


def layer_inputs(n, c, size, conv_dim=6, dtype=torch.float64, seed=0, device="cpu"):
    """images, labels, conv weight, norm weight and bias on `device`, drawn on the CPU (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    images = torch.rand(n, 3, height, width, generator=gen, dtype=dtype) * 2 - 1
    labels = torch.randint(0, 2, (n, c), generator=gen).to(dtype)
    weight = torch.randn(conv_dim, 3 + c, 7, 7, generator=gen, dtype=dtype) * 0.1
    norm_weight = torch.randn(conv_dim, generator=gen, dtype=dtype) * 0.3 + 1
    norm_bias = torch.randn(conv_dim, generator=gen, dtype=dtype) * 0.3
    return tuple(t.to(device) for t in (images, labels, weight, norm_weight, norm_bias))


def official_first_layer(images, labels, weight, norm_weight, norm_bias):
    x = F.conv2d(concat_labels(images, labels), weight, padding=3)
    return torch.relu(F.instance_norm(x, weight=norm_weight, bias=norm_bias, eps=EPS))


@pytest.mark.parametrize("size", [(7, 7), (8, 13), (32, 32)])
def test_border_table_is_the_label_part_of_the_official_conv(size):
    images, labels, weight, *_ = layer_inputs(2, 5, size)
    label_term = F.conv2d(concat_labels(torch.zeros_like(images), labels), weight, padding=3)
    table = label_border_table(labels, weight[:, 3:])
    assert table.shape == (2, 6, 7, 7)
    torch.testing.assert_close(expand_border(table, *size), label_term, rtol=0, atol=1e-13)


def test_border_cases_mark_three_pixels_at_each_edge():
    assert border_cases(9, 3).tolist() == [0, 1, 2, 3, 3, 3, 4, 5, 6]
    assert border_cases(7, 3).tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_sum_border_is_the_adjoint_of_expand_border():
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(2, 3, 7, 7, generator=gen, dtype=torch.float64)
    grad = torch.randn(2, 3, 10, 12, generator=gen, dtype=torch.float64)
    # <expand(t), g> == <t, sum(g)>
    torch.testing.assert_close((expand_border(table, 10, 12) * grad).sum(),
                               (table * sum_border(grad, 3)).sum())


@pytest.mark.parametrize("c", [5, 15])  # CelebA and the joint model
@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_first_layer_matches_the_official_concat_in_fp32(backend, c, device):
    inputs = [t.float() for t in layer_inputs(2, c, (9, 11), device=device)]
    out = first_layer(*inputs, eps=EPS, backend=backend)
    expected = official_first_layer(*[t.double() for t in inputs])
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_first_layer_gradients_match_the_official_concat(backend, device):
    leaves = [t.requires_grad_() for t in layer_inputs(2, 5, (8, 9), device=device)]
    ref_leaves = [t.detach().clone().requires_grad_() for t in leaves]
    grad = torch.randn(2, 6, 8, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(device)
    out = first_layer(*leaves, eps=EPS, backend=backend)
    expected = official_first_layer(*ref_leaves)
    grads = torch.autograd.grad(out, leaves, grad)
    ref_grads = torch.autograd.grad(expected, ref_leaves, grad)
    for name, g, ref in zip(["images", "labels", "conv", "norm w", "norm b"], grads, ref_grads,
                            strict=True):
        torch.testing.assert_close(g, ref, rtol=1e-9, atol=1e-9, msg=name)


@pytest.mark.parametrize("size", [(6, 6), (5, 9), (2, 3)])
def test_images_under_7_pixels_take_the_plain_path(size, device):
    inputs = layer_inputs(1, 5, size, device=device)
    for backend in ("reference", "triton"):
        out = first_layer(*inputs, eps=EPS, backend=backend)
        torch.testing.assert_close(out, official_first_layer(*inputs), rtol=0, atol=1e-12)
