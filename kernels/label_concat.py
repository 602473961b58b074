"""The generator's label input: broadcast the label vector over the image and concatenate it."""

import torch


def concat_labels(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) images and (N, c) labels -> (N, 3 + c, H, W), as the official StarGAN forward."""
    n, _, height, width = images.shape
    planes = labels.to(images.dtype).view(n, -1, 1, 1).expand(-1, -1, height, width)
    return torch.cat([images, planes], dim=1)
