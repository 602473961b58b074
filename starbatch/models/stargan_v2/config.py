"""A StarGAN v2 model's configuration, as stored in the model file's metadata.

The network shapes use the official names (img_size, style_dim, latent_dim, w_hpf, dim_in,
max_conv_dim), the domains are named in the model's order (the sorted training folders), and
`framing` says how the training faces were cropped: "celeba-hq" for the official CelebA-HQ and
AFHQ files (DESIGN.md, "Model families").
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from starbatch.errors import StarbatchError
from starbatch.models.family import FRAMINGS
from starbatch.models.stargan_v2.shapes import NetworkConfig

FORMAT_VERSION = 1
ARCHITECTURE = "stargan-v2"


@dataclass
class ModelConfig:
    img_size: int
    domains: tuple[str, ...]
    style_dim: int = 64
    latent_dim: int = 16
    w_hpf: float = 1.0
    dim_in: int = 0  # 0: the official 2**14 // img_size
    max_conv_dim: int = 512
    hidden_dim: int = 512
    framing: str = "celeba-hq"
    step: int = 0
    architecture: str = ARCHITECTURE
    version: int = FORMAT_VERSION
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.domains = tuple(self.domains)
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, not {self.framing!r}")
        self.dim_in = self.networks.dim_in  # checks the shapes, fills the official dim_in

    @property
    def image_size(self) -> int:
        return self.img_size

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    @property
    def networks(self) -> NetworkConfig:
        return NetworkConfig(img_size=self.img_size, num_domains=self.num_domains, style_dim=self.style_dim,
                             latent_dim=self.latent_dim, w_hpf=self.w_hpf, dim_in=self.dim_in,
                             max_conv_dim=self.max_conv_dim, hidden_dim=self.hidden_dim)

    @classmethod
    def from_networks(cls, networks: NetworkConfig, domains: tuple[str, ...], **fields) -> "ModelConfig":
        return cls(img_size=networks.img_size, domains=tuple(domains), style_dim=networks.style_dim,
                   latent_dim=networks.latent_dim, w_hpf=networks.w_hpf, dim_in=networks.dim_in,
                   max_conv_dim=networks.max_conv_dim, hidden_dim=networks.hidden_dim, **fields)

    def to_json(self) -> str:
        data = asdict(self)
        data["domains"] = list(self.domains)
        data["num_domains"] = self.num_domains  # for readers of the header; the names are what counts
        return json.dumps(data, sort_keys=True)


def config_from_dict(path: Path, data: dict) -> ModelConfig:
    """The configuration in a file's parsed metadata, refused with one line when damaged or newer."""
    data = dict(data)
    count = data.pop("num_domains", None)
    try:
        config = ModelConfig(**data)
    except (ValueError, KeyError, TypeError) as error:
        raise StarbatchError(f"{path}: damaged starbatch metadata: {error}") from None
    if config.architecture != ARCHITECTURE or config.version > FORMAT_VERSION:
        raise StarbatchError(f"{path}: {config.architecture} v{config.version} model; this "
                             f"starbatch reads {ARCHITECTURE} v{FORMAT_VERSION}")
    if count is not None and count != config.num_domains or not config.domains \
            or not all(isinstance(name, str) and name for name in config.domains):  # fmt: skip
        raise StarbatchError(f"{path}: damaged starbatch metadata: {count} domains but names "
                             f"{list(config.domains)}")
    return config
