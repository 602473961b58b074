"""What runs "the generator call" of a model's family: torch (the reference, and CUDA), or onnxruntime.

Both take what the Editor hands G, the images and one pass's condition (a tensor or a tuple of
tensors, models/family.py), and give the edited images. onnxruntime runs the graph the family
exports (Family.generator_export), cached per model file (onnx_cache.py). `auto` picks it on a CPU
in fp32, where it measured faster (benchmarks/results/edit_cpu.md), and torch everywhere else.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError
from starbatch.inference.runtime import autocast

if TYPE_CHECKING:
    import torch

    from starbatch.models.family import LoadedModel

BACKENDS = ("auto", "torch", "onnxruntime")


def check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise StarbatchError(f"--backend {name!r}: choose {', '.join(BACKENDS)}")


def resolve_backend(name: str, device: torch.device, precision: str, exports: bool) -> str:
    """"auto": onnxruntime on a CPU in fp32 where the family exports its generator, else torch."""
    check_backend(name)
    if name == "auto":
        return "onnxruntime" if device.type == "cpu" and precision == "fp32" and exports else "torch"
    if name == "onnxruntime":
        if device.type != "cpu":
            raise StarbatchError("--backend onnxruntime runs on the CPU; on a GPU use --backend torch (or auto)")
        if precision != "fp32":
            raise StarbatchError(f"--backend onnxruntime runs fp32 only; --precision {precision} needs --backend torch")
        if not exports:
            raise StarbatchError("--backend onnxruntime: this model family's generator runs on torch only")
    return name


def conditions_tuple(condition: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return condition if isinstance(condition, tuple) else (condition,)


class TorchGenerator:
    """The family's own module, under autocast for half precision."""

    name = "torch"

    def __init__(self, generator: torch.nn.Module, device: torch.device, precision: str):
        self.generator, self.device, self.precision = generator, device, precision

    def __call__(self, images: torch.Tensor, condition) -> torch.Tensor:
        with autocast(self.device, self.precision):
            return self.generator(images, *conditions_tuple(condition))


class OnnxGenerator:
    """The exported graph in an onnxruntime session run on one thread per call, with a batch split
    into parts run side by side on as many threads as torch uses here (torch.set_num_threads, e.g.
    per Ray worker). onnxruntime's convolutions split across threads poorly, a batch splits
    perfectly: on 2 cores, 128 px v1 G, per image, eager torch 0.136-0.142 s, one run on 2 intra-op
    threads 0.098-0.104 s, parts of 4 side by side 0.089-0.091 s, parts of 2 0.085-0.089 s
    (benchmarks/onnx_generator.py). So two parts per thread: a thread slowed by the decode and
    encode threads holds its batch up less."""

    name = "onnxruntime"

    def __init__(self, session, input_names: tuple[str, ...], threads: int):
        self.session, self.input_names = session, input_names
        self.threads = max(1, threads)
        self._pool = None

    def __call__(self, images: torch.Tensor, condition) -> torch.Tensor:
        import numpy as np
        import torch

        inputs = [tensor.detach().float().contiguous().numpy() for tensor in (images, *conditions_tuple(condition))]
        parts = 1 if self.threads == 1 else min(2 * self.threads, len(images))
        bounds = np.linspace(0, len(images), parts + 1).astype(int)
        feeds = [{name: array[start:end] for name, array in zip(self.input_names, inputs, strict=True)}
                 for start, end in zip(bounds[:-1], bounds[1:], strict=True)]  # fmt: skip
        if parts == 1:
            return torch.from_numpy(self.session.run(None, feeds[0])[0])
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="starbatch-onnx")
        # session.run releases the GIL and may be called from several threads at once
        outputs = list(self._pool.map(lambda feed: self.session.run(None, feed)[0], feeds))
        return torch.from_numpy(np.concatenate(outputs))


def make_generator(model: LoadedModel, device: torch.device, precision: str, backend: str = "auto"):
    """The generator call for `model` on `device` by `backend` (resolved here)."""
    import torch

    export = model.family.generator_export(model) if device.type == "cpu" else None
    chosen = resolve_backend(backend, device, precision, export is not None)
    if chosen == "onnxruntime" and backend == "auto" and not _installed("onnxruntime", "onnx"):
        chosen = "torch"  # an install without them still edits, on the reference path
    if chosen == "torch":
        return TorchGenerator(model.generator, device, precision)
    from starbatch.inference import onnx_cache

    graph = onnx_cache.cached_graph(model, export)
    session = None
    if graph is not None:
        try:
            session, _ = onnx_session(graph, optimised=True)
        except Exception:  # noqa: BLE001 - a cached graph this onnxruntime cannot load is rebuilt, never trusted
            session = None
    if session is None:
        session, optimised = onnx_session(onnx_cache.export_graph(export), optimised=False)
        if optimised is not None:
            onnx_cache.store_graph(model, export, optimised)
    return OnnxGenerator(session, export.input_names, torch.get_num_threads())


def onnx_session(graph: bytes, optimised: bool):
    """An onnxruntime session of `graph` with one thread per run, and the graph as onnxruntime
    optimised it for this machine (None where no temporary file could hold it). `optimised`:
    `graph` already is that (from the cache, onnx_cache.py) and is loaded as it is."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # each run in the thread that calls it (OnnxGenerator)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its optimizer notes mean nothing to a user
    level = onnxruntime.GraphOptimizationLevel
    options.graph_optimization_level = level.ORT_DISABLE_ALL if optimised else level.ORT_ENABLE_ALL

    def session():
        return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    if optimised:
        return session(), graph
    try:
        with tempfile.TemporaryDirectory(prefix="starbatch-onnx-") as folder:
            options.optimized_model_filepath = str(Path(folder) / "optimised.onnx")
            made = session()
            return made, Path(options.optimized_model_filepath).read_bytes()
    except Exception:  # noqa: BLE001 - e.g. no room for the optimised copy: a session all the same, none to cache
        options.optimized_model_filepath = ""
        return session(), None


def _installed(*modules: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in modules)
