"""Editing photos: the batch function's two ends (prepare, finish), the in-process engine, and the
run around any engine that `starbatch edit` makes (plan the files, show progress, summarise).

In-process: reader threads decode ahead and find the faces, the model runs batches on this thread,
writer threads encode behind (pipeline.py).
"""

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from starbatch.engines.pipeline import ReadAhead, WriteBehind, batches
from starbatch.engines.progress import Progress
from starbatch.errors import StarbatchError
from starbatch.faces.detection import NO_FACE, Placement, placements, report_of
from starbatch.faces.retinaface import MIN_FACE
from starbatch.files import partial_path, write_atomically
from starbatch.inference.compositing import crop_photo, model_input, paste_edit
from starbatch.inference.editor import Editor
from starbatch.media.images import DEFAULT_MAX_PIXELS, Photo, encode_photo, read_photo
from starbatch.media.jobs import IMAGE_KINDS, Job, JobPlan, plan_jobs

# Per direction (decoding + detection, encoding): half the cores, at least 2. The model's threads
# take all of them while a batch runs; on 2 cores, with onnxruntime's independent one-thread parts
# (inference/backends.py), 2 each way measured faster than 1 with detection, 1.22x against 1.14x the
# official loop (benchmarks/results/edit_cpu.md).
IO_THREADS = min(4, max(2, (os.cpu_count() or 2) // 2))


NO_FACE_POLICIES = ("copy", "skip", "fail")  # cli/common.py spells them too (a test keeps them equal)


@dataclass
class Outcome:
    job: Job
    status: str  # "edited", "no face" or "failed" ("skipped" is decided before the engine runs)
    error: str | None = None
    faces: list[dict] | None = None  # per face edited: box, score, landmarks, crop corners (report_of)


@dataclass
class Prepared:
    job: Job
    photo: Photo
    boxes: list[Placement]  # one per face, largest first ([]: no face); each is its own batch item
    model_inputs: list[np.ndarray]
    frame_of: list[int] = field(default_factory=list)  # each box's frame (an animation's; else 0)


@dataclass
class Unreadable:
    job: Job
    error: BaseException


def prepare(job: Job, image_size: int, max_pixels: int, faces: str = "detect", crop_only: bool = False,
            framing: str = "celeba", min_face: float = MIN_FACE) -> Prepared:  # fmt: skip
    """Decode, find the faces (of `min_face` px or more) and align them to the model's `framing`
    (here, so the in-process and Ray engines share it), make G's inputs. No face: a Prepared with no boxes."""
    photo = read_photo(job.input_path, max_pixels)
    boxes, frame_of = [], []
    for index, picture in enumerate(photo.pictures):  # an animation: every frame's faces
        found = placements(picture.rgb, faces, framing, image_size, min_face)
        boxes += found
        frame_of += [index] * len(found)
    if crop_only:
        boxes, frame_of = boxes[:1], frame_of[:1]  # --crop-only writes the (first frame's) largest face's crop
    inputs = [model_input(photo.pictures[index], box, image_size) for box, index in zip(boxes, frame_of, strict=True)]
    return Prepared(job, photo, boxes, inputs, frame_of)


def finish(item: Prepared, edited: torch.Tensor | None, crop_only: bool) -> None:
    """Compose the full-size result (or the crop), encode, and write it atomically.

    `edited` holds G's output for each of the item's boxes, in order; None for a photo without a
    face, which is written unchanged: its input file's bytes, or, where -o NAME.EXT asks for
    another format, its pixels in that format."""
    job = item.job
    if edited is None:
        same_format = job.image_format in (None, item.photo.format)
        data = job.input_path.read_bytes() if same_format else encode_photo(item.photo, job.image_format)
    elif crop_only:
        data = encode_photo(crop_photo(edited[0]), job.image_format or "PNG")
    else:
        pictures = list(item.photo.pictures)
        for box, index, before, after in zip(item.boxes, item.frame_of, item.model_inputs, edited, strict=True):
            pictures[index] = paste_edit(pictures[index], box, torch.from_numpy(before), after)
        data = encode_photo(replace(pictures[0], frames=tuple(pictures[1:])), job.image_format)
    _write(job, data)


def _write(job: Job, data: bytes) -> None:
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
    no_face: str = "copy",
) -> list[Outcome]:
    """Edit every job in this process; a failing file is recorded with its cause and the run goes on.

    `faces`: "detect" edits every face found, aligned to the editor's framing; "center" the central
    square. `no_face`, for a photo without a face: "copy" writes it unchanged, "skip" writes nothing
    (both report it as "no face"), "fail" reports it failed. With crop_only there is no crop to
    write: "copy" writes nothing either.
    """
    outcomes: list[Outcome] = []
    pending: dict[Job, Outcome] = {}  # what each job submitted to the writer is, once written

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    def prepare_photo(jobs_of_photo: tuple[Job, ...]) -> Prepared:
        return prepare(jobs_of_photo[0], editor.image_size, max_pixels, faces, crop_only, editor.framing,
                       editor.min_face)

    def written(job: Job, error: BaseException | None) -> Outcome:
        outcome = pending.pop(job)
        if error is None:
            return outcome
        partial_path(job.output).unlink(missing_ok=True)
        return Outcome(job, "failed", describe(error), outcome.faces)

    def without_face(item: Prepared, behind: WriteBehind) -> None:
        if no_face == "fail":
            record(Outcome(item.job, "failed", NO_FACE, []))
        elif no_face == "copy" and not crop_only:
            pending[item.job] = Outcome(item.job, "no face", faces=[])
            behind.submit(item.job, item, None, crop_only)
        else:
            record(Outcome(item.job, "no face", faces=[]))

    with ReadAhead(prepare_photo, by_photo(jobs), IO_THREADS, 2 * batch_size) as decoded, \
            WriteBehind(finish, IO_THREADS, 2 * batch_size) as behind:  # fmt: skip
        for group in batches(_resolved(decoded), batch_size, weight=_crops):
            for failed in (g for g in group if isinstance(g, Unreadable)):
                record(Outcome(failed.job, "failed", describe(failed.error)))
            for item in (g for g in group if isinstance(g, Prepared) and not g.boxes):
                without_face(item, behind)
            batch = [g for g in group if isinstance(g, Prepared) and g.boxes]
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
                    pending[item.job] = Outcome(item.job, "edited", faces=faces_report(item))
                    behind.submit(item.job, item, result, crop_only)
            for job, error in behind.settled():
                record(written(job, error))
        for job, error in behind.drain():
            record(written(job, error))
    return outcomes


def faces_report(item: Prepared) -> list[dict]:
    """Each face edited as --report lists it; in an animation with the frame it is in."""
    if not item.photo.frames:
        return [report_of(box) for box in item.boxes]
    return [{"frame": index, **report_of(box)} for box, index in zip(item.boxes, item.frame_of, strict=True)]


def by_photo(jobs: list[Job]) -> list[tuple[Job, ...]]:
    """The jobs grouped by input photo (a photo's variants are planned side by side), so a photo
    with several outputs (v2 seeds, references) is decoded and its faces found once."""
    groups: list[list[Job]] = []
    for job in jobs:
        if groups and groups[-1][0].input_path == job.input_path:
            groups[-1].append(job)
        else:
            groups.append([job])
    return [tuple(group) for group in groups]


def _resolved(decoded: ReadAhead):
    """Each job's decoded photo (one decoding shared by a photo's jobs), or what made it unreadable
    (reported per file, the run goes on)."""
    for jobs_of_photo, future in decoded:
        try:
            prepared = future.result()
        except Exception as error:  # noqa: BLE001 - reported per file
            yield from (Unreadable(job, error) for job in jobs_of_photo)
            continue
        yield from (replace(prepared, job=job) for job in jobs_of_photo)


def _crops(item: Prepared | Unreadable) -> int:
    """A photo's faces stay in one batch; batches hold about batch_size crops."""
    return len(item.boxes) if isinstance(item, Prepared) else 0


class PhotoEngine(Protocol):
    model_path: Path

    def run_edit(self, jobs: list[Job], batch_size: int, crop_only: bool, max_pixels: int,
                 on_outcome: Callable[[Outcome], None], faces: str, no_face: str) -> list[Outcome]: ...  # fmt: skip


class InProcess:
    """The in-process engine over one Editor (the default on one machine)."""

    def __init__(self, editor: Editor):
        self.editor = editor
        self.model_path = editor.model.path

    def run_edit(self, jobs: list[Job], batch_size: int = 16, crop_only: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, on_outcome: Callable[[Outcome], None] = lambda o: None,
                 faces: str = "detect", no_face: str = "copy") -> list[Outcome]:  # fmt: skip
        return run_edit(jobs, self.editor, batch_size, crop_only, max_pixels, on_outcome, faces, no_face)


def edit_photos(inputs: list[Path], out_dir: Path, engine: PhotoEngine, batch_size: int = 16,
                crop_only: bool = False, overwrite: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                faces: str = "detect", plan: JobPlan | None = None,
                variants: tuple[str, ...] = ("",), no_face: str = "copy") -> dict:  # fmt: skip
    """Edit every image under `inputs` with `engine` (InProcess or RayEngine); returns the report
    (also the source of the summary line). `out_dir` is the output folder, or the one output file.

    `faces`: "detect" (every face found) or "center" (the central square); `no_face`: what a photo
    without a face gets (run_edit).
    `plan`: the jobs already planned from the same arguments (the CLI plans before loading the model).
    `variants`: the request's output suffixes (EditorSpec.variants): one output per variant of each
    photo, each its own job (a photo is decoded and its faces found once for all its variants).
    """
    start = time.perf_counter()
    plan = plan or plan_jobs(inputs, out_dir, overwrite, crop_only, variants)
    failures: list[dict] = []
    if plan.ignored:
        kinds = sorted({path.suffix.lower() or path.name for path in plan.ignored})
        tqdm.write(f"ignoring {len(plan.ignored)} {'file' if len(plan.ignored) == 1 else 'files'} that "
                   f"{'is' if len(plan.ignored) == 1 else 'are'} not {IMAGE_KINDS} photos ({', '.join(kinds[:6])}"
                   f"{', ...' if len(kinds) > 6 else ''}), e.g. {plan.ignored[0]}", file=sys.stderr)
    if plan.skipped:
        tqdm.write(f"skipping {len(plan.skipped)} already edited (use --overwrite to redo)",
                   file=sys.stderr)
    files = [{"input": str(j.input_path), "output": str(j.output), "status": "skipped"}
             for j in plan.skipped]
    progress = Progress(total=len(plan.jobs), unit="img", desc="editing", file=sys.stderr,
                        dynamic_ncols=True, disable=not plan.jobs, warmup=min(batch_size, len(plan.jobs)))

    told: set[tuple[Path, str, str | None]] = set()  # a photo's variants share its failure: said once

    def show(outcome: Outcome) -> None:
        said = (outcome.job.input_path, outcome.status, outcome.error)
        if said in told:
            progress.update(1)
            return
        told.add(said)
        if outcome.status == "failed":
            progress.write(f"failed  {outcome.job.input_path}: {outcome.error}", file=sys.stderr)
        elif outcome.status == "no face":
            progress.write(f"no face {outcome.job.input_path}" + (" (copied unchanged)" if no_face == "copy"
                                                                  and not crop_only else ""), file=sys.stderr)
        progress.update(1)

    outcomes = engine.run_edit(plan.jobs, batch_size, crop_only, max_pixels, on_outcome=show, faces=faces,
                               no_face=no_face)  # fmt: skip
    progress.close()
    seconds = time.perf_counter() - start
    for outcome in outcomes:
        entry = {"input": str(outcome.job.input_path), "output": str(outcome.job.output),
                 "status": outcome.status}
        if outcome.error:
            entry["error"] = outcome.error
            failures.append({"input": entry["input"], "error": outcome.error})
        if outcome.faces is not None:
            entry["faces"] = outcome.faces
        files.append(entry)
    edited = sum(o.status == "edited" for o in outcomes)
    faces_edited = sum(len(o.faces or ()) for o in outcomes if o.status == "edited")
    without = sum(o.status == "no face" or o.error == NO_FACE for o in outcomes)
    summary = {
        "model": str(engine.model_path),
        "output_folder": str(out_dir),
        "faces": faces,
        "no_face": no_face,
        "edited": edited,
        "faces_edited": faces_edited,
        "without_face": without,
        "skipped": len(plan.skipped),
        "failed": len(failures),
        "seconds": round(seconds, 3),
        "images_per_second": round(edited / seconds, 3) if seconds > 0 else 0.0,
        "failures": failures,
        "files": files,
    }
    print(_summary_line(summary, outcomes, len(variants), plan.skipped), file=sys.stderr)
    return summary


def _summary_line(summary: dict, outcomes: list[Outcome], variants: int, skipped: list[Job]) -> str:
    """The run in photos (inputs), where the report counts outputs; with several outputs per photo,
    the outputs too."""
    def photos(status: str) -> int:
        return len({o.job.input_path for o in outcomes if o.status == status})

    def plural(count: int, word: str) -> str:
        return f"{count} {word if count == 1 else word + 's'}"

    faces_of = {o.job.input_path: len(o.faces) for o in outcomes if o.status == "edited" and o.faces}
    faces = sum(faces_of.values())  # a photo's faces, however many outputs each
    without = len({o.job.input_path for o in outcomes if o.status == "no face" or o.error == NO_FACE})
    per_photo = f" ({plural(summary['edited'], 'output')})" if variants > 1 else ""
    skipped_photos = len({job.input_path for job in skipped})
    return (f"{plural(faces, 'face')} edited in {plural(photos('edited'), 'photo')}{per_photo}, "
            f"{without} without a face; skipped {skipped_photos}, failed {photos('failed')} in "
            f"{summary['seconds']:.1f} s ({summary['images_per_second']:.2f} images/s) -> {summary['output_folder']}")
