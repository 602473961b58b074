"""The shapes of the StarGAN v2 networks, without torch: a model file's header is checked against them
before any weights (or torch) load; networks.py builds the modules from them."""

from dataclasses import dataclass


def official_dim_in(img_size: int) -> int:
    """Channels of the first conv in every official network: 2**14 // img_size (64 at 256 px)."""
    return 2**14 // img_size


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that fixes the networks' shapes; the defaults are the official CelebA-HQ model's."""

    img_size: int = 256
    num_domains: int = 2
    style_dim: int = 64
    latent_dim: int = 16
    w_hpf: float = 1.0
    dim_in: int = 0  # 0: the official 2**14 // img_size
    max_conv_dim: int = 512
    hidden_dim: int = 512  # mapping network width; official code fixes it at 512

    def __post_init__(self) -> None:
        if self.img_size < 16 or self.img_size & (self.img_size - 1):
            raise ValueError(f"img_size must be a power of two of at least 16, not {self.img_size}")
        if self.dim_in == 0:
            object.__setattr__(self, "dim_in", official_dim_in(self.img_size))
        for name in ("num_domains", "style_dim", "latent_dim", "dim_in", "max_conv_dim", "hidden_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.w_hpf < 0:
            raise ValueError(f"w_hpf must not be negative, not {self.w_hpf}")

    @property
    def uses_masks(self) -> bool:
        """w_hpf > 0: G adds high-passed encoder features under FAN's face masks, and needs FAN."""
        return self.w_hpf > 0
