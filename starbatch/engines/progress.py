"""The progress bar of `edit` and `video`: its rate and time left count from the end of the first batch.

The first batch carries the start-up (threads, the model's first call, the face detector's first
load), which can take longer than the rest of a short run: a rate that includes it made the time
left 10x too long early on (9.44 s/img at 1/30 of a 15 s run).
"""

from tqdm import tqdm


class Progress(tqdm):
    """tqdm with the clock started once `warmup` items are done; until then rate and time left show '?'.

    From then on the rate is the plain average since that moment (work arrives in batches, so a
    moving average of the gaps between updates would swing with each batch)."""

    def __init__(self, *args, warmup: int = 1, **kwargs):
        self.warmup = warmup
        self.clock: tuple[float, float] | None = None  # (items done, time) when the clock started
        super().__init__(*args, **kwargs)

    def update(self, n: float = 1) -> bool | None:
        if not self.disable and self.clock is None and self.n + n >= self.warmup:
            self.clock = (self.n + n, self._time())
        return super().update(n)

    @property
    def format_dict(self) -> dict:
        shown = super().format_dict
        if self.disable:  # also while closing: the last line gives the whole run's rate, as tqdm does
            return shown
        rate = 0.0  # tqdm shows '?' for a zero rate, and for the time left
        if self.clock is not None:
            done, started = self.clock
            seconds = self._time() - started
            if shown["n"] > done and seconds > 0:
                rate = (shown["n"] - done) / seconds
        shown["rate"] = rate
        return shown
