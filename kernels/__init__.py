"""Fused GPU kernels for the StarGAN generators, each beside its PyTorch reference.

This package imports nothing of starbatch (relative imports only; import-linter checks it, see DESIGN.md).
"""

from .adain import adain, adain_reference
from .dispatch import use_triton
from .instance_norm import instance_norm, instance_norm_reference
from .label_fold import concat_labels, first_layer, label_border_table

__all__ = [
    "adain",
    "adain_reference",
    "concat_labels",
    "first_layer",
    "instance_norm",
    "instance_norm_reference",
    "label_border_table",
    "use_triton",
]
