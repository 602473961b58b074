"""StarGAN v2's AdaIN and the LeakyReLU(0.2) after it, in one pass of the instance-norm kernel.

    out = lrelu((1 + gamma[n, c]) * IN(x)[n, c] + beta[n, c], 0.2)

The official AdaIN (clovaai/stargan-v2, core/model.py) is InstanceNorm2d(affine=False) with
gamma, beta = chunk(fc(style), 2): a per-sample, per-channel scale and shift, and every AdainResBlk
follows it with LeakyReLU(0.2). That is instance_norm.py's op with an (N, C) weight 1 + gamma and
bias beta, so there is no Triton kernel here: the 1 + gamma is N * C values, and autograd carries
dweight to dgamma unchanged.
"""

import torch
import torch.nn.functional as F

from .dispatch import use_triton
from .instance_norm import instance_norm_op

LEAKY_SLOPE = 0.2  # the official nn.LeakyReLU(0.2) of every v2 block


def _check_style(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> None:
    expected = tuple(x.shape[:2])
    if tuple(gamma.shape) != expected or tuple(beta.shape) != expected:
        raise ValueError(f"gamma and beta must both be {expected} for x of shape {tuple(x.shape)}, "
                         f"not {tuple(gamma.shape)} and {tuple(beta.shape)}")


def adain_reference(
    x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, *, eps: float = 1e-5,
    negative_slope: float = LEAKY_SLOPE,
) -> torch.Tensor:
    """The official layers: LeakyReLU((1 + gamma) * InstanceNorm2d(affine=False)(x) + beta)."""
    out = (1 + gamma[:, :, None, None]) * F.instance_norm(x, eps=eps) + beta[:, :, None, None]
    return F.leaky_relu(out.to(x.dtype), negative_slope)  # x's dtype, as the kernel writes


def adain(
    x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, *, eps: float = 1e-5,
    negative_slope: float = LEAKY_SLOPE, backend: str = "auto",
) -> torch.Tensor:
    """AdaIN + LeakyReLU of an (N, C, H, W) x with (N, C) gamma and beta: Triton on CUDA, the
    reference elsewhere (backend as in dispatch.py)."""
    _check_style(x, gamma, beta)
    if use_triton(x, backend):
        # 1 + gamma in fp32 at least: a bf16 style would otherwise lose bits before the kernel
        scale = 1 + gamma.to(torch.promote_types(gamma.dtype, torch.float32))
        return instance_norm_op(x, scale, beta, None, None, eps, True, negative_slope)[0]
    return adain_reference(x, gamma, beta, eps=eps, negative_slope=negative_slope)
