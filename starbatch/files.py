"""Writing files so that a reader never sees half of one."""

import os
from pathlib import Path


def partial_path(path: Path) -> Path:
    """Where `path` is written before the rename: `.NAME.partial` beside it."""
    return path.with_name(f".{path.name}.partial")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it and a rename."""
    path = Path(path)
    partial = partial_path(path)
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)
