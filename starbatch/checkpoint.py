"""Model files: safetensors with the configuration as JSON metadata, and import of official .ckpt.

Layout: tensors `generator.<key>` (and `discriminator.<key>` when D ships, for estimating source
labels); metadata key `starbatch` holds ModelConfig as JSON. Training checkpoints add further
tensors and metadata of their own (train/), which loading a model ignores.
"""

import json
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_tensors

from starbatch.errors import StarbatchError
from starbatch.labels import LabelSpace, label_space_for
from starbatch.model import (
    Discriminator,
    Generator,
    discriminator_config,
    generator_config,
    load_weights,
)

FORMAT_VERSION = 1
ARCHITECTURE = "stargan-v1"
METADATA_KEY = "starbatch"


@dataclass
class ModelConfig:
    image_size: int
    labels: LabelSpace
    g_conv_dim: int = 64
    g_repeat_num: int = 6
    d_conv_dim: int = 64
    d_repeat_num: int = 6
    step: int = 0
    architecture: str = ARCHITECTURE
    version: int = FORMAT_VERSION
    notes: dict = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = self.labels.to_metadata()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        data = json.loads(text)
        data["labels"] = LabelSpace.from_metadata(data["labels"])
        return cls(**data)

    def new_generator(self) -> Generator:
        return Generator(self.g_conv_dim, self.labels.dim, self.g_repeat_num)

    def new_discriminator(self) -> Discriminator:
        return Discriminator(
            self.image_size, self.d_conv_dim, self.labels.class_dim, self.d_repeat_num
        )


@dataclass
class LoadedModel:
    path: Path
    config: ModelConfig
    generator: Generator
    discriminator: Discriminator | None


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it and a rename."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def save_model(
    path: Path,
    config: ModelConfig,
    generator: dict[str, torch.Tensor],
    discriminator: dict[str, torch.Tensor] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    extra_metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Save a model file; `dtype` (e.g. float16) shrinks floating weights for shipping."""
    tensors = {f"generator.{k}": v for k, v in generator.items()}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v for k, v in discriminator.items()})
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    tensors.update(extra_tensors or {})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {METADATA_KEY: config.to_json(), **(extra_metadata or {})}
    write_atomically(Path(path), save_tensors(tensors, metadata=metadata))


def read_file(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """All tensors and metadata of a safetensors file, with one-line errors."""
    return _read(path, with_tensors=True)


def read_header(path: Path) -> tuple[dict[str, str], list[str]]:
    """Metadata and tensor names only: no tensor data is read."""
    metadata, tensors = _read(path, with_tensors=False)
    return metadata, list(tensors)


def _read(path: Path, with_tensors: bool) -> tuple[dict[str, str], dict]:
    path = Path(path)
    if not path.is_file():
        raise StarbatchError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) if with_tensors else None for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        hint = " (an official .ckpt? import it with `starbatch convert`)" if path.suffix in (
            ".ckpt", ".pt", ".pth") else ""
        raise StarbatchError(f"{path}: not a readable safetensors model file: {error}{hint}") from None
    return metadata, tensors


def read_config(path: Path) -> ModelConfig:
    metadata, _ = read_header(path)
    return config_from_metadata(path, metadata)


def config_from_metadata(path: Path, metadata: dict[str, str]) -> ModelConfig:
    if METADATA_KEY not in metadata:
        raise StarbatchError(f"{path}: safetensors file without starbatch metadata; "
                             "import official checkpoints with `starbatch convert`")
    try:
        config = ModelConfig.from_json(metadata[METADATA_KEY])
    except (ValueError, KeyError, TypeError) as error:
        raise StarbatchError(f"{path}: damaged starbatch metadata: {error}") from None
    if config.architecture != ARCHITECTURE or config.version > FORMAT_VERSION:
        raise StarbatchError(f"{path}: {config.architecture} v{config.version} model; this "
                             f"starbatch reads {ARCHITECTURE} v{FORMAT_VERSION}")
    return config


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _load_strict(path: Path, module: torch.nn.Module, state: dict, what: str) -> None:
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        load_weights(module, state)
    except RuntimeError as error:
        first = str(error).split("\n")[1:2] or [str(error)]
        raise StarbatchError(f"{path}: {what} weights do not fit the configuration: "
                             f"{first[0].strip()}") from None


def load_model(path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load G (and D when the file carries it) ready for inference on `device`."""
    path = Path(path)
    metadata, tensors = read_file(path)
    config = config_from_metadata(path, metadata)
    generator = config.new_generator()
    _load_strict(path, generator, _prefixed(tensors, "generator."), "generator")
    discriminator = None
    d_state = _prefixed(tensors, "discriminator.")
    if d_state:
        discriminator = config.new_discriminator()
        _load_strict(path, discriminator, d_state, "discriminator")
        discriminator = discriminator.to(device).eval()
    return LoadedModel(path, config, generator.to(device).eval(), discriminator)


def load_official_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from an official .ckpt, never unpickling anything but tensors."""
    path = Path(path)
    if not path.is_file():
        raise StarbatchError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0][:200]
        raise StarbatchError(f"{path}: refused: not a plain tensor checkpoint ({reason})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        reason = str(error).splitlines()[0][:200] or type(error).__name__
        raise StarbatchError(f"{path}: unreadable checkpoint: {reason}") from None
    for wrapper in ("state_dict", "G", "generator", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StarbatchError(f"{path}: holds no state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def import_official(
    generator_path: Path,
    dataset: str,
    attributes: list[str] | None = None,
    discriminator_path: Path | None = None,
    image_size: int | None = None,
) -> tuple[ModelConfig, dict, dict | None]:
    """Config and weights of official StarGAN G (and D) checkpoints, validated against `dataset`."""
    g_state = load_official_state_dict(generator_path)
    if "conv2.weight" in g_state:
        raise StarbatchError(f"{generator_path}: not a StarGAN generator but a discriminator; "
                             "give it with --discriminator")
    if "main.0.weight" not in g_state or g_state["main.0.weight"].dim() != 4 or "main.1.weight" not in g_state:
        raise StarbatchError(f"{generator_path}: not a StarGAN generator (no main.0 conv + main.1 norm)")
    g = generator_config(g_state)
    labels = label_space_for(dataset, attributes)
    if g["c_dim"] != labels.dim:
        raise StarbatchError(
            f"{generator_path}: generator takes {g['c_dim']} label values but --dataset {dataset}"
            f" with {len(attributes or []) or 5} attributes needs {labels.dim}"
        )
    d_state, d = None, None
    if discriminator_path is not None:
        d_state = load_official_state_dict(discriminator_path)
        if "conv2.weight" not in d_state:
            raise StarbatchError(f"{discriminator_path}: not a StarGAN discriminator (no conv2)")
        d = discriminator_config(d_state)
        if d["c_dim"] != labels.class_dim:
            raise StarbatchError(f"{discriminator_path}: classifier has {d['c_dim']} outputs, "
                                 f"--dataset {dataset} needs {labels.class_dim}")
        if image_size is not None and image_size != d["image_size"]:
            raise StarbatchError(f"{discriminator_path}: trained at {d['image_size']} px, "
                                 f"not --image-size {image_size}")
        image_size = d["image_size"]
    config = ModelConfig(
        image_size=image_size or 128,
        labels=labels,
        g_conv_dim=g["conv_dim"],
        g_repeat_num=g["repeat_num"],
        d_conv_dim=d["conv_dim"] if d else 64,
        d_repeat_num=d["repeat_num"] if d else 6,
        notes={"imported_from": Path(generator_path).name},
    )
    # Validate by loading strictly now, so a bad file fails at convert, not at edit.
    _load_strict(Path(generator_path), config.new_generator(), g_state, "generator")
    if d_state is not None:
        _load_strict(Path(discriminator_path), config.new_discriminator(), d_state, "discriminator")
    return config, g_state, d_state
