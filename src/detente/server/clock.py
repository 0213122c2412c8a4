"""The server's clock: real time, or an exercise clock that started at a chosen instant."""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    """Epoch seconds now; `start` makes the clock read `start` when created and run from there.

    >>> clock = Clock(start=1443657600.0)
    >>> 0 <= clock() - 1443657600.0 < 5
    True
    """

    def __init__(self, start: float | None = None) -> None:
        self.offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def set(self, now: float) -> None:
        """Move the clock so that it reads `now` (tests and exercises)."""
        self.offset = now - time.time()
