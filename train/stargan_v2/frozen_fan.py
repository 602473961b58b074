"""The frozen FAN of a w_hpf > 0 run: G's face masks in training, as official core/solver.py makes them.

Its weights come from a StarGAN v2 model file holding `fan.*` (--fan-from: a converted official model,
or any w_hpf model or checkpoint of ours) or from the official wing.ckpt (--wing), read as `starbatch
convert --wing` reads it. FAN is in no optimizer, needs no gradients and stays in inference mode.
"""

from pathlib import Path

from starbatch.errors import StarbatchError
from starbatch.models.model_file import prefixed, read_file
from starbatch.models.stargan_v2.fan import FAN
from starbatch.models.stargan_v2.official import load_fan, read_wing
from starbatch.train.settings import TrainSettings


def model_fan_weights(path: Path) -> dict:
    """The `fan.*` tensors of a model file, without their prefix."""
    _, tensors = read_file(path)
    state = prefixed(tensors, "fan.")
    if not state:
        raise StarbatchError(f"{path}: holds no FAN weights (fan.*); give a StarGAN v2 model with w_hpf > 0 "
                             "(e.g. `starbatch convert` of the official CelebA-HQ model) or --wing wing.ckpt")
    return state


def frozen_fan(settings: TrainSettings) -> FAN:
    """FAN with the weights the settings name (--fan-from or --wing), frozen."""
    path = Path(settings.wing or settings.fan_from)
    state = read_wing(path) if settings.wing else model_fan_weights(path)
    fan = FAN()
    load_fan(path, fan, state)
    return fan.requires_grad_(False).eval()
