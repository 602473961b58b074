"""The read-ahead / write-behind pipeline the engines share: order kept, memory bounded, errors surfaced."""

import threading
import time

import pytest

from starbatch.engines.pipeline import ReadAhead, WriteBehind, batches, read_ahead


def test_batches_close_when_their_weight_reaches_the_size():
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    # a photo's faces stay together: weights 2, 0 (a failed file), 2, 1 with size 3
    assert list(batches("abcd", 3, weight={"a": 2, "b": 0, "c": 2, "d": 1}.get)) == [["a", "b", "c"], ["d"]]


def test_read_ahead_in_threads_keeps_the_order_and_stays_within_its_depth():
    started = []

    def work(n):
        started.append(n)
        time.sleep(0.01 * (5 - n % 5))  # later items finish first
        return n * n

    with ReadAhead(work, range(20), threads=4, depth=6) as ahead:
        results = []
        for n, future in ahead:
            assert len(started) <= n + 6  # never more than `depth` beyond what was consumed
            results.append(future.result())
    assert results == [n * n for n in range(20)]


def test_read_ahead_of_one_stream_raises_its_error_in_the_consumer():
    def frames():
        yield 1
        yield 2
        raise ValueError("damaged packet")

    got = []
    with pytest.raises(ValueError, match="damaged packet"):
        for item in read_ahead(frames(), depth=2):
            got.append(item)
    assert got == [1, 2]


def test_write_behind_settles_in_submission_order_with_each_error_by_its_key():
    done = []

    def write(name, delay):
        time.sleep(delay)
        if name == "b":
            raise OSError(28, "No space left on device")
        done.append(name)

    with WriteBehind(write, threads=3, depth=2) as behind:
        for name, delay in [("a", 0.05), ("b", 0.0), ("c", 0.0)]:
            behind.submit(name, name, delay)
        settled = list(behind.settled()) + list(behind.drain())
    assert [key for key, _ in settled] == ["a", "b", "c"]
    assert [type(error).__name__ if error else None for _, error in settled] == [None, "OSError", None]


def test_write_behind_on_one_thread_runs_the_work_in_order():
    threads, order = set(), []

    def encode(n):
        threads.add(threading.get_ident())
        order.append(n)

    with WriteBehind(encode, threads=1, depth=2) as behind:
        for n in range(10):
            behind.submit(n, n)
            list(behind.settled())
        list(behind.drain())
    assert order == list(range(10)) and len(threads) == 1


def finishes_within(seconds, work):
    """Run `work` in a thread; False when it is still running after `seconds` (a hang)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


@pytest.mark.parametrize("ending", ["end", "error"])
def test_a_consumer_that_stops_early_is_not_held_by_the_decoder_thread(ending):
    # The decoder has read its last item (or hit an error) while the queue is full, and the
    # consumer stops there (its encoder failed): closing must not wait for a hand-over forever.
    def frames():
        yield from (1, 2)
        if ending == "error":
            raise ValueError("damaged packet")

    def consume_one_then_stop():
        stream = read_ahead(frames(), depth=1)
        assert next(stream) == 1
        time.sleep(0.3)  # the decoder fills the queue with 2, then waits to hand over what follows
        stream.close()

    assert finishes_within(10, consume_one_then_stop)
