"""A family's generator as an ONNX graph, exported once per model file and cached.

The cache lives in $XDG_CACHE_HOME/starbatch/onnx (~/.cache/starbatch/onnx), one graph per model
file *content* (its sha256, with the export's version, the opset and torch's version), so a model
file replaced under the same name gets a graph of its own. Beside each graph a small JSON record
holds what it was made from and the sha256 of the graph's bytes: a cached graph is used only when
the record names this model and the bytes hash to it, otherwise (truncated, garbage, another
model's) it is exported again. Files are written through unique temporary names and renames, so
concurrent runs (Ray workers) never read half a file.

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
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starbatch.models.family import GeneratorExport, LoadedModel

OPSET = 18  # Col2Im (models/row_fold_conv.py)
RECORD_VERSION = 1


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


def _record(model_sha256: str, export: GeneratorExport) -> dict:
    """What a cached graph was made from; all of it must match for the graph to be used."""
    import torch

    return {"record": RECORD_VERSION, "model_sha256": model_sha256, "export_version": export.version,
            "inputs": list(export.input_names), "opset": OPSET, "torch": torch.__version__.split("+")[0]}


def cached_graph(model: LoadedModel, export: GeneratorExport, refresh: bool = False) -> tuple[bytes, bool]:
    """The generator's ONNX graph (bytes) for `model`, and whether it came from the cache
    (`refresh`: export again whatever the cache holds)."""
    expected = _record(file_sha256(model.path), export)
    key = hashlib.sha256(json.dumps(expected, sort_keys=True).encode()).hexdigest()[:40]
    folder = cache_dir()
    graph_path, record_path = folder / f"{key}.onnx", folder / f"{key}.json"
    graph = None if refresh else _read_valid(graph_path, record_path, expected)
    if graph is not None:
        return graph, True
    graph = export_graph(export)
    folder.mkdir(parents=True, exist_ok=True)
    # The graph first, then its record: a reader that sees the new record with an old graph
    # finds the hash wrong and exports again, never trusts it.
    _write_atomically(graph_path, graph)
    record = expected | {"onnx_sha256": hashlib.sha256(graph).hexdigest()}
    _write_atomically(record_path, json.dumps(record, indent=1).encode())
    return graph, False


def _read_valid(graph_path: Path, record_path: Path, expected: dict) -> bytes | None:
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


def export_graph(export: GeneratorExport) -> bytes:
    """Trace `export.module` to ONNX with the batch axis free (legacy exporter, see the module doc)."""
    import torch

    buffer = io.BytesIO()
    names = list(export.input_names)
    axes = {name: {0: "batch"} for name in [*names, "edited"]}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes mean nothing to a user
        torch.onnx.export(export.module, export.example, buffer, dynamo=False, input_names=names,
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
