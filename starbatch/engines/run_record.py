"""What made the outputs: a small JSON record beside them, so a rerun with other settings is told
so instead of silently keeping the old outputs, and a rerun with the same settings resumes.

Where: `edit -o OUT` keeps `OUT/.starbatch-run.json`; one output file (`edit -o NAME.png`, every
`video`) keeps `.NAME.EXT.starbatch-run.json` beside it. Written atomically: before the work for a
folder (an interrupted run resumes under it), after the output for one file.

What is compared is what changes the output's bytes: the model file (by its SHA-256; its path,
size and mtime only spare reading an untouched file again), the family's request as checked
against the file (so `--to black_hair` and `--to Black_Hair` are one request), and the options the
command passes (framing, crop, precision; video: the input clip and the encoder settings). Batch
size, workers and device are not recorded: they change how fast, not what.
"""

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from starbatch.errors import StarbatchError
from starbatch.faces.retinaface import MIN_FACE
from starbatch.files import write_atomically

RECORD_NAME = ".starbatch-run.json"
VERSION = 1
# Options the record gained later: a record without one was made with its default.
ADDED_SINCE = {"min_face": MIN_FACE}


def record_path(out: Path, one_file: bool) -> Path:
    """The record of an output folder (inside it) or of one output file (beside it)."""
    return out.with_name(f".{out.name}.starbatch-run.json") if one_file else out / RECORD_NAME


def file_identity(path: Path, known: dict | None = None, content: bool = True) -> dict:
    """A file's SHA-256 with what locates it; `known` (an earlier identity) spares the hashing when
    the same path still has the same size and mtime. `content=False`: path, size and mtime alone
    (an input clip, which can be gigabytes)."""
    path = Path(path).resolve()
    stat = path.stat()
    where = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if not content:
        return where
    if known and all(known.get(key) == value for key, value in where.items()) and known.get("sha256"):
        return {**where, "sha256": known["sha256"]}
    with open(path, "rb") as handle:
        return {**where, "sha256": hashlib.file_digest(handle, "sha256").hexdigest()}


def read_record(path: Path) -> dict | None:
    """The record at `path`; None when there is none (or it is not one of ours: it is replaced)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == VERSION else None


def this_run(record: Path, model: Path, request: Any, options: dict[str, Any], given: dict[str, str],
             inputs: dict[str, Path] | None = None) -> tuple[dict, dict | None]:  # fmt: skip
    """(this run's record, the earlier one or None). `options`: what the command passes that
    changes the output; `given`: the user's words for the request (--to ...), for messages;
    `inputs`: the files edited (video: the clip), known by path, size and mtime."""
    earlier = read_record(record)
    known = (earlier or {}).get("settings", {})
    settings = {"model": file_identity(model, known.get("model")), "request": request_digest(request), **options}
    for name, path in (inputs or {}).items():
        settings[name] = file_identity(path, content=False)
    return {"version": VERSION, "settings": settings, "given": given}, earlier


def differences(earlier: dict, current: dict) -> list[str]:
    """What differs between two records, in the user's words: 'model a -> b', '--to X -> Y'."""
    before, now = earlier.get("settings", {}), current["settings"]
    changed = []
    for key in now:
        old, new = before.get(key, ADDED_SINCE.get(key)), now[key]
        if isinstance(new, dict) and "path" in new:  # a file: its content counts where known, not where it is
            same = old.get("sha256") == new["sha256"] if "sha256" in new and isinstance(old, dict) else old == new
            if not same:
                was = Path(str(old.get("path", "?"))).name if isinstance(old, dict) else "?"
                now_name = Path(new["path"]).name
                changed.append(f"{key} {now_name} changed" if was == now_name else f"{key} {was} -> {now_name}")
        elif key == "request":
            if old != new:
                changed.append(f"{_words(earlier.get('given', {}))} -> {_words(current['given'])}")
        elif old != new:
            changed.append(f"{key} {old} -> {new}")
    return changed


def refuse_other_settings(where: Path, earlier: dict | None, current: dict, overwrite: bool, one_file: bool) -> None:
    """One line when `where` (an output folder, or one output file) was made with other settings,
    saying what differs and how to go on."""
    if earlier is None or overwrite:
        return
    changed = differences(earlier, current)
    if changed:
        what, redo = ("it was", "it") if one_file else ("its outputs were", "them")
        raise StarbatchError(f"{where}: {what} made with other settings ({'; '.join(changed)}): add --overwrite "
                             f"to redo {redo}, or choose another -o")  # fmt: skip


def write_record(path: Path, record: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    except OSError as error:
        raise StarbatchError(f"{path}: cannot write the run's record: {error.strerror or error}") from None


def _words(given: dict[str, str]) -> str:
    return " ".join(f"{option} {value}" for option, value in given.items() if value) or "no request"


def request_digest(request: Any) -> str:
    """The family's request as text that tells any two requests apart: its fields, with every array
    (v1 source labels, a v2 reference crop, which numpy's repr would abbreviate) as a hash of its bytes."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if hasattr(value, "tobytes") and hasattr(value, "shape"):  # a numpy array
            return f"array{tuple(value.shape)} {hashlib.sha256(value.tobytes()).hexdigest()[:16]}"
        return value
    return repr(plain(request))
