"""Fused GPU kernels for the StarGAN generator, each beside its PyTorch reference.

This package imports nothing else of starbatch's (see DESIGN.md, "direction of imports").
"""

from starbatch.kernels.dispatch import use_triton
from starbatch.kernels.instance_norm import instance_norm, instance_norm_reference
from starbatch.kernels.label_fold import concat_labels, first_layer, label_border_table

__all__ = [
    "concat_labels",
    "first_layer",
    "instance_norm",
    "instance_norm_reference",
    "label_border_table",
    "use_triton",
]
