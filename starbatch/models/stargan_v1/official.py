"""Import of the official StarGAN v1 checkpoints (yunjey/stargan's pickled `.ckpt` state_dicts).

They are unpickled only with `weights_only=True`: tensors and plain containers, never code.
"""

import pickle
from pathlib import Path

import torch

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v1.config import ModelConfig
from starbatch.models.stargan_v1.labels import label_space_for
from starbatch.models.stargan_v1.networks import discriminator_config, generator_config, load_strict


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
        framing="celeba",  # the official weights saw CelebA's aligned images (DESIGN.md)
        notes={"imported_from": Path(generator_path).name},
    )
    # Validate by loading strictly now, so a bad file fails at convert, not at edit.
    load_strict(Path(generator_path), config.new_generator(), g_state, "generator")
    if d_state is not None:
        load_strict(Path(discriminator_path), config.new_discriminator(), d_state, "discriminator")
    return config, g_state, d_state
