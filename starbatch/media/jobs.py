"""Which files to edit and where each result goes: the output tree mirrors the input tree.

Mirroring, when inputs overlap (`edit a/x a`): each input folder is mirrored from itself, and an
input inside another input folder is part of that folder, so its files mirror from the outer one
(`a/x/p.png` -> `OUT/x/p.png`, `a/p.png` -> `OUT/p.png`). One root per photo, whatever the order
of the inputs, and every output holds its own photo's edit; a photo reached twice (the same folder
given twice, a file inside a folder also given, a symlink) is edited once, under its first name.
Runs without overlap keep what they always did: a folder's files keep their path relative to it,
a file given by name lands at the top of OUT.

What cannot be planned is a usage error, raised before any work: a missing input, a named file
that is not an image, a folder with no images, two photos that would write one output, an output
that would overwrite its input, an `-o NAME.png` for more than one photo.
"""

from dataclasses import dataclass, field
from pathlib import Path

from starbatch.errors import StarbatchError
from starbatch.media.images import FORMAT_BY_SUFFIX, is_image_path

IMAGE_KINDS = "jpg, png, webp, bmp, tiff and heic"


@dataclass(frozen=True)
class Job:
    input_path: Path
    output: Path
    image_format: str | None = None  # None: the input's own (crops: PNG); -o NAME.EXT: EXT's
    variant: int = 0  # which of the request's variants (e.g. a v2 style) this output is


@dataclass
class JobPlan:
    jobs: list[Job]
    skipped: list[Job]  # output already there (written atomically, so complete)
    ignored: list[Path] = field(default_factory=list)  # files in the input folders that are not photos


def output_is_file(out: Path) -> bool:
    """`-o` names one output file when it has an image extension and is not an existing folder."""
    return is_image_path(out) and not out.is_dir()


def plan_jobs(inputs: list[Path], out: Path, overwrite: bool, crop_only: bool,
              variants: tuple[str, ...] = ("",)) -> JobPlan:  # fmt: skip
    """Find image files under `inputs` (recursively) and map each to its place under `out`, or, for
    one photo and `-o NAME.EXT`, to that file in EXT's format.

    Files inside `out` are never taken as inputs, so `-o photos/edited` reruns cleanly.
    Each input gives one job per variant, its output's stem followed by the variant's suffix
    (photo_male_s7.jpg); the one variant "" keeps the input's name.
    """
    out = Path(out)
    to_file = output_is_file(out)
    roots = outermost(inputs)
    if to_file and not (len(roots) == 1 and roots[0].is_file()):
        raise StarbatchError(f"-o {out}: names one file; give one photo file as the input, or a folder for -o")
    ignored: list[Path] = []
    found = _photos(roots, None if to_file else out.resolve(), ignored)
    plan = JobPlan([], [], ignored)
    claimed: dict[Path, Path] = {}
    if to_file and len(variants) > 1:
        raise StarbatchError(f"-o {out}: names one file, but this request writes {len(variants)} outputs per photo; "
                             "give a folder for -o")
    for input_path, relative in found:
        for variant, suffix in enumerate(variants):
            if to_file:
                job = Job(input_path, out, FORMAT_BY_SUFFIX[out.suffix.lower()], variant)
            else:
                output = out / relative
                if suffix:
                    output = output.with_name(f"{output.stem}{suffix}{output.suffix}")
                if crop_only:
                    output = output.with_suffix(".png")  # model-size crops are kept lossless
                job = Job(input_path, output, None, variant)
            if job.output.resolve() == input_path.resolve():
                raise StarbatchError(f"{input_path}: the output would overwrite the input; choose another -o")
            if job.output in claimed:
                raise StarbatchError(f"{claimed[job.output]} and {input_path} would both be written to "
                                     f"{job.output}; edit them in separate runs with their own -o")  # fmt: skip
            claimed[job.output] = input_path
            (plan.jobs if overwrite or not job.output.exists() else plan.skipped).append(job)
    return plan


def outermost(inputs: list[Path]) -> list[Path]:
    """The inputs, each once, in their order, less those inside another input folder (they are
    part of it); a missing path or a named non-image file is refused."""
    for given in inputs:
        if given.is_file() and not is_image_path(given):
            raise StarbatchError(f"{given}: unsupported file type {given.suffix or '(none)'}; "
                                 f"starbatch edits {IMAGE_KINDS}")  # fmt: skip
        if not given.is_file() and not given.is_dir():
            raise StarbatchError(f"{given}: no such file or folder")
    folders = {given.resolve() for given in inputs if given.is_dir()}
    roots, seen = [], set()
    for given in inputs:
        where = given.resolve()
        if where in seen or any(where != folder and where.is_relative_to(folder) for folder in folders):
            continue
        seen.add(where)
        roots.append(given)
    return roots


def _photos(roots: list[Path], out_dir: Path | None, ignored: list[Path]) -> list[tuple[Path, Path]]:
    """(photo, its path under the output folder) for every photo under `roots`, each photo once;
    the folders' other files (not hidden, not in the output folder) are added to `ignored`."""
    found, seen = [], set()
    for root in roots:
        if root.is_file():
            listed = [(root, Path(root.name))]
        else:
            files = [path for path in sorted(root.rglob("*"))
                     if not path.name.startswith(".") and path.is_file()
                     and not (out_dir and path.resolve().is_relative_to(out_dir))]  # fmt: skip
            listed = [(path, path.relative_to(root)) for path in files if is_image_path(path)]
            ignored.extend(path for path in files if not is_image_path(path)  # not what hidden folders (.git) hold
                           and not any(part.startswith(".") for part in path.relative_to(root).parts))
            if not listed:
                raise StarbatchError(f"{root}: no images ({IMAGE_KINDS.replace(' and', ',')}) in this folder")
        for path, relative in listed:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((path, relative))
    return found
