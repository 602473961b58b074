"""One place decides Triton or the PyTorch reference (the apex group-norm pattern).

`backend` is "auto" (Triton on CUDA tensors, the reference elsewhere), "reference", or "triton"
(forces the kernels; on CPU tensors that needs TRITON_INTERPRET=1 set before triton is imported).
"""

import os
import types

import torch

# Triton is imported only where it can run: with a CUDA GPU, or its CPU interpreter asked for
# (TRITON_INTERPRET=1, the tests). Elsewhere the reference runs anyway, and the import would add
# ~0.25 s to every CPU start-up (benchmarks/results/edit_cpu.md).
HAVE_TRITON = False
if os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.is_available():
    try:
        import triton
        import triton.language as tl

        HAVE_TRITON = True
    except ImportError:  # non-Linux installs have no Triton: the reference runs everywhere
        pass
if not HAVE_TRITON:
    triton = types.SimpleNamespace(jit=lambda fn: fn, cdiv=lambda a, b: -(-a // b))
    tl = types.SimpleNamespace(constexpr=None)

BACKENDS = ("auto", "reference", "triton")


def use_triton(x: torch.Tensor, backend: str = "auto") -> bool:
    """Whether the op on `x` runs its Triton kernels."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "reference":
        return False
    if backend == "triton":
        if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError("Triton on CPU tensors needs TRITON_INTERPRET=1 before importing triton")
        if not HAVE_TRITON:
            raise RuntimeError("backend='triton' needs the triton package")
        return True
    return HAVE_TRITON and x.is_cuda


__all__ = ["BACKENDS", "HAVE_TRITON", "tl", "triton", "use_triton"]
