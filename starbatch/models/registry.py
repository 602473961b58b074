"""Which family reads a model file: the `architecture` in its metadata names it.

No torch at import: the CLI looks the family up and checks the request from the file's header
before any weights (and torch) load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError
from starbatch.models import model_file
from starbatch.models.family import OPTION_FLAGS, EditOptions, Family, LoadedModel, ModelConfig
from starbatch.models.stargan_v1.family import STARGAN_V1
from starbatch.models.stargan_v2.family import STARGAN_V2

if TYPE_CHECKING:
    import torch

FAMILIES: dict[str, Family] = {family.architecture: family for family in (STARGAN_V1, STARGAN_V2)}


def family(architecture: str) -> Family:
    try:
        return FAMILIES[architecture]
    except KeyError:
        raise StarbatchError(f"unknown architecture {architecture!r}; this starbatch reads "
                             f"{', '.join(FAMILIES)}") from None


def architecture_taking(options: EditOptions) -> str | None:
    """The family whose options the request gives (v2 for --domain and --seed, ...); None when it
    gives none, or options of two families (the model's family then refuses the others)."""
    given = [name for name in OPTION_FLAGS if getattr(options, name) is not None]
    for architecture, candidate in FAMILIES.items():
        if given and all(name in candidate.takes for name in given):
            return architecture
    return None


def config_from_metadata(path: Path, metadata: dict[str, str]) -> ModelConfig:
    data = model_file.config_data(path, metadata)
    if data["architecture"] not in FAMILIES:
        raise StarbatchError(f"{path}: {data['architecture']} model; this starbatch reads {', '.join(FAMILIES)}")
    return FAMILIES[data["architecture"]].config_from_json(path, data)


def read_config(path: Path) -> ModelConfig:
    """The file's configuration from its header alone: no weights are read."""
    metadata, _ = model_file.read_header(path)
    return config_from_metadata(path, metadata)


def official_architecture(path: Path) -> str | None:
    """Which family's official checkpoint `path` holds, from its top level: StarGAN v2's
    `*_nets_ema.ckpt` is a dict of state_dicts by network name (mapping_network, style_encoder...),
    anything else is taken for StarGAN v1's. None: unreadable (each importer says why, in one line).
    Only tensors are unpickled (weights_only); mmap spares reading them where the file allows."""
    import torch

    try:
        try:
            content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (pre-zip) file, as the released v2 ones are: no mmap
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - unreadable for any reason: the importer names it
        return None
    if isinstance(content, dict) and any(name in content for name in ("mapping_network", "style_encoder")):
        return STARGAN_V2.architecture
    return STARGAN_V1.architecture


def load_model(path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """The file's networks, loaded strictly, ready for inference on `device`."""
    path = Path(path)
    metadata, tensors = model_file.read_file(path)
    config = config_from_metadata(path, metadata)
    return FAMILIES[config.architecture].load(path, config, tensors, device)
