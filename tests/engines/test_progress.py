"""The progress bar's time left is not thrown off by the start-up that the first batch carries."""

import io

from starbatch.engines.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(bar, clock: Clock, batches: int, batch: int = 1, startup: float = 9.0, per_batch: float = 0.2) -> None:
    """A run whose first batch takes `startup` seconds and every later one `per_batch`."""
    bar._time = clock  # tqdm's own clock, replaced so the test does not depend on the machine's speed
    for i in range(batches):
        clock.now += startup if i == 0 else per_batch
        bar.update(batch)


def remaining(bar) -> float:
    shown = bar.format_dict
    return (shown["total"] - shown["n"]) / shown["rate"]


def test_time_left_counts_from_the_end_of_the_first_batch():
    bar = Progress(total=30, file=io.StringIO(), mininterval=0, warmup=1)
    run(bar, Clock(), batches=3)
    # 27 images at 0.2 s, as the run goes from here; counting the start-up gave 27 x 9.4 / 3 = 85 s
    assert abs(remaining(bar) - 27 * 0.2) < 1e-9
    assert "00:05" in str(bar)


def test_before_the_second_batch_the_time_left_is_unknown_not_wrong():
    bar = Progress(total=30, file=io.StringIO(), mininterval=0, warmup=8)
    run(bar, Clock(), batches=1, batch=8)
    assert bar.format_dict["rate"] == 0 and "<?" in str(bar)
    bar._time.now += 0.5
    bar.update(8)
    assert abs(remaining(bar) - 14 / 16) < 1e-9  # 8 images in 0.5 s: 14 left take 0.875 s


def test_a_disabled_bar_stays_quiet():
    bar = Progress(total=3, file=io.StringIO(), disable=True)
    bar.update(3)
    bar.close()
