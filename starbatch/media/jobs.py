"""Which files to edit and where each result goes: the output tree mirrors the input tree."""

from dataclasses import dataclass
from pathlib import Path

from starbatch.media.images import is_image_path


@dataclass(frozen=True)
class Job:
    input_path: Path
    output: Path
    variant: int = 0  # which of the request's variants (e.g. a v2 style) this output is


@dataclass
class JobPlan:
    jobs: list[Job]
    skipped: list[Job]  # output already there (written atomically, so complete)
    problems: list[tuple[Path, str]]  # inputs refused before any decoding


def plan_jobs(inputs: list[Path], out_dir: Path, overwrite: bool, crop_only: bool,
              variants: tuple[str, ...] = ("",)) -> JobPlan:  # fmt: skip
    """Find image files under `inputs` (recursively) and map each to its place under `out_dir`.

    A folder's files keep their path relative to it; a file given by name lands at the top.
    Files inside `out_dir` are never taken as inputs, so `-o photos/edited` reruns cleanly.
    Each input gives one job per variant, its output's stem followed by the variant's suffix
    (photo_male_s7.jpg); the one variant "" keeps the input's name.
    """
    out_dir = out_dir.resolve()
    plan = JobPlan([], [], [])
    claimed: dict[Path, Path] = {}
    for given in inputs:
        for input_path, relative in _find(Path(given), out_dir, plan.problems):
            for variant, suffix in enumerate(variants):
                output = out_dir / relative
                if suffix:
                    output = output.with_name(f"{output.stem}{suffix}{output.suffix}")
                if crop_only:
                    output = output.with_suffix(".png")  # model-size crops are kept lossless
                if output.resolve() == input_path.resolve():
                    plan.problems.append((input_path, "output would overwrite the input; choose another -o"))
                elif output in claimed:
                    plan.problems.append((input_path, f"same output path as {claimed[output]}"))
                else:
                    claimed[output] = input_path
                    job = Job(input_path, output, variant)
                    (plan.jobs if overwrite or not output.exists() else plan.skipped).append(job)
    return plan


def _find(given: Path, out_dir: Path, problems: list) -> list[tuple[Path, Path]]:
    if given.is_file():
        if not is_image_path(given):
            problems.append((given, f"unsupported file type {given.suffix or '(none)'}; "
                             "starbatch edits jpg, png, webp, bmp and tiff"))
            return []
        return [(given, Path(given.name))]
    if not given.is_dir():
        problems.append((given, "no such file or folder"))
        return []
    found = []
    for path in sorted(given.rglob("*")):
        if path.name.startswith(".") or not path.is_file() or not is_image_path(path):
            continue
        if path.resolve().is_relative_to(out_dir):
            continue
        found.append((path, path.relative_to(given)))
    return found
