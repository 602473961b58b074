"""The model file: safetensors, with the family's configuration as JSON in the metadata.

Layout: tensors `<network>.<key>` (StarGAN v1: `generator.`, and `discriminator.` when D ships);
metadata key `starbatch` holds the configuration, whose `architecture` names the family that reads
it (registry.py). Training checkpoints add tensors and metadata of their own (train/), which
loading a model ignores. This module knows no family.

The header (metadata and tensor names) is read without torch or safetensors: an 8-byte
little-endian length, then that many bytes of JSON. So a request is checked against the file
before torch loads, and a usage error answers at once; torch comes only with the weights.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError
from starbatch.files import write_atomically
from starbatch.models.family import ModelConfig

if TYPE_CHECKING:
    import torch

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
    from safetensors.torch import save as save_tensors

    tensors = {f"{name}.{k}": v for name, state in networks.items() if state is not None for k, v in state.items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    tensors.update(extra_tensors or {})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {METADATA_KEY: config.to_json(), **(extra_metadata or {})}
    write_atomically(Path(path), save_tensors(tensors, metadata=metadata))


def read_file(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """All tensors and metadata of a safetensors file, with one-line errors."""
    from safetensors import SafetensorError, safe_open

    metadata, _ = read_header(path)  # the same one-line errors for a damaged header
    try:
        with safe_open(str(path), framework="pt") as handle:
            return metadata, {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise StarbatchError(f"{path}: not a readable safetensors model file: {error}") from None


# A header this long is not a model file's (ours are a few KiB): refuse before reading it.
MAX_HEADER_BYTES = 100_000_000


def read_header(path: Path) -> tuple[dict[str, str], list[str]]:
    """Metadata and tensor names only, checked as safetensors checks them: no tensor data is read."""
    path = Path(path)
    if not path.is_file():
        raise StarbatchError(f"{path}: no such model file")
    try:
        with open(path, "rb") as handle:
            header = _parse_header(handle, path.stat().st_size)
    except (OSError, ValueError) as error:
        hint = " (an official .ckpt? import it with `starbatch convert`)" if path.suffix in (
            ".ckpt", ".pt", ".pth") else ""
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise StarbatchError(f"{path}: not a readable safetensors model file: {reason}{hint}") from None
    metadata = header.pop("__metadata__", None) or {}
    return metadata, list(header)


def _parse_header(handle, file_size: int) -> dict:
    start = handle.read(8)
    if len(start) < 8:
        raise ValueError("shorter than a safetensors header")
    (length,) = struct.unpack("<Q", start)
    if length > min(MAX_HEADER_BYTES, file_size - 8):
        raise ValueError(f"header length {length} does not fit the file ({file_size} bytes)")
    header = json.loads(handle.read(length).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("__metadata__ must map names to strings")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"tensor {name!r} has no valid data_offsets")
        end = max(end, offsets[1])
    if end != file_size - 8 - length:  # as safetensors: the data must fill the rest exactly
        raise ValueError(f"tensor data ends at {end} but the file holds {file_size - 8 - length} bytes "
                         "after the header (truncated?)")
    return header


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
