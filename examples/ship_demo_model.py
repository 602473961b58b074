"""Copy a trained run's model into the package as the bundled demo model, weights in fp16
(half the size; starbatch computes in fp32 after loading).

    python examples/ship_demo_model.py runs/joint/model.safetensors
"""

import sys
from pathlib import Path

import torch

from starbatch.checkpoint import load_model, save_model
from starbatch.cli import BUNDLED_MODEL


def main() -> None:
    source = Path(sys.argv[1])
    model = load_model(source)
    model.config.notes = {**model.config.notes, "shipped_from": source.name, "weights": "float16"}
    discriminator = model.discriminator.state_dict() if model.discriminator is not None else None
    BUNDLED_MODEL.parent.mkdir(parents=True, exist_ok=True)
    save_model(BUNDLED_MODEL, model.config, model.generator.state_dict(), discriminator, dtype=torch.float16)
    print(f"wrote {BUNDLED_MODEL} ({BUNDLED_MODEL.stat().st_size / 1e6:.1f} MB) from {source}")


if __name__ == "__main__":
    main()
