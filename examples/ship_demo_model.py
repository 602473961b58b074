"""Copy a trained run's model into the package as a bundled demo model (StarGAN v1's or v2's, by
the model's architecture), weights in fp16 (half the size; starbatch computes in fp32 after loading).

    python examples/ship_demo_model.py runs/joint/model.safetensors
    python examples/ship_demo_model.py runs/v2/model.safetensors
    python examples/ship_demo_model.py runs/v2/model.safetensors elsewhere.safetensors   # not into the package
"""

import sys
from pathlib import Path

import torch

from starbatch.cli.common import BUNDLED_MODEL, BUNDLED_V2_MODEL
from starbatch.models.model_file import network_names, prefixed, read_file, save_model
from starbatch.models.registry import load_model


def main() -> None:
    source = Path(sys.argv[1])
    model = load_model(source)  # refuses a file that is not a complete model
    model.config.notes = {**model.config.notes, "shipped_from": source.name, "weights": "float16"}
    _, tensors = read_file(source)  # the file's own networks, under their official names
    networks = {name: prefixed(tensors, name + ".") for name in sorted(network_names(list(tensors)))}
    target = BUNDLED_V2_MODEL if model.config.architecture == "stargan-v2" else BUNDLED_MODEL
    if len(sys.argv) > 2:
        target = Path(sys.argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    save_model(target, model.config, networks, dtype=torch.float16)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) from {source}")


if __name__ == "__main__":
    main()
