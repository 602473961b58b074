"""StarGAN v1 generator and discriminator, layer for layer as the official code (Choi et al. 2018).

The layers sit in `nn.Sequential`s with the official names so official state_dicts load with
strict=True. Layout: see DESIGN.md, "The generator and discriminator".
"""

import copy
from pathlib import Path

import torch
from torch import nn

from starbatch.errors import StarbatchError
from starbatch.kernels import concat_labels, first_layer, instance_norm, use_triton
from starbatch.models.row_fold_conv import RowFoldConv


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

    def fused_forward(self, x: torch.Tensor, backend: str = "auto") -> torch.Tensor:
        """forward() with IN + ReLU and IN + residual add each one fused op."""
        conv1, norm1, _, conv2, norm2 = self.main
        h = instance_norm(conv1(x), norm1.weight, norm1.bias, eps=norm1.eps, relu=True,
                          backend=backend)
        return instance_norm(conv2(h), norm2.weight, norm2.bias, eps=norm2.eps, residual=x,
                             backend=backend)


class Generator(nn.Module):
    """G(x, c): images in [-1, 1] and target labels -> translated images in [-1, 1].

    `fused`: forward() runs the fused ops (starbatch.kernels: Triton on CUDA, their PyTorch
    reference elsewhere); False, like official_forward(), runs the plain official layers.
    `backend` ("auto", "reference", "triton") is passed to the kernels' dispatcher.
    `fold_labels`: fold the label planes into the first layer (None: where the Triton kernels run).
    On the CPU reference the fold changes the output by fp32 rounding only, yet that reaches
    ~1.5e-5 at conv_dim 64: as much as the official fp32 path's own error, see
    tests/models/test_generator_fused.py; so by default the CPU output stays the official one exactly.
    """

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6, *, fused: bool = True,
                 backend: str = "auto", fold_labels: bool | None = None):
        super().__init__()
        self.c_dim = c_dim
        self.fused, self.backend, self.fold_labels = fused, backend, fold_labels
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
        if not self.fused:
            return official_forward(self, x, c)
        conv, norm = self.main[0], self.main[1]
        # the label planes folded into the first layer: kernels/label_fold.py
        fold = self.fold_labels if self.fold_labels is not None else use_triton(x, self.backend)
        h = first_layer(x, c, conv.weight, norm.weight, norm.bias, eps=norm.eps,
                        backend=self.backend, fold=fold)
        for layer in self.main[3:-2]:  # down-sampling, residual blocks, up-sampling
            if isinstance(layer, ResidualBlock):
                h = layer.fused_forward(h, self.backend)
            elif isinstance(layer, nn.InstanceNorm2d):  # always followed by a ReLU: fused here
                h = instance_norm(h, layer.weight, layer.bias, eps=layer.eps, relu=True,
                                  backend=self.backend)
            elif not isinstance(layer, nn.ReLU):
                h = layer(h)
        return torch.tanh(self.main[-2](h))


def official_forward(generator: Generator, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The official StarGAN forward: labels tiled and concatenated, then the layers one by one."""
    return generator.main(concat_labels(x, c))


class OfficialGraph(nn.Module):
    """G's official forward in plain layers, for exporters (inference/onnx_cache.py): the label
    concat and the Sequential, on a copy whose InstanceNorms hold no running stats, which the
    legacy ONNX exporter would read as training-mode statistics, and whose last convolution is a
    row fold (models/row_fold_conv.py: onnxruntime runs that layer 2.5x faster)."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = copy.deepcopy(generator).float().cpu().eval()
        for layer in self.generator.modules():
            if isinstance(layer, nn.InstanceNorm2d):
                layer.running_mean = layer.running_var = layer.num_batches_tracked = None
        self.generator.main[-2] = RowFoldConv(self.generator.main[-2])

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return official_forward(self.generator, x, c)


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


def load_strict(path: Path, module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_weights with a one-line error naming the file, for weights that do not fit."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        load_weights(module, state)
    except RuntimeError as error:
        first = str(error).split("\n")[1:2] or [str(error)]
        raise StarbatchError(f"{path}: {what} weights do not fit the configuration: "
                             f"{first[0].strip()}") from None


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
