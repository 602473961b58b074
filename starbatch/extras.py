"""Optional parts of the install (pyproject's extras), and the one line that says how to add one.

The core install edits photos and video in one process; Ray (`--workers`, `--address`) comes with
the `cluster` extra, so a CPU user who never uses it does not carry ray[train], pyarrow and pandas.
"""

import importlib
from importlib import metadata
from pathlib import Path
from types import ModuleType

from starbatch.errors import StarbatchError

RAY = ("ray", "cluster")  # (module, the extra that installs it)


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import `module`; when it is missing, one line saying which extra brings it and how."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == top:
            raise StarbatchError(f"{feature} needs {top}, which is not installed: {install_hint(extra)}") from None
        # installed without what the extra adds (e.g. ray without ray[train]'s packages)
        raise StarbatchError(f"{feature} needs {module} ({error}): {install_hint(extra)}") from None


def install_hint(extra: str) -> str:
    """The command that adds `extra`: to the clone starbatch runs from, else from the index."""
    root = Path(__file__).resolve().parent.parent
    clone = (root / "pyproject.toml").is_file()  # an editable install from a clone, as the README does
    command = f'pip install -e "{root}[{extra}]"' if clone else f'pip install "starbatch[{extra}]"'
    wanted = [r.split(";")[0].strip() for r in _requirements() if f'extra == "{extra}"' in r]
    return command + (f' (or pip install "{wanted[0]}")' if len(wanted) == 1 else "")


def _requirements() -> list[str]:
    try:
        return metadata.requires("starbatch") or []
    except metadata.PackageNotFoundError:
        return []
