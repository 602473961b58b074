"""Writing files so that a reader never sees half of one, and finding out early where we cannot."""

import os
import tempfile
from pathlib import Path

from starbatch.errors import StarbatchError


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


def check_writable(folder: Path, given: Path | None = None) -> None:
    """Refuse, in one line naming `-o` as `given` (default: the folder), a folder where files cannot
    be made: the folder, or the nearest parent that exists when it is still to be made. Tried with a
    real file, not guessed from permission bits, which root ignores and a read-only mount hides."""
    folder = Path(folder)
    given = folder if given is None else given
    place = folder
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise StarbatchError(f"-o {given}: {place} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".starbatch-write-test-", dir=place)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        where = "there" if place == given else f"in {place}"
        raise StarbatchError(f"-o {given}: cannot write {where}: {error.strerror or error}") from None
