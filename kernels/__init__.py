"""Fused GPU kernels for the StarGAN generator, each beside its PyTorch reference.

This package imports nothing else of starbatch's (see DESIGN.md, "direction of imports").
"""

from starbatch.kernels.instance_norm import instance_norm, instance_norm_reference
from starbatch.kernels.label_concat import concat_labels

__all__ = ["concat_labels", "instance_norm", "instance_norm_reference"]
