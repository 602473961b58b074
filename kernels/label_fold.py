"""The generator's label input, folded into its first layer (DESIGN.md, "The kernels", 2).

The official forward tiles the (N, c) labels to (N, c, H, W) planes and concatenates them to the
image. Convolution is linear, so with zero padding

    conv(cat[x, c planes], W) = conv(x, W_x) + sum_k c_k * conv(ones, W_k)

and the second term takes only (2r+1)^2 values per output channel: the same at every pixel more
than r = k // 2 pixels from the border, and one value per (row case, column case) near it. That
term is the official conv of the label planes on a (2r+1)^2 image, a (N, C, 7, 7) table for the
7x7 first conv; the fused norm kernel adds it (see instance_norm.py). The first conv then reads 3
channels instead of 3 + c, and the (N, c, H, W) label tensor is never made.

No Triton kernel of its own: the table is tiny and the add lives in the instance-norm kernel.
"""

import torch
import torch.nn.functional as F

from .instance_norm import instance_norm


def concat_labels(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) images and (N, c) labels -> (N, 3 + c, H, W), as the official StarGAN forward."""
    n, _, height, width = images.shape
    planes = labels.to(images.dtype).view(n, -1, 1, 1).expand(-1, -1, height, width)
    return torch.cat([images, planes], dim=1)


def label_border_table(labels: torch.Tensor, label_weight: torch.Tensor) -> torch.Tensor:
    """(N, c) labels and the first conv's label columns (C, c, k, k) -> (N, C, k, k) table.

    Entry (row, col) is the label term at a pixel of that row and column case: the official conv
    of the constant label planes over a k x k image with the same padding.
    """
    side = label_weight.shape[-1]
    planes = labels.to(label_weight.dtype)[:, :, None, None].expand(-1, -1, side, side)
    return F.conv2d(planes, label_weight, padding=side // 2)


def folds(images: torch.Tensor, conv_weight: torch.Tensor) -> bool:
    """Whether the fold applies: odd square kernel, 'same' padding, planes of at least k pixels
    (below that the top and bottom row cases overlap: the plain path runs)."""
    side = conv_weight.shape[-1]
    return side % 2 == 1 and min(images.shape[-2:]) >= side


def first_layer(
    images: torch.Tensor, labels: torch.Tensor, conv_weight: torch.Tensor,
    norm_weight: torch.Tensor, norm_bias: torch.Tensor, *, eps: float = 1e-5,
    backend: str = "auto", fold: bool = True,
) -> torch.Tensor:
    """ReLU(IN(conv(cat[images, label planes], conv_weight))), the generator's layers 0-2.

    conv_weight is the official (C, 3 + c, k, k) stride-1 'same' conv weight. fold=False runs
    the official concat (bit for bit the official layers on the reference path).
    """
    channels, side = images.shape[1], conv_weight.shape[-1]
    if not (fold and folds(images, conv_weight)):
        x = F.conv2d(concat_labels(images, labels), conv_weight, padding=side // 2)
        return instance_norm(x, norm_weight, norm_bias, eps=eps, relu=True, backend=backend)
    x = F.conv2d(images, conv_weight[:, :channels], padding=side // 2)
    table = label_border_table(labels, conv_weight[:, channels:])
    return instance_norm(x, norm_weight, norm_bias, eps=eps, relu=True, border=table,
                         backend=backend)
