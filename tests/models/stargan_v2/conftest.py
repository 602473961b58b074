"""Fixtures for the StarGAN v2 tests: official-format checkpoints with random weights, made on the fly,
and the fp32-against-fp64 comparison every forward test uses."""

from dataclasses import dataclass

import official_stargan_v2 as official
import pytest
import torch

from starbatch.models.stargan_v2.networks import NetworkConfig


@dataclass(frozen=True)
class Layout:
    """The shape-setting arguments of the official build_model (plus the widths smaller networks change)."""

    img_size: int
    num_domains: int
    style_dim: int
    latent_dim: int
    w_hpf: float
    dim_in: int | None = None
    max_conv_dim: int = 512
    hidden: int = 512

    def shapes(self) -> dict[str, dict[str, tuple]]:
        return {
            "generator": official.generator_shapes(self.img_size, self.style_dim, self.w_hpf, self.max_conv_dim,
                                                   self.dim_in),
            "mapping_network": official.mapping_shapes(self.latent_dim, self.style_dim, self.num_domains,
                                                       self.hidden),
            "style_encoder": official.style_encoder_shapes(self.img_size, self.style_dim, self.num_domains,
                                                           self.max_conv_dim, self.dim_in),
        }

    def config(self) -> NetworkConfig:
        return NetworkConfig(img_size=self.img_size, num_domains=self.num_domains, style_dim=self.style_dim,
                             latent_dim=self.latent_dim, w_hpf=self.w_hpf, dim_in=self.dim_in or 0,
                             max_conv_dim=self.max_conv_dim, hidden_dim=self.hidden)


LAYOUTS = {
    # The released models' shapes (never run here: only keys and shapes are checked at this size).
    "celeba_hq": Layout(256, 2, 64, 16, 1.0),
    "afhq": Layout(256, 3, 64, 16, 0.0),
    # The same depths with narrow channels, cheap enough to save, load and run.
    "celeba_hq_narrow": Layout(256, 2, 16, 16, 1.0, dim_in=4, max_conv_dim=16, hidden=32),
    "afhq_narrow": Layout(256, 3, 16, 16, 0.0, dim_in=4, max_conv_dim=16, hidden=32),
    # Small ones for forward passes: every argument off its default, and a 128 px one that uses all
    # three masked sizes (32, 64, 128).
    "tiny": Layout(64, 2, 12, 8, 1.0, dim_in=8, max_conv_dim=32, hidden=24),
    "tiny_plain": Layout(64, 3, 12, 8, 0.0, dim_in=8, max_conv_dim=32, hidden=24),
    "small_128": Layout(128, 2, 12, 8, 1.0, dim_in=4, max_conv_dim=16, hidden=24),
}


@pytest.fixture(scope="session")
def layouts() -> dict[str, Layout]:
    return LAYOUTS


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [-1, 1]: low-frequency noise plus a little grain, more like photos than pixel noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(size // 8, 2), max(size // 8, 2), generator=generator) * 2 - 1
    grain = 0.1 * (torch.rand(n, 3, size, size, generator=generator) * 2 - 1)
    smooth = torch.nn.functional.interpolate(coarse, size=size, mode="bicubic", align_corners=False)
    return (smooth + grain).clamp(-1, 1)


@pytest.fixture(scope="session")
def fan_state() -> dict[str, torch.Tensor]:
    """Random weights for the official FAN (it has one fixed size), made once.

    A trained FAN's landmark maps are peaks on a flat floor; random weights give maps above the
    official 0.1 cut almost everywhere, so the masks would be all ones. The last layer's bias is
    therefore set (one restated FAN run on a smooth image) to put each map's 98th percentile at
    the cut: masks then cover part of the image and the cut is exercised.
    """
    state = official.random_state(official.fan_shapes(), torch.Generator().manual_seed(98))
    x01 = torch.nn.functional.interpolate(smooth_images(1, 128, seed=98), size=256, mode="bilinear") * 0.5 + 0.5
    raw = official.fan(state, x01)[0]
    state["l0.bias"] = state["l0.bias"] - raw.flatten(1).quantile(0.98, dim=1) + 0.1
    return state


@pytest.fixture
def official_nets(request):
    """official_nets(layout, fan=..., seed=...): the dict an official *_nets_ema.ckpt holds, random weights;
    `fan` defaults to the official rule (FAN weights when w_hpf > 0)."""

    def make(layout: Layout, fan: bool | None = None, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
        generator = torch.Generator().manual_seed(seed)
        nets = {name: official.random_state(shapes, generator, layout.w_hpf)
                for name, shapes in layout.shapes().items()}
        with_fan = layout.w_hpf > 0 if fan is None else fan
        if with_fan:
            nets["fan"] = dict(request.getfixturevalue("fan_state"))  # made on first use: it costs a FAN run
        return nets

    return make


@pytest.fixture
def save(tmp_path):
    """save(content, name): torch.save `content` into tmp_path, as the official CheckpointIO does."""

    def write(content, name: str = "100000_nets_ema.ckpt"):
        path = tmp_path / name
        torch.save(content, path)
        return path

    return write


@dataclass
class Agreement:
    """How far fp32 runs are from the fp64 run of the official restatement (max abs differences)."""

    ours_fp32: float
    official_fp32: float
    ours_fp64: float
    scale: float

    def __str__(self) -> str:
        return (f"max |ref64|={self.scale:.3g}; starbatch fp32 {self.ours_fp32:.3g}, official restated fp32 "
                f"{self.official_fp32:.3g}, starbatch fp64 {self.ours_fp64:.3g}")


@pytest.fixture(scope="session")
def agreement():
    """agreement(ours32, official32, ours64, reference64) -> Agreement, asserting the tolerances.

    The fp32 budget is what fp32 costs the independent restatement of the official code, measured
    against its own fp64 run (floored at one fp32 ulp of the output scale); starbatch's fp32 output
    must stay within 4x that budget, and its fp64 output within 4x the budget scaled by eps64 / eps32:
    the same rounding argument one precision up, which only an identical computation can meet.
    """
    eps32, eps64 = torch.finfo(torch.float32).eps, torch.finfo(torch.float64).eps

    def check(ours32, official32, ours64, reference64) -> Agreement:
        reference64 = reference64.double()
        scale = reference64.abs().max().item()
        found = Agreement(
            ours_fp32=(ours32.double() - reference64).abs().max().item(),
            official_fp32=(official32.double() - reference64).abs().max().item(),
            ours_fp64=(ours64.double() - reference64).abs().max().item(),
            scale=scale,
        )
        budget = max(found.official_fp32, eps32 * scale)
        print(found)
        assert found.ours_fp32 <= 4 * budget, found
        assert found.ours_fp64 <= 4 * budget * eps64 / eps32, found
        return found

    return check


@pytest.fixture
def images():
    """images(n, size, seed): see smooth_images."""
    return smooth_images
