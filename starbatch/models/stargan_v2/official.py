"""Import of official StarGAN v2 checkpoints (clovaai/stargan-v2): `*_nets_ema.ckpt` and `wing.ckpt`.

An official `*_nets_ema.ckpt` is a pickled dict of state_dicts by network name: generator,
mapping_network, style_encoder, and fan when w_hpf > 0 (core/checkpoint.py saves the unwrapped
modules, so there is no `module.` prefix; files from forks may have one and it is stripped).
`wing.ckpt` holds the FAN weights under `state_dict`. Everything about the networks (image size,
domains, style and latent sizes, w_hpf, channel widths) is read from the tensors' shapes.
Files are read with `weights_only=True`: nothing but tensors and containers is ever unpickled.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v2.networks import HIGH_PASS_KERNEL, NetworkConfig, Networks

NETWORKS = ("generator", "mapping_network", "style_encoder")
# Domain names of the released models, in the sorted folder order the official data loader uses.
OFFICIAL_DOMAINS = {
    (2, True): ("female", "male"),  # CelebA-HQ, w_hpf 1
    (3, False): ("cat", "dog", "wild"),  # AFHQ, w_hpf 0
}


@dataclass
class OfficialModel:
    """An imported official model: its shapes, domain names and loaded networks (fp32, CPU, eval)."""

    config: NetworkConfig
    domains: tuple[str, ...]
    networks: Networks
    notes: dict = field(default_factory=dict)  # how the file was read: filled hpf filter, FAN's source


def load_official(path: Path, wing: Path | None = None, domains: str | list[str] | None = None) -> OfficialModel:
    """Read an official `*_nets_ema.ckpt` (and `wing.ckpt` for the FAN) into loaded networks.

    `domains`: names in the model's domain order ("female,male" or a list); defaults exist for the
    released CelebA-HQ and AFHQ layouts only. `wing` replaces FAN weights the checkpoint may carry.
    A w_hpf > 0 model with FAN weights from neither is refused. Every problem is one StarbatchError line.
    """
    path = Path(path)
    nets = read_checkpoint(path)
    notes: dict = {"imported_from": path.name}
    if "hpf.filter" not in nets["generator"] and _generator_uses_masks(path, nets):
        # The released CelebA-HQ file predates the buffer (official PR #97); its value is a constant.
        nets["generator"]["hpf.filter"] = torch.tensor(HIGH_PASS_KERNEL)  # w_hpf 1, the only one released
        notes["filled_hpf_filter"] = True
    config = infer_config(path, nets)
    names = resolve_domains(path, config, domains)

    fan_state, fan_path = None, path
    if config.uses_masks:
        if wing is not None:
            fan_path = Path(wing)
            fan_state = read_wing(fan_path)
            notes["fan_from"] = fan_path.name
        elif "fan" in nets:
            fan_state = nets["fan"]
            notes["fan_from"] = "checkpoint"
        else:
            raise StarbatchError(f"{path}: a w_hpf {config.w_hpf:g} model needs the FAN face-mask network, but the "
                                 "checkpoint has no `fan` weights; give the official wing.ckpt (--wing)")

    networks = Networks(config)
    for name in NETWORKS:
        _load_strict(path, getattr(networks, name), nets[name], name)
    if fan_state is not None:
        load_fan(fan_path, networks.fan, fan_state)
    return OfficialModel(config, names, networks.eval(), notes)


def read_checkpoint(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The networks' state_dicts of an official checkpoint, `module.` stripped, validated as v2 layout."""
    path = Path(path)
    content = _torch_load(path)
    if not isinstance(content, dict) or not content:
        raise StarbatchError(f"{path}: holds no networks (expected a dict of state_dicts: {', '.join(NETWORKS)})")
    if all(isinstance(value, torch.Tensor) for value in content.values()):
        keys = {key.removeprefix("module.") for key in content}
        if "main.0.weight" in keys:
            raise StarbatchError(f"{path}: a StarGAN v1 network (one state_dict with main.*), not a StarGAN v2 "
                                 "checkpoint; import it as a v1 model")
        raise StarbatchError(f"{path}: a single state_dict, not an official StarGAN v2 checkpoint "
                             f"(a dict of state_dicts: {', '.join(NETWORKS)})")
    if isinstance(content.get("state_dict"), dict) and not any(name in content for name in NETWORKS):
        raise StarbatchError(f"{path}: a single state_dict under `state_dict` (wing.ckpt, the FAN weights?), "
                             "not a StarGAN v2 checkpoint; FAN weights are given with --wing")
    if any(isinstance(value, dict) and "param_groups" in value for value in content.values()):
        raise StarbatchError(f"{path}: optimizer states (an official *_optims.ckpt), not networks; "
                             "give the *_nets_ema.ckpt of the same step")
    missing = [name for name in NETWORKS if name not in content]
    if missing:
        raise StarbatchError(f"{path}: lacks {', '.join(missing)}; an official StarGAN v2 *_nets_ema.ckpt holds "
                             f"{', '.join(NETWORKS)} (and fan)")
    nets = {}
    for name, state in content.items():
        if name not in (*NETWORKS, "fan"):
            continue  # e.g. the discriminator of a *_nets.ckpt: not needed for inference
        if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise StarbatchError(f"{path}: entry `{name}` is not a state_dict of tensors")
        nets[name] = {key.removeprefix("module."): value for key, value in state.items()}
    return nets


def read_wing(path: Path) -> dict[str, torch.Tensor]:
    """FAN weights from the official wing.ckpt: the state_dict under its `state_dict` key."""
    path = Path(path)
    content = _torch_load(path)
    state = content.get("state_dict") if isinstance(content, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StarbatchError(f"{path}: not a wing.ckpt (no `state_dict` of tensors with the FAN weights)")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _torch_load(path: Path) -> object:
    if not path.is_file():
        raise StarbatchError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load of damaged bytes raises many types; each means "unreadable"
        text = str(error)
        wanted = re.search(r"GLOBAL ([\w.]+)", text)
        if wanted:  # the weights-only unpickler met a reference to code, e.g. posix.system
            raise StarbatchError(f"{path}: refused: not a plain tensor checkpoint, unpickling it would run or "
                                 f"build {wanted.group(1)}") from None
        reason = (text.splitlines() or [""])[0][:200] or type(error).__name__
        if "Weights only load failed" in text:  # not a pickle torch can read (a torch message, not ours)
            reason = "not a pickle of tensors"
        raise StarbatchError(f"{path}: unreadable checkpoint (truncated or not a PyTorch file): {reason}") from None


def _indices(state: dict[str, torch.Tensor], pattern: str) -> list[int]:
    """Sorted distinct block numbers i of the keys matching `pattern` (a regex with one group for i)."""
    found = {int(match.group(1)) for key in state if (match := re.fullmatch(pattern, key))}
    return sorted(found)


def _tensor(path: Path, nets: dict, network: str, key: str) -> torch.Tensor:
    tensor = nets[network].get(key)
    if tensor is None:
        raise StarbatchError(f"{path}: {network} has no `{key}`: not the official StarGAN v2 layout")
    return tensor


def _style_encoder_img_size(path: Path, nets: dict) -> int:
    """E has log2(img_size) - 2 downsampling blocks (shared.1 ... shared.n), leaving 4x4 for its 4x4 conv."""
    blocks = _indices(nets["style_encoder"], r"shared\.(\d+)\.conv1\.weight")
    if not blocks or blocks != list(range(1, len(blocks) + 1)) or len(blocks) < 2:
        raise StarbatchError(f"{path}: style_encoder has no run of residual blocks shared.1 ... shared.n: "
                             "not the official StarGAN v2 layout")
    return 2 ** (len(blocks) + 2)


def _generator_depth(path: Path, nets: dict) -> int:
    encode = _indices(nets["generator"], r"encode\.(\d+)\.conv1\.weight")
    decode = _indices(nets["generator"], r"decode\.(\d+)\.conv1\.weight")
    if len(encode) < 3 or encode != list(range(len(encode))) or decode != encode:
        raise StarbatchError(f"{path}: generator blocks encode.0-{len(encode) - 1} and decode.0-{len(decode) - 1} "
                             "do not pair up: not the official StarGAN v2 layout")
    return len(encode) - 2  # the last two pairs are the bottleneck


def _generator_uses_masks(path: Path, nets: dict) -> bool:
    """The official generator has one more down/up pair (to 8 px) when w_hpf > 0."""
    img_size = _style_encoder_img_size(path, nets)
    return _generator_depth(path, nets) == int(math.log2(img_size)) - 3


def infer_config(path: Path, nets: dict[str, dict[str, torch.Tensor]]) -> NetworkConfig:
    """The NetworkConfig that the state_dicts' shapes imply, checked for consistency between networks."""
    img_size = _style_encoder_img_size(path, nets)
    down = _generator_depth(path, nets)
    plain = int(math.log2(img_size)) - 4
    hpf = nets["generator"].get("hpf.filter")
    if hpf is not None:
        w_hpf = _w_hpf(path, hpf)
        if down != plain + 1:
            raise StarbatchError(f"{path}: generator has a high-pass filter but {down} down-sampling blocks, "
                                 f"not the {plain + 1} of a {img_size} px w_hpf model")
    elif down == plain:
        w_hpf = 0.0
    else:
        raise StarbatchError(f"{path}: generator has {down} down-sampling blocks; a {img_size} px model (the style "
                             f"encoder's size) has {plain}, or {plain + 1} with w_hpf")

    mapping_heads = _indices(nets["mapping_network"], r"unshared\.(\d+)\.0\.weight")
    encoder_heads = _indices(nets["style_encoder"], r"unshared\.(\d+)\.weight")
    if not mapping_heads or mapping_heads != list(range(len(mapping_heads))) or encoder_heads != mapping_heads:
        raise StarbatchError(f"{path}: mapping_network has {len(mapping_heads)} domain heads and style_encoder "
                             f"{len(encoder_heads)}: they must match")
    trunk = _tensor(path, nets, "mapping_network", "shared.0.weight")  # (hidden_dim, latent_dim)
    style = _tensor(path, nets, "mapping_network", "unshared.0.6.weight")  # (style_dim, hidden_dim)
    encoder_head = _tensor(path, nets, "style_encoder", "unshared.0.weight")  # (style_dim, max channels)
    from_rgb = _tensor(path, nets, "generator", "from_rgb.weight")  # (dim_in, 3, 3, 3)
    if trunk.dim() != 2 or style.dim() != 2 or encoder_head.dim() != 2 or from_rgb.dim() != 4:
        raise StarbatchError(f"{path}: weights of unexpected rank: not the official StarGAN v2 layout")
    if encoder_head.shape[0] != style.shape[0]:
        raise StarbatchError(f"{path}: mapping_network makes {style.shape[0]}-value styles, style_encoder "
                             f"{encoder_head.shape[0]}-value ones")
    try:
        # E's channels double up to max_conv_dim and, having the most blocks, reach it if any network does.
        return NetworkConfig(img_size=img_size, num_domains=len(mapping_heads), style_dim=style.shape[0],
                             latent_dim=trunk.shape[1], w_hpf=w_hpf, dim_in=from_rgb.shape[0],
                             max_conv_dim=encoder_head.shape[1], hidden_dim=trunk.shape[0])
    except ValueError as error:
        raise StarbatchError(f"{path}: {error}") from None


def _w_hpf(path: Path, hpf: torch.Tensor) -> float:
    """w_hpf from the stored filter, which is the official kernel divided by w_hpf."""
    kernel = torch.tensor(HIGH_PASS_KERNEL, dtype=torch.float64)
    hpf = hpf.detach().to(torch.float64)
    if hpf.shape != kernel.shape or not hpf[1, 1] > 0:
        raise StarbatchError(f"{path}: generator.hpf.filter is not the official 3x3 high-pass kernel")
    w_hpf = float(kernel[1, 1] / hpf[1, 1])
    if not torch.allclose(hpf * w_hpf, kernel, rtol=1e-5, atol=0):
        raise StarbatchError(f"{path}: generator.hpf.filter is not the official 3x3 high-pass kernel")
    return w_hpf


def resolve_domains(path: Path, config: NetworkConfig, domains: str | list[str] | None) -> tuple[str, ...]:
    """Domain names in the model's order: given ones (count checked) or the released models' defaults."""
    if domains is None:
        default = OFFICIAL_DOMAINS.get((config.num_domains, config.uses_masks))
        if default is None:
            raise StarbatchError(
                f"{path}: {config.num_domains} domains, w_hpf {config.w_hpf:g}: not the layout of a released "
                "model (CelebA-HQ female,male; AFHQ cat,dog,wild), so name the domains (--domains a,b,...), "
                "in the sorted order of the training folders")
        return default
    names = [name.strip() for name in (domains.split(",") if isinstance(domains, str) else domains)]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise StarbatchError(f"{path}: domain names must be distinct and non-empty, not {','.join(names)!r}")
    if len(names) != config.num_domains:
        raise StarbatchError(f"{path}: the model has {config.num_domains} domains but {len(names)} names were "
                             f"given ({','.join(names)})")
    return tuple(names)


def _one_line(error: RuntimeError) -> str:
    """The first detail of a load_state_dict error (its first line only names the module)."""
    details = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    return (details[0] if details else str(error))[:300]


def _load_strict(path: Path, module: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise StarbatchError(f"{path}: {name} weights do not fit the network their shapes imply: "
                             f"{_one_line(error)}") from None


def load_fan(path: Path, fan: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load FAN weights as the official FAN does: entries FAN does not have are ignored (wing.ckpt holds a
    four-stack network of which FAN is the first stack); every FAN weight must be there, except
    BatchNorm's `num_batches_tracked` counters, which older files lack and inference never reads."""
    expected = fan.state_dict()
    state = {key: value for key, value in state.items() if key in expected}
    missing = [key for key in expected if key not in state and not key.endswith("num_batches_tracked")]
    if missing:
        what = "holds no FAN weights" if not state else \
            f"lacks {len(missing)} of the FAN's weights (e.g. {missing[0]})"
        raise StarbatchError(f"{path}: {what}")
    try:
        fan.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise StarbatchError(f"{path}: FAN weights do not fit: {_one_line(error)}") from None
