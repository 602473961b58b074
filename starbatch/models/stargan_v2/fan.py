"""FAN: the face landmark network that gives StarGAN v2 its face masks (clovaai/stargan-v2 core/wing.py).

One hourglass stack (AdaptiveWingLoss / face-alignment) predicting 98 WFLW landmark heatmaps plus a
boundary map at 64x64 from a 256x256 image in [0, 1]. `get_heatmap` turns the heatmaps into the two
masks the generator uses when w_hpf > 0, step for step as the official `get_heatmap` and
`preprocess`. Attribute names are the official ones, so the `state_dict` of `wing.ckpt` (and the
`fan` entry of an official checkpoint) loads strictly. The architecture is fixed: coordinates are
built for 256 px input and 64 px hourglass features, as in the official code.
"""

import torch
import torch.nn.functional as F
from torch import nn

NUM_LANDMARKS = 98
INPUT_SIZE = 256  # get_heatmap resizes every image to this before FAN sees it
HEATMAP_SIZE = 64


class ConvBlock(nn.Module):
    """Pre-activation BN-ReLU-conv3x3 chain whose three outputs (1/2, 1/4, 1/4 of the channels) are
    concatenated, plus a (projected) residual."""

    def __init__(self, in_planes: int, out_planes: int):
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_planes), nn.ReLU(True), nn.Conv2d(in_planes, out_planes, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat((out1, out2, out3), 1) + residual


def _coordinate_planes(size: int) -> torch.Tensor:
    """(1, 3, size, size): row coordinate, column coordinate (both in [-1, 1]) and radius / max radius."""
    ramp = torch.arange(size, dtype=torch.float32) / (size - 1) * 2 - 1
    rows = ramp[:, None].expand(size, size)
    cols = ramp[None, :].expand(size, size)
    radius = torch.sqrt(rows**2 + cols**2)
    return torch.stack([rows, cols, radius / radius.max()])[None]


class CoordConv(nn.Module):
    """A conv over the input with coordinate planes appended (official CoordConvTh with with_r=True).

    The official hourglass's CoordConvTh is also built with_boundary, but the single-stack FAN never
    hands it a heatmap, so the boundary planes are never appended and have no weights here either.
    """

    def __init__(self, size: int, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0):
        super().__init__()
        # Not persistent: the official coordinates are plain attributes, absent from its state_dicts.
        self.register_buffer("coords", _coordinate_planes(size), persistent=False)
        self.conv = nn.Conv2d(in_channels + 3, out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = self.coords.to(x.dtype).expand(x.size(0), -1, -1, -1)
        return self.conv(torch.cat([x, coords], dim=1))


class HourGlass(nn.Module):
    """Recursive hourglass of `depth` levels on 64 px features: blocks b1_L (skip), b2_L (down),
    b2_plus_1 (innermost) and b3_L (up), named as the official modules."""

    def __init__(self, depth: int = 4, features: int = 256):
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConv(HEATMAP_SIZE, features, features, kernel_size=1)
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", ConvBlock(features, features))
            self.add_module(f"b2_{level}", ConvBlock(features, features))
            self.add_module(f"b3_{level}", ConvBlock(features, features))
        self.add_module("b2_plus_1", ConvBlock(features, features))

    def level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        low = self.level(level - 1, low) if level > 1 else self._modules["b2_plus_1"](low)
        low = self._modules[f"b3_{level}"](low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.level(self.depth, self.coordconv(x))


class FAN(nn.Module):
    """Landmark heatmaps of 256x256 faces in [0, 1]: (N, 99, 64, 64), 98 landmarks then the boundary.

    Always in inference mode: BatchNorm uses its running statistics even under train(), as the
    official FAN (built with .eval() and frozen) does in training and test alike.
    """

    def __init__(self, num_landmarks: int = NUM_LANDMARKS):
        super().__init__()
        self.conv1 = CoordConv(INPUT_SIZE, 3, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        self.m0 = HourGlass(depth=4, features=256)
        self.top_m_0 = ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        self.l0 = nn.Conv2d(256, num_landmarks + 1, 1, 1, 0)
        self.eval()

    def train(self, mode: bool = True) -> "FAN":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        x = self.top_m_0(self.m0(x))
        x = F.relu(self.bn_end0(self.conv_last0(x)))
        return self.l0(x)

    @torch.no_grad()
    def get_heatmap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's two masks for images x in [-1, 1] of any size: each (N, 1, 256, 256) in [0, 1]."""
        x = F.interpolate(x, size=INPUT_SIZE, mode="bilinear")
        heatmaps = self(x * 0.5 + 0.5)[:, :-1]  # the boundary map is not used
        # Its maps are always HEATMAP_SIZE: a constant factor (not one from their traced size) exports.
        heatmaps = F.interpolate(heatmaps, scale_factor=INPUT_SIZE // HEATMAP_SIZE, mode="bilinear",
                                 align_corners=True)
        return heatmap_masks(heatmaps)


# WFLW landmark groups as channel ranges [start, end) (official index_map).
CHIN = (8, 25)  # the jaw line without its upper ends (0-7 and 25-32 are dropped)
EYEBROWS = (33, 51)
EYEBROW_EDGES = (33, 46)
NOSE = (51, 55)
NOSTRILS = (55, 60)
EYES = (60, 76)
LIP_EDGES = (76, 82)
LIP_UPPER = (77, 82)
LIP_LOWER = (83, 88)
LIP_INNER = (88, 96)


def _shift_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """Official shift(x, n): rows move up by n (down for n < 0), wrapping around."""
    return torch.roll(x, -n, dims=2)


def _normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-(n, c) min-max scaling to [0, 1]."""
    flat = x.flatten(2)
    low = flat.min(dim=2, keepdim=True).values
    high = flat.max(dim=2, keepdim=True).values
    return ((flat - low) / (high - low + eps)).view_as(x)


def heatmap_masks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The official `preprocess`: 98 landmark heatmaps (N, 98, H, W) -> (face mask, inner-face mask).

    Small values are cut, each map is min-max scaled, and the parts are moved and sharpened as the
    official code does (offsets in pixels at 256 px); the second mask leaves out chin, mouth and
    eyebrows. Both are sums over landmarks clamped to [0, 1].
    """
    x = torch.where(heatmaps < 0.1, torch.zeros_like(heatmaps), heatmaps)
    x = _normalize(x)
    scale = x.size(2) // INPUT_SIZE
    for (start, end), shift, power in (
        (CHIN, 0, 3),
        (EYEBROWS, -7 * scale, 2),
        (NOSTRILS, 8 * scale, 4),
        (LIP_UPPER, -8 * scale, 4),
        (LIP_LOWER, 8 * scale, 4),
        (LIP_INNER, -2 * scale, 3),
    ):
        x[:, start:end] = _shift_rows(x[:, start:end], shift) ** power
    dropped = [*range(0, CHIN[0]), *range(CHIN[1], EYEBROWS[0]),
               EYEBROW_EDGES[0], EYEBROW_EDGES[1], LIP_EDGES[0], LIP_EDGES[1]]
    x[:, dropped] = 0
    x[:, NOSE[0] + 1:NOSE[1]] = _shift_rows(x[:, NOSE[0] + 1:NOSE[1]], 4 * scale)
    # The official eye offsets are not scaled with the size (it is always 256 there).
    eyes = x[:, EYES[0]:EYES[1]]
    x[:, EYES[0]:EYES[1]] = _shift_rows(eyes, -8) ** 3 + _shift_rows(eyes, -24)

    inner = x.clone()
    inner[:, CHIN[0]:CHIN[1]] = 0
    inner[:, LIP_EDGES[0]:LIP_INNER[1]] = 0
    inner[:, EYEBROWS[0]:EYEBROWS[1]] = 0
    face = x.sum(dim=1, keepdim=True)
    inner = inner.sum(dim=1, keepdim=True)
    # Official: NaNs of the face mask become 0; its inner-mask line tests the already cleaned face
    # mask, so NaNs of the inner mask stay (they arise only from NaN input).
    face = torch.where(torch.isnan(face), torch.zeros_like(face), face)
    return face.clamp(0, 1), inner.clamp(0, 1)
