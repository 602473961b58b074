"""The in-process engine: decode ahead in reader threads, run G in batches, encode behind.

Pillow and PyTorch release the GIL for their heavy work, so threads are enough to keep I/O
under compute on one machine.
"""

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from starbatch.checkpoint import write_atomically
from starbatch.editing import Editor, crop_photo, model_input, paste_edit
from starbatch.errors import StarbatchError
from starbatch.face_detection import NO_FACE, FaceBox, face_boxes
from starbatch.images import DEFAULT_MAX_PIXELS, Photo, encode_photo, read_photo
from starbatch.jobs import Job


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


def prepare(job: Job, image_size: int, max_pixels: int, faces: str = "detect", crop_only: bool = False) -> Prepared:
    """Decode, find the faces (here, so the in-process and Ray engines share it), make G's inputs."""
    photo = read_photo(job.source, max_pixels)
    boxes = face_boxes(photo.rgb, faces)
    if not boxes:
        raise StarbatchError(NO_FACE)
    if crop_only:
        boxes = boxes[:1]  # --crop-only writes the largest face's crop
    return Prepared(job, photo, boxes, [model_input(photo, box, image_size) for box in boxes])


def finish(item: Prepared, edited: torch.Tensor, crop_only: bool) -> None:
    """Compose the full-size result (or the crop), encode, and write it atomically.

    `edited` holds G's output for each of the item's boxes, in order."""
    if crop_only:
        data = encode_photo(crop_photo(edited[0]), "PNG")
    else:
        photo = item.photo
        for box, before, after in zip(item.boxes, item.model_inputs, edited, strict=True):
            photo = paste_edit(photo, box, torch.from_numpy(before), after)
        data = encode_photo(photo)
    item.job.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(item.job.output, data)


def describe(error: BaseException) -> str:
    """One line for a per-file failure, in the user's words."""
    if isinstance(error, StarbatchError):
        return str(error)
    if isinstance(error, OSError) and error.errno == 28:
        return "disk full while writing the output"
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
    io_threads: int | None = None,
    faces: str = "detect",
) -> list[Outcome]:
    """Edit every job; a failing file is recorded with its cause and the run goes on.

    `faces`: "detect" edits every face found (a photo with none fails), "center" the central square.
    """
    io_threads = io_threads or min(4, max(2, os.cpu_count() or 2))
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    readers = ThreadPoolExecutor(io_threads, thread_name_prefix="starbatch-read")
    writers = ThreadPoolExecutor(io_threads, thread_name_prefix="starbatch-write")
    pending_writes: deque[tuple[Job, Future]] = deque()
    try:
        def prepare_job(job: Job) -> Prepared:
            return prepare(job, editor.image_size, max_pixels, faces, crop_only)

        decoded = _decode_ahead(readers, jobs, prepare_job, 2 * batch_size)
        for batch, failures in _batches(decoded, batch_size):
            for job, error in failures:
                record(Outcome(job, "failed", describe(error)))
            if batch:
                try:
                    edited = editor(torch.from_numpy(np.stack([x for b in batch for x in b.model_inputs])))
                except (RuntimeError, MemoryError) as error:  # e.g. out of GPU memory: name the files, go on
                    for item in batch:
                        record(Outcome(item.job, "failed", f"model failed on this batch: {describe(error)}"))
                    continue
                start = 0
                for item in batch:
                    result = edited[start : start + len(item.boxes)]
                    start += len(item.boxes)
                    pending_writes.append((item.job, writers.submit(finish, item, result, crop_only)))
            # Keep a bounded number of encodes in flight: big photos hold a lot of memory.
            while pending_writes and (pending_writes[0][1].done() or
                                      len(pending_writes) > 2 * batch_size):
                record(_settle(*pending_writes.popleft()))
        while pending_writes:
            record(_settle(*pending_writes.popleft()))
    finally:
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
    return outcomes


def _settle(job: Job, future: Future) -> Outcome:
    try:
        future.result()
        return Outcome(job, "edited")
    except Exception as error:  # noqa: BLE001 - every per-file failure is reported, not raised
        partial = job.output.with_name(f".{job.output.name}.partial")
        partial.unlink(missing_ok=True)
        return Outcome(job, "failed", describe(error))


def _decode_ahead(pool: ThreadPoolExecutor, jobs: list[Job], prepare_job: Callable[[Job], Prepared],
                  window: int) -> Iterator[tuple[Job, Future]]:
    """Yield (job, future) in order, keeping `window` decodes running ahead of the consumer."""
    queue: deque[tuple[Job, Future]] = deque()
    for job in jobs:
        queue.append((job, pool.submit(prepare_job, job)))
        if len(queue) >= window:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


def _batches(decoded: Iterator[tuple[Job, Future]], batch_size: int):
    """Group successfully decoded photos into batches of about `batch_size` crops (a photo's faces
    stay in one batch); failures travel alongside."""
    batch: list[Prepared] = []
    crops = 0
    failures: list[tuple[Job, BaseException]] = []
    for job, future in decoded:
        try:
            batch.append(future.result())
            crops += len(batch[-1].boxes)
        except Exception as error:  # noqa: BLE001 - reported per file
            failures.append((job, error))
        if crops >= batch_size:
            yield batch, failures
            batch, crops, failures = [], 0, []
    yield batch, failures
