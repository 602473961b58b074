"""StarGAN v1 generator and discriminator, layer for layer as the official code (Choi et al. 2018).

The layers sit in `nn.Sequential`s with the official names so official state_dicts load with
strict=True. Layout: see ../shared/DESIGN.md, "The generator and discriminator".
"""

import torch
from torch import nn

from starbatch.kernels import concat_labels


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    # track_running_stats=True only so official files (which carry running stats) load strictly;
    # use_instance_statistics() turns it off, see DESIGN.md.
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=True)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            _instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            _instance_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class Generator(nn.Module):
    """G(x, c): images in [-1, 1] and target labels -> translated images in [-1, 1]."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        self.c_dim = c_dim
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            _instance_norm(conv_dim),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):  # down-sampling
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), _instance_norm(dim * 2)]
            layers += [nn.ReLU(inplace=True)]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):  # up-sampling
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False)]
            layers += [_instance_norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        use_instance_statistics(self)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.main(concat_labels(x, c))


class Discriminator(nn.Module):
    """D(x) -> (PatchGAN real/fake map, domain logits)."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, image_size // 2**repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.conv1(h), self.conv2(h).view(h.size(0), -1)


def use_instance_statistics(module: nn.Module) -> nn.Module:
    """Make every InstanceNorm use per-image statistics, in eval() too.

    The official test() never calls eval(); with running stats, eval() ruins the output.
    """
    for layer in module.modules():
        if isinstance(layer, nn.InstanceNorm2d):
            layer.track_running_stats = False
    return module


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load an official or starbatch state_dict strictly, then use per-image statistics.

    Legacy official files lack InstanceNorm's `num_batches_tracked`: filled with zeros. Running
    stats must be tracked while loading: without state_dict version metadata (safetensors),
    InstanceNorm drops them from the dict when tracking is off, and a strict load then fails.
    """
    filled = dict(state_dict)
    for name, buffer in model.state_dict().items():
        if name.endswith("num_batches_tracked") and name not in filled:
            filled[name] = torch.zeros_like(buffer)
    for layer in model.modules():
        if isinstance(layer, nn.InstanceNorm2d):
            layer.track_running_stats = True
    try:
        model.load_state_dict(filled, strict=True)
    finally:
        use_instance_statistics(model)


def generator_config(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """conv_dim, c_dim and repeat_num read off a generator state_dict's shapes."""
    first = state_dict["main.0.weight"]
    blocks = {key.split(".")[1] for key in state_dict if ".main." in key}
    return {"conv_dim": first.shape[0], "c_dim": first.shape[1] - 3, "repeat_num": len(blocks)}


def discriminator_config(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """image_size, conv_dim, c_dim and repeat_num read off a discriminator state_dict's shapes."""
    convs = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("main.")})
    repeat_num = len(convs)
    head = state_dict["conv2.weight"]
    return {
        "image_size": head.shape[-1] * 2**repeat_num,
        "conv_dim": state_dict["main.0.weight"].shape[0],
        "c_dim": head.shape[0],
        "repeat_num": repeat_num,
    }
