"""A family's generator as an ONNX graph, exported once per model file and machine, and cached.

The cache lives in $XDG_CACHE_HOME/starbatch/onnx (~/.cache/starbatch/onnx), one graph per model
file *content* (its sha256, with the export's version, the opset and torch's version), so a model
file replaced under the same name gets a graph of its own. What is cached is the graph as
onnxruntime optimised it for this machine (its version and this CPU's instruction sets are in the
key): loading it skips the optimisation, 0.10 s instead of 0.21-0.25 s for v1 at 128 px, the
same output bit for bit (benchmarks/results/edit_cpu.md). Beside each graph a small JSON record
holds what it was made from and the sha256 of the graph's bytes: a cached graph is used only when
the record names this model and the bytes hash to it, otherwise (truncated, garbage, another
model's) it is exported again. Files are written through unique temporary names and renames, so
concurrent runs (Ray workers) never read half a file; a cache that cannot be written (read-only
or full disk) only costs the export again next time.

The legacy (TorchScript) exporter is used: in one run here it exported G in 7.4 s against 13.2 s
for the dynamo exporter (which also needs onnxscript), and their graphs ran at the same speed
(benchmarks/results/edit_cpu.md).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import platform
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starbatch.models.family import GeneratorExport, LoadedModel

OPSET = 18  # Col2Im (models/row_fold_conv.py)
RECORD_VERSION = 2


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "starbatch" / "onnx"


def file_sha256(path: Path) -> str:
    """The content hash of `path`, computed once per process for an unchanged file (~60 ms per 34 MB)."""
    stat = Path(path).stat()
    return _sha256_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=16)
def _sha256_of(path: str, size: int, mtime_ns: int, inode: int) -> str:  # the stat fields key the cache
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def machine() -> str:
    """What an optimised graph is specific to: onnxruntime's version, the architecture and this
    CPU's instruction sets (onnxruntime picks its layouts and kernels by them)."""
    import onnxruntime

    from starbatch.inference.runtime import cpu_flags

    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:16]
    return f"onnxruntime {onnxruntime.__version__} {platform.machine()} {flags}"


def _record(model: LoadedModel, export: GeneratorExport) -> dict:
    """What a cached graph was made from; all of it must match for the graph to be used."""
    import torch

    return {"record": RECORD_VERSION, "model_sha256": file_sha256(model.path), "export_version": export.version,
            "inputs": list(export.input_names), "opset": OPSET, "torch": torch.__version__.split("+")[0],
            "optimised_for": machine()}


def _paths(expected: dict) -> tuple[Path, Path]:
    key = hashlib.sha256(json.dumps(expected, sort_keys=True).encode()).hexdigest()[:40]
    return cache_dir() / f"{key}.onnx", cache_dir() / f"{key}.json"


def cached_graph(model: LoadedModel, export: GeneratorExport) -> bytes | None:
    """This machine's optimised graph of `model`'s generator from the cache; None when there is none
    to trust (absent, damaged, another model's)."""
    expected = _record(model, export)
    graph_path, record_path = _paths(expected)
    try:
        record = json.loads(record_path.read_text())
        graph = graph_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or {k: record.get(k) for k in expected} != expected:
        return None
    if record.get("onnx_sha256") != hashlib.sha256(graph).hexdigest():
        return None
    return graph


def store_graph(model: LoadedModel, export: GeneratorExport, graph: bytes) -> None:
    """Keep `graph` (optimised on this machine) for `model`'s later runs, where the cache can be written."""
    expected = _record(model, export)
    graph_path, record_path = _paths(expected)
    try:
        graph_path.parent.mkdir(parents=True, exist_ok=True)
        # The graph first, then its record: a reader that sees the new record with an old graph
        # finds the hash wrong and exports again, never trusts it.
        _write_atomically(graph_path, graph)
        record = expected | {"onnx_sha256": hashlib.sha256(graph).hexdigest()}
        _write_atomically(record_path, json.dumps(record, indent=1).encode())
    except OSError:
        pass  # the cache only saves time: this run has its session, the next one exports again


def export_graph(export: GeneratorExport) -> bytes:
    """Trace `export.build_module()` to ONNX with the batch axis free (legacy exporter, see the module doc)."""
    import torch

    buffer = io.BytesIO()
    names = list(export.input_names)
    module = export.build_module()
    axes = {name: {0: "batch"} for name in [*names, "edited"]}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes mean nothing to a user
        torch.onnx.export(module, export.example, buffer, dynamo=False, input_names=names,
                          output_names=["edited"], dynamic_axes=axes, opset_version=OPSET)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    """A unique temporary file beside `path`, then a rename: concurrent writers cannot collide."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False)
    try:
        with handle:
            handle.write(data)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
