"""The read-ahead / write-behind pipeline every engine shares: decode ahead in threads, run the
model in batches on the caller's thread, encode behind in threads.

Pillow, OpenCV, PyAV and PyTorch release the GIL for their heavy work, so threads are enough to
keep I/O under compute on one machine. Two ways to read ahead: independent files decode in
parallel (`ReadAhead`), a clip's frames come from one decoder in order (`read_ahead`).
"""

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

Item = TypeVar("Item")
_DONE = object()


class ReadAhead:
    """`work(item)` for every item on `threads` threads, `depth` ahead of the consumer, which gets
    (item, future) in the items' order."""

    def __init__(self, work: Callable, items: Iterable, threads: int, depth: int):
        self.work, self.items, self.depth = work, items, depth
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="starbatch-read")

    def __iter__(self) -> Iterator[tuple[Any, Future]]:
        waiting: deque[tuple[Any, Future]] = deque()
        for item in self.items:
            waiting.append((item, self.pool.submit(self.work, item)))
            if len(waiting) >= self.depth:
                yield waiting.popleft()
        while waiting:
            yield waiting.popleft()

    def __enter__(self) -> "ReadAhead":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def read_ahead(items: Iterable[Item], depth: int) -> Iterator[Item]:
    """Run the iterable in one thread, `depth` items ahead of the consumer (one decoder, in order).

    A consumer that stops early (its own error, e.g. the encoder's) is never left waiting on the
    thread: every hand-over gives up once the consumer has gone, the end and an error included."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            hand_over(error)

    thread = threading.Thread(target=fill, name="starbatch-decode", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def batches(items: Iterable[Item], size: int, weight: Callable[[Item], int] = lambda item: 1) -> Iterator[list[Item]]:
    """Group items in order into batches of about `size` (a batch closes once its weights reach it)."""
    batch: list[Item] = []
    total = 0
    for item in items:
        batch.append(item)
        total += weight(item)
        if total >= size:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


class WriteBehind:
    """`work(*args)` on `threads` threads behind the caller; results are settled in submission order
    and at most `depth` stay in flight (big photos and frames hold a lot of memory). One thread
    runs the work in order (a video encoder)."""

    def __init__(self, work: Callable, threads: int, depth: int):
        self.work, self.depth = work, depth
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="starbatch-write")
        self.pending: deque[tuple[Any, Future]] = deque()

    def submit(self, key: Any, *args) -> None:
        self.pending.append((key, self.pool.submit(self.work, *args)))

    def settled(self) -> Iterator[tuple[Any, BaseException | None]]:
        """(key, error or None) of finished work at the front; waits while more than `depth` are in flight."""
        while self.pending and (self.pending[0][1].done() or len(self.pending) > self.depth):
            yield self._settle()

    def drain(self) -> Iterator[tuple[Any, BaseException | None]]:
        """(key, error or None) of all work still in flight, waiting for each in order."""
        while self.pending:
            yield self._settle()

    def _settle(self) -> tuple[Any, BaseException | None]:
        key, future = self.pending.popleft()
        try:
            future.result()
        except Exception as error:  # noqa: BLE001 - the caller decides: report the file or raise
            return key, error
        return key, None

    def __enter__(self) -> "WriteBehind":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
