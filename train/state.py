"""Training checkpoints: one safetensors file that resumes a run exactly.

It is a model file (models/model_file.py's save_model: the family's networks by name and its
ModelConfig, so `edit` can read it; v1: G and D, v2: the EMA networks under the model's names and
the trained ones beside them) plus the Adam states flattened to named tensors, the step, the
run's settings and every RNG state.
"""

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from starbatch.errors import StarbatchError
from starbatch.models.family import ModelConfig
from starbatch.models.model_file import prefixed, read_file, save_model
from starbatch.models.registry import config_from_metadata

CHECKPOINT_DIR = "checkpoints"
KEEP = 2  # checkpoints kept on disk: the newest and the one before, in case a write is cut


@dataclass
class TrainingState:
    config: ModelConfig
    networks: dict[str, dict[str, torch.Tensor]]  # state_dicts by network name
    optimizers: dict[str, dict]
    step: int
    settings: dict
    rng: dict

    @property
    def generator(self) -> dict[str, torch.Tensor]:
        return self.networks.get("generator", {})

    @property
    def discriminator(self) -> dict[str, torch.Tensor]:
        return self.networks.get("discriminator", {})


def flatten_optimizer(name: str, state: dict) -> tuple[dict[str, torch.Tensor], str]:
    """An optimizer state_dict as tensors `optimizer.<name>.<param>.<key>` and its groups as JSON."""
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{name}.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, json.dumps({"param_groups": state["param_groups"], "scalars": scalars})


def unflatten_optimizer(name: str, tensors: dict[str, torch.Tensor], groups_json: str) -> dict:
    data = json.loads(groups_json)
    state: dict[int, dict] = {}
    for key, value in prefixed(tensors, f"optimizer.{name}.").items():
        index, _, field = key.partition(".")
        state.setdefault(int(index), {})[field] = value
    for key, value in data["scalars"].items():
        index, _, field = key.partition(".")
        state.setdefault(int(index), {})[field] = value
    return {"state": state, "param_groups": data["param_groups"]}


def rng_states(generator: torch.Generator) -> tuple[dict[str, torch.Tensor], str]:
    """The loop's generator and torch's, numpy's and Python's global RNGs."""
    tensors = {"rng.loop": generator.get_state(), "rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    python = random.getstate()
    text = json.dumps({"numpy": [kind, keys.tolist(), position, has_gauss, gauss],
                       "python": [python[0], list(python[1]), python[2]]})
    return tensors, text


def restore_rng(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["rng.loop"])
    torch.set_rng_state(state["rng.torch"])
    if "rng.cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["rng.cuda"])
    other = json.loads(state["rng.json"])
    kind, keys, position, has_gauss, gauss = other["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = other["python"]
    random.setstate((version, tuple(internal), gauss_next))


def restore_run_rng(solver, rng: dict) -> None:
    """A solver's RNG states from its run's checkpoint (any family): the global ones and the loop's, and
    in a distributed run resumed with as many workers, each rank's own loop generator (rng.worker<rank>)."""
    restore_rng(rng, solver.generator)
    workers = [key for key in rng if key.startswith("rng.worker")]
    own = f"rng.worker{solver.rank}"
    if own in rng and len(workers) == solver.world_size:
        solver.generator.set_state(rng[own])


def save_checkpoint(path: Path, config: ModelConfig, networks: dict[str, dict[str, torch.Tensor]],
                    optimizers: dict[str, dict], step: int, settings: dict,
                    rng: tuple[dict[str, torch.Tensor], str],
                    worker_rng: list[torch.Tensor] | None = None) -> None:
    tensors: dict[str, torch.Tensor] = dict(rng[0])
    metadata = {"rng.json": rng[1], "train.settings": json.dumps(settings, sort_keys=True),
                "train.step": str(step)}
    for name, state in optimizers.items():
        flat, groups = flatten_optimizer(name, state)
        tensors.update(flat)
        metadata[f"optimizer.{name}"] = groups
    for rank, state in enumerate(worker_rng or []):
        tensors[f"rng.worker{rank}"] = state
    config.step = step
    save_model(path, config, networks, extra_tensors=tensors, extra_metadata=metadata)


def load_checkpoint(path: Path) -> TrainingState:
    metadata, tensors = read_file(path)
    if "train.step" not in metadata:
        raise StarbatchError(f"{path}: a model file, not a training checkpoint (no optimizer state)")
    config = config_from_metadata(path, metadata)
    optimizers = {key.removeprefix("optimizer."): unflatten_optimizer(
        key.removeprefix("optimizer."), tensors, value)
        for key, value in metadata.items() if key.startswith("optimizer.")}
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    rng["rng.json"] = metadata["rng.json"]
    names = {key.partition(".")[0] for key in tensors} - {"optimizer", "rng"}
    networks = {name: prefixed(tensors, name + ".") for name in sorted(names)}
    return TrainingState(config, networks, optimizers, int(metadata["train.step"]),
                         json.loads(metadata["train.settings"]), rng)


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{step:08d}.safetensors"


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((Path(run_dir) / CHECKPOINT_DIR).glob("step-*.safetensors"))
    return found[-1] if found else None


def prune_checkpoints(run_dir: Path, keep: int = KEEP) -> None:
    found = sorted((Path(run_dir) / CHECKPOINT_DIR).glob("step-*.safetensors"))
    for old in found[:-keep]:
        old.unlink()


def save_run_checkpoint(solver, networks: dict[str, dict], optimizers: dict[str, dict]) -> None:
    """A solver's checkpoint of its run (any family): every rank's RNG gathered first (a collective),
    then rank 0 writes the file and keeps the newest few."""
    worker_rng = solver.gather(solver.generator.get_state()) if solver.gather else None
    if solver.rank != 0:
        return
    path = checkpoint_path(solver.out, solver.step)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, solver.config, networks, optimizers, solver.step, asdict(solver.settings),
                    rng_states(solver.generator), worker_rng)
    prune_checkpoints(solver.out)
