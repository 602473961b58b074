"""A k x k convolution with few output channels, for exported graphs: k one-row convolutions and
a fold (Col2Im) that adds their rows up.

onnxruntime's convolutions vectorise over output channels, so v1's last layer (7x7, 64 -> 3) ran at
a tenth of the speed of its other layers. As a 1x7 convolution to 3 x 7 channels, each channel one
kernel row, and a fold that sums the seven rows into place, the layer took 51 ms instead of
125-150 ms per batch of 8 at 128 px on one thread with the other core busy; G as a whole gains
1.2% on an idle machine and 4% with the other core busy (benchmarks/onnx_generator.py), with the
same output to fp32 rounding. Needs ONNX opset 18 (Col2Im).
"""

import torch
import torch.nn.functional as F
from torch import nn


class RowFoldConv(nn.Module):
    """`conv` (k x k, stride 1, padding k // 2, odd k) computed as a 1 x k convolution and a fold."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        out_channels, in_channels, k, k_w = conv.weight.shape
        if k != k_w or k % 2 == 0 or conv.stride != (1, 1) or conv.padding != (k // 2, k // 2) or conv.groups != 1:
            raise ValueError("RowFoldConv takes a square odd kernel, stride 1, 'same' padding, no groups")
        # channel (c, r) is output c's kernel row r; the fold adds what channel r computed at row i
        # to row i + r of the padded output, where a convolution reads row i - r: rows reversed
        weight = conv.weight.detach().flip(2).permute(0, 2, 1, 3)
        self.register_buffer("weight", weight.reshape(out_channels * k, in_channels, 1, k).contiguous())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.k, self.out_channels = k, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # sizes as ints: the fold's output size must be a constant in the traced graph
        n, height, width, pad = x.shape[0], int(x.shape[2]), int(x.shape[3]), self.k // 2
        rows = F.conv2d(x, self.weight, padding=(0, pad)).reshape(n, self.out_channels * self.k, height * width)
        # fold without padding, then the middle rows: the legacy exporter writes an asymmetric
        # fold padding in the wrong order
        y = F.fold(rows, (height + 2 * pad, width), (self.k, 1))[:, :, pad : pad + height]
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
