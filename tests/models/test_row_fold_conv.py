"""The row-fold convolution (exported graphs' last v1 layer) against nn.Conv2d, in torch and
through onnxruntime, within the rounding bound of an fp32 sum."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from starbatch.models.row_fold_conv import RowFoldConv

EPS32 = float(np.finfo(np.float32).eps)


def _bound(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """|error| of any order of an fp32 sum of n products: <= n * eps * sum |w x| (first order),
    doubled for the products' own rounding and the fold's separate partial sums."""
    n = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] + 1
    magnitude = F.conv2d(x.double().abs(), conv.weight.double().abs(), padding=conv.padding)
    return 2 * n * EPS32 * magnitude + 1e-30


@pytest.mark.parametrize(("in_channels", "out_channels", "k", "bias"),
                         [(16, 3, 7, False), (5, 4, 3, True), (8, 2, 5, False)])
def test_row_fold_computes_the_convolution(in_channels, out_channels, k, bias):
    torch.manual_seed(k)
    conv = nn.Conv2d(in_channels, out_channels, k, 1, k // 2, bias=bias)
    x = torch.randn(3, in_channels, 19, 23)
    with torch.no_grad():
        exact = F.conv2d(x.double(), conv.weight.double(), None if conv.bias is None else conv.bias.double(),
                         padding=conv.padding)
        folded = RowFoldConv(conv)(x)
    assert folded.shape == exact.shape
    assert ((folded.double() - exact).abs() <= _bound(conv, x)).all()


def test_row_fold_exports_and_runs_on_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 3, 7, 1, 3, bias=False)
    x = torch.randn(2, 12, 32, 24)
    buffer = io.BytesIO()
    torch.onnx.export(RowFoldConv(conv), (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=18)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    three = torch.cat([x, x[:1]])  # another batch size than traced
    got = torch.from_numpy(session.run(None, {"x": three.numpy()})[0])
    with torch.no_grad():
        exact = F.conv2d(three.double(), conv.weight.double(), padding=3)
    assert ((got.double() - exact).abs() <= _bound(conv, three)).all()


@pytest.mark.parametrize("conv", [nn.Conv2d(4, 3, 4, 1, 2), nn.Conv2d(4, 3, 3, 2, 1), nn.Conv2d(4, 3, 3, 1, 0)])
def test_row_fold_refuses_what_it_does_not_compute(conv):
    with pytest.raises(ValueError, match="square odd kernel"):
        RowFoldConv(conv)
