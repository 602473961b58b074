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
from starbatch.editing import Editor, FaceBox, crop_photo, face_box, model_input, paste_edit
from starbatch.errors import StarbatchError
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
    box: FaceBox
    model_input: np.ndarray


def prepare(job: Job, image_size: int, max_pixels: int) -> Prepared:
    photo = read_photo(job.source, max_pixels)
    box = face_box(*photo.size)
    return Prepared(job, photo, box, model_input(photo, box, image_size))


def finish(item: Prepared, edited: torch.Tensor, crop_only: bool) -> None:
    """Compose the full-size result (or the crop), encode, and write it atomically."""
    if crop_only:
        data = encode_photo(crop_photo(edited), "PNG")
    else:
        before = torch.from_numpy(item.model_input)
        data = encode_photo(paste_edit(item.photo, item.box, before, edited))
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
) -> list[Outcome]:
    """Edit every job; a failing file is recorded with its cause and the run goes on."""
    io_threads = io_threads or min(4, max(2, os.cpu_count() or 2))
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    readers = ThreadPoolExecutor(io_threads, thread_name_prefix="starbatch-read")
    writers = ThreadPoolExecutor(io_threads, thread_name_prefix="starbatch-write")
    pending_writes: deque[tuple[Job, Future]] = deque()
    try:
        decoded = _decode_ahead(readers, jobs, editor.image_size, max_pixels, 2 * batch_size)
        for batch, failures in _batches(decoded, batch_size):
            for job, error in failures:
                record(Outcome(job, "failed", describe(error)))
            if batch:
                try:
                    edited = editor(torch.from_numpy(np.stack([b.model_input for b in batch])))
                except (RuntimeError, MemoryError) as error:  # e.g. out of GPU memory: name the files, go on
                    for item in batch:
                        record(Outcome(item.job, "failed", f"model failed on this batch: {describe(error)}"))
                    continue
                for item, result in zip(batch, edited, strict=True):
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


def _decode_ahead(pool: ThreadPoolExecutor, jobs: list[Job], image_size: int, max_pixels: int,
                  window: int) -> Iterator[tuple[Job, Future]]:
    """Yield (job, future) in order, keeping `window` decodes running ahead of the consumer."""
    queue: deque[tuple[Job, Future]] = deque()
    for job in jobs:
        queue.append((job, pool.submit(prepare, job, image_size, max_pixels)))
        if len(queue) >= window:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


def _batches(decoded: Iterator[tuple[Job, Future]], batch_size: int):
    """Group successfully decoded photos into batches; failures travel alongside."""
    batch: list[Prepared] = []
    failures: list[tuple[Job, BaseException]] = []
    for job, future in decoded:
        try:
            batch.append(future.result())
        except Exception as error:  # noqa: BLE001 - reported per file
            failures.append((job, error))
        if len(batch) == batch_size:
            yield batch, failures
            batch, failures = [], []
    yield batch, failures
