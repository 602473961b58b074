"""Editing photos: the batch function's two ends (prepare, finish), the in-process engine, and the
run around any engine that `starbatch edit` makes (plan the files, show progress, summarise).

In-process: reader threads decode ahead and find the faces, the model runs batches on this thread,
writer threads encode behind (pipeline.py).
"""

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from starbatch.engines.pipeline import ReadAhead, WriteBehind, batches
from starbatch.engines.progress import Progress
from starbatch.errors import StarbatchError
from starbatch.faces.detection import NO_FACE, FaceBox, face_boxes
from starbatch.files import partial_path, write_atomically
from starbatch.inference.compositing import crop_photo, model_input, paste_edit
from starbatch.inference.editor import Editor
from starbatch.media.images import DEFAULT_MAX_PIXELS, Photo, encode_photo, read_photo
from starbatch.media.jobs import Job, JobPlan, plan_jobs

# Per direction (decoding + detection, encoding): half the cores, the model's threads take all of them
# while a batch runs; on 2 cores 1 each way measured 2-5% faster than 2 (benchmarks/results/edit_cpu.md).
IO_THREADS = min(4, max(1, (os.cpu_count() or 2) // 2))


@dataclass
class Outcome:
    job: Job
    status: str  # "edited" or "failed" ("skipped" is decided before the engine runs)
    error: str | None = None


@dataclass
class Prepared:
    job: Job
    photo: Photo
    boxes: list[FaceBox]  # one per face, largest first; each goes through G as its own batch item
    model_inputs: list[np.ndarray]


@dataclass
class Unreadable:
    job: Job
    error: BaseException


def prepare(job: Job, image_size: int, max_pixels: int, faces: str = "detect", crop_only: bool = False) -> Prepared:
    """Decode, find the faces (here, so the in-process and Ray engines share it), make G's inputs."""
    photo = read_photo(job.input_path, max_pixels)
    boxes = face_boxes(photo.rgb, faces)
    if not boxes:
        raise StarbatchError(NO_FACE)
    if crop_only:
        boxes = boxes[:1]  # --crop-only writes the largest face's crop
    return Prepared(job, photo, boxes, [model_input(photo, box, image_size) for box in boxes])


def finish(item: Prepared, edited: torch.Tensor, crop_only: bool) -> None:
    """Compose the full-size result (or the crop), encode, and write it atomically.

    `edited` holds G's output for each of the item's boxes, in order."""
    job = item.job
    if crop_only:
        data = encode_photo(crop_photo(edited[0]), job.image_format or "PNG")
    else:
        photo = item.photo
        for box, before, after in zip(item.boxes, item.model_inputs, edited, strict=True):
            photo = paste_edit(photo, box, torch.from_numpy(before), after)
        data = encode_photo(photo, job.image_format)
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(job.output, data)
    except OSError as error:  # name the output, not the temporary file beside it
        raise OSError(error.errno, error.strerror, str(job.output)) from None


def describe(error: BaseException) -> str:
    """One line for a per-file failure, in the user's words."""
    if isinstance(error, StarbatchError):
        return str(error)
    if isinstance(error, OSError) and error.errno == 28:
        return "disk full while writing the output"
    if isinstance(error, OSError) and error.filename:
        return f"cannot write {error.filename}: {error.strerror or error}"
    if isinstance(error, OSError):
        return f"{error.strerror or error} ({type(error).__name__})"
    if isinstance(error, MemoryError):
        return "out of memory (image too large?)"
    first_line = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"


def run_edit(
    jobs: list[Job],
    editor: Editor,
    batch_size: int = 16,
    crop_only: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    faces: str = "detect",
) -> list[Outcome]:
    """Edit every job in this process; a failing file is recorded with its cause and the run goes on.

    `faces`: "detect" edits every face found (a photo with none fails), "center" the central square.
    """
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    def prepare_job(job: Job) -> Prepared:
        return prepare(job, editor.image_size, max_pixels, faces, crop_only)

    def written(job: Job, error: BaseException | None) -> Outcome:
        if error is None:
            return Outcome(job, "edited")
        partial_path(job.output).unlink(missing_ok=True)
        return Outcome(job, "failed", describe(error))

    with ReadAhead(prepare_job, jobs, IO_THREADS, 2 * batch_size) as decoded, \
            WriteBehind(finish, IO_THREADS, 2 * batch_size) as behind:  # fmt: skip
        for group in batches(_resolved(decoded), batch_size, weight=_crops):
            for failed in (g for g in group if isinstance(g, Unreadable)):
                record(Outcome(failed.job, "failed", describe(failed.error)))
            batch = [g for g in group if isinstance(g, Prepared)]
            if batch:
                try:
                    edited = editor(torch.from_numpy(np.stack([x for b in batch for x in b.model_inputs])),
                                    [b.job.variant for b in batch for _ in b.model_inputs])
                except (RuntimeError, MemoryError) as error:  # e.g. out of GPU memory: name the files, go on
                    for item in batch:
                        record(Outcome(item.job, "failed", f"model failed on this batch: {describe(error)}"))
                    continue
                start = 0
                for item in batch:
                    result = edited[start : start + len(item.boxes)]
                    start += len(item.boxes)
                    behind.submit(item.job, item, result, crop_only)
            for job, error in behind.settled():
                record(written(job, error))
        for job, error in behind.drain():
            record(written(job, error))
    return outcomes


def _resolved(decoded: ReadAhead):
    """Each decoded photo, or what made it unreadable (reported per file, the run goes on)."""
    for job, future in decoded:
        try:
            yield future.result()
        except Exception as error:  # noqa: BLE001 - reported per file
            yield Unreadable(job, error)


def _crops(item: Prepared | Unreadable) -> int:
    """A photo's faces stay in one batch; batches hold about batch_size crops."""
    return len(item.boxes) if isinstance(item, Prepared) else 0


class PhotoEngine(Protocol):
    model_path: Path

    def run_edit(self, jobs: list[Job], batch_size: int, crop_only: bool, max_pixels: int,
                 on_outcome: Callable[[Outcome], None], faces: str) -> list[Outcome]: ...  # fmt: skip


class InProcess:
    """The in-process engine over one Editor (the default on one machine)."""

    def __init__(self, editor: Editor):
        self.editor = editor
        self.model_path = editor.model.path

    def run_edit(self, jobs: list[Job], batch_size: int = 16, crop_only: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, on_outcome: Callable[[Outcome], None] = lambda o: None,
                 faces: str = "detect") -> list[Outcome]:  # fmt: skip
        return run_edit(jobs, self.editor, batch_size, crop_only, max_pixels, on_outcome, faces)


def edit_photos(inputs: list[Path], out_dir: Path, engine: PhotoEngine, batch_size: int = 16,
                crop_only: bool = False, overwrite: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                faces: str = "detect", plan: JobPlan | None = None,
                variants: tuple[str, ...] = ("",)) -> dict:  # fmt: skip
    """Edit every image under `inputs` with `engine` (InProcess or RayEngine); returns the report
    (also the source of the summary line). `out_dir` is the output folder, or the one output file.

    `faces`: "detect" (every face found; a photo with none fails) or "center" (the central square).
    `plan`: the jobs already planned from the same arguments (the CLI plans before loading the model).
    `variants`: the request's output suffixes (EditorSpec.variants): one output per variant of each
    photo, each its own job (the photo is decoded once per variant; G's cost dominates).
    """
    start = time.perf_counter()
    plan = plan or plan_jobs(inputs, out_dir, overwrite, crop_only, variants)
    failures: list[dict] = []
    if plan.skipped:
        tqdm.write(f"skipping {len(plan.skipped)} already edited (use --overwrite to redo)",
                   file=sys.stderr)
    files = [{"input": str(j.input_path), "output": str(j.output), "status": "skipped"}
             for j in plan.skipped]
    progress = Progress(total=len(plan.jobs), unit="img", desc="editing", file=sys.stderr,
                        dynamic_ncols=True, disable=not plan.jobs, warmup=min(batch_size, len(plan.jobs)))

    def show(outcome: Outcome) -> None:
        if outcome.status == "failed":
            progress.write(f"failed  {outcome.job.input_path}: {outcome.error}", file=sys.stderr)
        progress.update(1)

    outcomes = engine.run_edit(plan.jobs, batch_size, crop_only, max_pixels, on_outcome=show, faces=faces)
    progress.close()
    seconds = time.perf_counter() - start
    for outcome in outcomes:
        entry = {"input": str(outcome.job.input_path), "output": str(outcome.job.output),
                 "status": outcome.status}
        if outcome.error:
            entry["error"] = outcome.error
            failures.append({"input": entry["input"], "error": outcome.error})
        files.append(entry)
    edited = sum(o.status == "edited" for o in outcomes)
    summary = {
        "model": str(engine.model_path),
        "output_folder": str(out_dir),
        "faces": faces,
        "edited": edited,
        "skipped": len(plan.skipped),
        "failed": len(failures),
        "seconds": round(seconds, 3),
        "images_per_second": round(edited / seconds, 3) if seconds > 0 else 0.0,
        "failures": failures,
        "files": files,
    }
    print(f"edited {edited}, skipped {len(plan.skipped)}, failed {len(failures)} "
          f"in {seconds:.1f} s ({summary['images_per_second']:.2f} images/s) -> {out_dir}",
          file=sys.stderr)
    return summary
