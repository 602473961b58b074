"""The generator's ONNX exports in tests: counted, and a warm cache copied per test (exporting
takes a second or more even for small models, so the tests of a module share one warm cache)."""

import shutil
from pathlib import Path

from starbatch.inference import onnx_cache


def counting_exports(monkeypatch) -> list:
    """Every export made from now on (onnx_cache.export_graph's argument), in a list."""
    exports = []
    real_export = onnx_cache.export_graph

    def counted(export):
        exports.append(export)
        return real_export(export)

    monkeypatch.setattr(onnx_cache, "export_graph", counted)
    return exports


def copied_cache(warm: Path, tmp_path: Path, monkeypatch) -> list:
    """The cache set to a copy of `warm` of this test's own; the exports made into it, counted."""
    shutil.copytree(warm, tmp_path / "cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return counting_exports(monkeypatch)
