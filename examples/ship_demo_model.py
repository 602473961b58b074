"""Copy a trained run's model into the package as the bundled demo model, weights in fp16
(half the size; starbatch computes in fp32 after loading).

    python examples/ship_demo_model.py runs/joint/model.safetensors
"""

import sys
from pathlib import Path

import torch

from starbatch.cli.common import BUNDLED_MODEL
from starbatch.models.model_file import save_model
from starbatch.models.registry import load_model


def main() -> None:
    source = Path(sys.argv[1])
    model = load_model(source)
    model.config.notes = {**model.config.notes, "shipped_from": source.name, "weights": "float16"}
    networks = {name: network.state_dict() for name, network in model.networks.items()}
    BUNDLED_MODEL.parent.mkdir(parents=True, exist_ok=True)
    save_model(BUNDLED_MODEL, model.config, networks, dtype=torch.float16)
    print(f"wrote {BUNDLED_MODEL} ({BUNDLED_MODEL.stat().st_size / 1e6:.1f} MB) from {source}")


if __name__ == "__main__":
    main()
