"""The model file: safetensors, with the family's configuration as JSON in the metadata.

Layout: tensors `<network>.<key>` (StarGAN v1: `generator.`, and `discriminator.` when D ships);
metadata key `starbatch` holds the configuration, whose `architecture` names the family that reads
it (registry.py). Training checkpoints add tensors and metadata of their own (train/), which
loading a model ignores. This module knows no family.
"""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_tensors

from starbatch.errors import StarbatchError
from starbatch.files import write_atomically
from starbatch.models.family import ModelConfig

METADATA_KEY = "starbatch"


def save_model(
    path: Path,
    config: ModelConfig,
    networks: dict[str, dict[str, torch.Tensor] | None],
    extra_tensors: dict[str, torch.Tensor] | None = None,
    extra_metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Save a model file: each network's state_dict under its name (None: not shipped); `dtype`
    (e.g. float16) shrinks floating weights for shipping."""
    tensors = {f"{name}.{k}": v for name, state in networks.items() if state is not None for k, v in state.items()}
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


def config_data(path: Path, metadata: dict[str, str]) -> dict:
    """The configuration stored in the metadata, as parsed JSON (its family reads the fields)."""
    if METADATA_KEY not in metadata:
        raise StarbatchError(f"{path}: safetensors file without starbatch metadata; "
                             "import official checkpoints with `starbatch convert`")
    try:
        data = json.loads(metadata[METADATA_KEY])
    except ValueError as error:
        raise StarbatchError(f"{path}: damaged starbatch metadata: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("architecture"), str):
        raise StarbatchError(f"{path}: damaged starbatch metadata: no architecture")
    return data


def prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix` (e.g. "generator."), with the prefix taken off."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def network_names(tensor_names: list[str]) -> set[str]:
    """Which networks a file carries, from its tensor names (no tensor data needed)."""
    return {name.partition(".")[0] for name in tensor_names}
