"""StarGAN v2 networks (Choi et al., CVPR 2020), module for module as clovaai/stargan-v2 core/model.py.

The attribute names are the official ones, so the state_dicts of an official `*_nets_ema.ckpt`
load with strict=True: `generator` (from_rgb, encode.i, decode.i, to_rgb, hpf.filter),
`mapping_network` (shared, unshared.d), `style_encoder` (shared, unshared.d), `discriminator` (main),
and `fan` (fan.py). Images are in [-1, 1]; G ends without tanh, as the official one does.
Every network takes `img_size` and is built from it (the generator itself is fully convolutional);
`dim_in`, `max_conv_dim` and `hidden_dim` exist so smaller networks can be trained and tested on CPUs,
their defaults are the official values.

`backend` (Generator, and the blocks it hands it to): None runs the official layers; "auto" runs the
fused ops of starbatch.kernels (AdaIN + LeakyReLU, affine IN + LeakyReLU) through their dispatcher,
Triton on CUDA and their PyTorch reference elsewhere, which computes what the official layers do
(tests/models/stargan_v2/test_v2_fused.py); "reference" or "triton" force one side.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from starbatch.kernels import adain, instance_norm
from starbatch.models.stargan_v2.fan import FAN
from starbatch.models.stargan_v2.shapes import NetworkConfig, official_dim_in  # noqa: F401 (re-exported)

LRELU_SLOPE = 0.2
# Decoder outputs of these sizes get the high-pass of the masked encoder features (official forward).
MASKED_SIZES = (32, 64, 128)
# Official HighPass kernel; the buffer holds it divided by w_hpf.
HIGH_PASS_KERNEL = ((-1.0, -1.0, -1.0), (-1.0, 8.0, -1.0), (-1.0, -1.0, -1.0))


class ResBlk(nn.Module):
    """Pre-activation residual block of the encoder, style encoder and discriminator."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.normalize = normalize
        self.downsample = downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv1x1 is not None:
            x = self.conv1x1(x)
        return F.avg_pool2d(x, 2) if self.downsample else x

    def residual(self, x: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        x = self.conv1(_norm_lrelu(self.norm1, x, backend) if self.normalize else F.leaky_relu(x, LRELU_SLOPE))
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return self.conv2(_norm_lrelu(self.norm2, x, backend) if self.normalize else F.leaky_relu(x, LRELU_SLOPE))

    def forward(self, x: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        return (self.shortcut(x) + self.residual(x, backend)) / math.sqrt(2)  # unit variance (official)


def _norm_lrelu(norm: nn.InstanceNorm2d, x: torch.Tensor, backend: str | None) -> torch.Tensor:
    """LeakyReLU(IN(x)) of an affine InstanceNorm2d: its layers, or the fused op where `backend` is given."""
    if backend is None:
        return F.leaky_relu(norm(x), LRELU_SLOPE)
    return instance_norm(x, norm.weight, norm.bias, eps=norm.eps, relu=True, negative_slope=LRELU_SLOPE,
                         backend=backend)


class AdaIN(nn.Module):
    """(1 + gamma(s)) * IN(x) + beta(s), gamma and beta one linear map of the style code."""

    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta

    def lrelu(self, x: torch.Tensor, s: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        """LeakyReLU(AdaIN(x, s)), as every AdainResBlk uses it: the layers, or the fused op."""
        if backend is None:
            return F.leaky_relu(self(x, s), LRELU_SLOPE)
        gamma, beta = self.fc(s).chunk(2, dim=1)
        return adain(x, gamma, beta, eps=self.norm.eps, negative_slope=LRELU_SLOPE, backend=backend)


class AdainResBlk(nn.Module):
    """Decoder block; with w_hpf > 0 the official block drops its shortcut and returns the residual."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int = 64, w_hpf: float = 0,
                 upsample: bool = False):
        super().__init__()
        self.w_hpf = w_hpf
        self.upsample = upsample
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv1x1(x) if self.conv1x1 is not None else x

    def residual(self, x: torch.Tensor, s: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        x = self.norm1.lrelu(x, s, backend)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        return self.conv2(self.norm2.lrelu(x, s, backend))

    def forward(self, x: torch.Tensor, s: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        out = self.residual(x, s, backend)
        if self.w_hpf == 0:
            out = (out + self.shortcut(x)) / math.sqrt(2)
        return out


class HighPass(nn.Module):
    """Depthwise 3x3 Laplacian-like high-pass; `filter` is a buffer as in the official code since PR #97."""

    def __init__(self, w_hpf: float):
        super().__init__()
        self.register_buffer("filter", torch.tensor(HIGH_PASS_KERNEL) / w_hpf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = int(x.size(1))  # an int when traced too: the exported kernel needs a known shape
        weight = self.filter.to(x.dtype).expand(channels, 1, 3, 3)
        return F.conv2d(x, weight, padding=1, groups=channels)


class Generator(nn.Module):
    """G(x, s, masks): an image in [-1, 1] and a style code -> the image in the style's domain.

    `masks` (w_hpf > 0 only) is FAN.get_heatmap(x): two (N, 1, H, W) face masks; the encoder's
    features entering each block at 32, 64 and 128 px are kept, and after each decoder block whose
    output has one of those sizes, hpf(mask * kept features) is added, mask[0] at 32 px, mask[1] at
    64 and 128 px, each bilinearly resized to the features (official forward).
    """

    def __init__(self, img_size: int = 256, style_dim: int = 64, max_conv_dim: int = 512,
                 w_hpf: float = 1, dim_in: int | None = None, backend: str | None = None):
        super().__init__()
        dim_in = dim_in or official_dim_in(img_size)
        self.img_size = img_size
        self.backend = backend  # None: the official layers; else the fused ops (module docstring)
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv2d(dim_in, 3, 1, 1, 0),
        )
        # Down/up-sampling pairs to 16 px (to 8 px with masks), then two bottleneck pairs; the decoder
        # is built back to front, each up block mirroring its down block.
        repeat_num = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))
            dim_in = dim_out
        for _ in range(2):
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))
        self.hpf = HighPass(w_hpf) if w_hpf > 0 else None

    def forward(self, x: torch.Tensor, s: torch.Tensor,
                masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if masks is not None and self.hpf is None:
            raise ValueError("masks need a generator built with w_hpf > 0")
        x = self.from_rgb(x)
        cache = {}
        # Sizes as ints: traced for export (inference/onnx_cache.py) they would be tensors, which
        # cannot key `cache`; they are fixed by the model's image size anyway.
        for block in self.encode:
            size = int(x.size(2))
            if masks is not None and size in MASKED_SIZES:
                cache[size] = x
            x = block(x, self.backend)
        for block in self.decode:
            x = block(x, s, self.backend)
            size = int(x.size(2))
            if masks is not None and size in MASKED_SIZES:
                mask = masks[0] if size == 32 else masks[1]
                mask = F.interpolate(mask, size=size, mode="bilinear")
                x = x + self.hpf(mask * cache[size])
        norm, _, conv = self.to_rgb
        return conv(_norm_lrelu(norm, x, self.backend))


def _pick(per_domain: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """Row i of domain y[i]: (batch, num_domains, dim) indexed as the official code does."""
    out = torch.stack(per_domain, dim=1)
    return out[torch.arange(y.size(0), device=y.device), y]


class MappingNetwork(nn.Module):
    """F(z, y): latent code z and target domain y -> style code; a shared trunk, one head per domain."""

    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2, hidden_dim: int = 512):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            head: list[nn.Module] = []
            for _ in range(3):
                head += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
            self.unshared.append(nn.Sequential(*head, nn.Linear(hidden_dim, style_dim)))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        return _pick([head(h) for head in self.unshared], y)


class StyleEncoder(nn.Module):
    """E(x, y): an img_size image and its domain -> style code; conv trunk to 1x1, one linear head per domain."""

    def __init__(self, img_size: int = 256, style_dim: int = 64, num_domains: int = 2,
                 max_conv_dim: int = 512, dim_in: int | None = None):
        super().__init__()
        blocks, dim_out = _downsampling_trunk(img_size, max_conv_dim, dim_in)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim_out, style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(x).flatten(1)
        return _pick([head(h) for head in self.unshared], y)


class Discriminator(nn.Module):
    """D(x, y): real/fake logit of image x for domain y; the style encoder's trunk with a 1x1 conv head."""

    def __init__(self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512,
                 dim_in: int | None = None):
        super().__init__()
        blocks, dim_out = _downsampling_trunk(img_size, max_conv_dim, dim_in)
        self.main = nn.Sequential(*blocks, nn.Conv2d(dim_out, num_domains, 1, 1, 0))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.main(x).flatten(1)  # (batch, num_domains)
        return out[torch.arange(y.size(0), device=y.device), y]


def _downsampling_trunk(img_size: int, max_conv_dim: int, dim_in: int | None) -> tuple[list[nn.Module], int]:
    """conv3x3, log2(img_size) - 2 downsampling ResBlks without norm (4x4 left), LReLU, conv4x4 -> 1x1, LReLU."""
    dim_in = dim_in or official_dim_in(img_size)
    blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(int(math.log2(img_size)) - 2):
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(LRELU_SLOPE), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(LRELU_SLOPE)]
    return blocks, dim_out


class Networks(nn.Module):
    """The networks inference needs, named as the entries of an official `*_nets_ema.ckpt`.

    state_dict() keys are `generator.*`, `mapping_network.*`, `style_encoder.*` and, when the model
    uses masks (w_hpf > 0), `fan.*`. The discriminator is for training only and is not here.
    """

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.generator = new_generator(config)
        self.mapping_network = new_mapping_network(config)
        self.style_encoder = new_style_encoder(config)
        self.fan = FAN() if config.uses_masks else None


def new_generator(config: NetworkConfig, backend: str | None = None) -> Generator:
    return Generator(config.img_size, config.style_dim, config.max_conv_dim, config.w_hpf, config.dim_in, backend)


def new_mapping_network(config: NetworkConfig) -> MappingNetwork:
    return MappingNetwork(config.latent_dim, config.style_dim, config.num_domains, config.hidden_dim)


def new_style_encoder(config: NetworkConfig) -> StyleEncoder:
    return StyleEncoder(config.img_size, config.style_dim, config.num_domains, config.max_conv_dim, config.dim_in)


def new_discriminator(config: NetworkConfig) -> Discriminator:
    return Discriminator(config.img_size, config.num_domains, config.max_conv_dim, config.dim_in)
