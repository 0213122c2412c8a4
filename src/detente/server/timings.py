"""Where a write's time goes: one log line a group of writes and one a checkpoint tick.

Off by default. `detente serve --timings` writes them on stderr, each with its wall-clock
time, so that a slow answer can be matched with what the server was doing then (the group's
pass, its wait for its turn to commit, the commit, the flush to disk; the checkpoints' syncs
and log restarts). `benchmarks/server_load.py` sums them up beside its latencies.

Lines look like::

    1796525929.697 group requests=7 pass_ms=33.6 turn_ms=0.0 commit_ms=40.1 flush_ms=2.1
    1796525929.694 checkpoint frames=101246 copied=11439 sync_ms=158.5
    1796525939.475 restart wait_ms=24.1 hold_ms=55.1 done=1
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["TimedLine", "enable", "enabled", "log_checkpoint", "log_group", "log_restart", "parse"]

logger = logging.getLogger("detente.server.timings")

_LINE = re.compile(r"^(?P<at>\d+(?:\.\d+)?) (?P<kind>group|checkpoint|restart) (?P<fields>.*)$")


def enable(stream: TextIO | None = None) -> None:
    """Write the timing lines on `stream` (stderr by default); other logging is left as it
    is."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(created).3f %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def enabled() -> bool:
    return logger.isEnabledFor(logging.DEBUG)


def log_group(requests: int, pass_s: float, turn_s: float, commit_s: float, flush_s: float) -> None:
    """A group of writes: its requests, the pass, the wait for its turn to commit, the
    commit (its lock held) and the rest until answered (the flush to disk)."""
    logger.debug(
        "group requests=%d pass_ms=%.1f turn_ms=%.1f commit_ms=%.1f flush_ms=%.1f",
        requests,
        1e3 * pass_s,
        1e3 * turn_s,
        1e3 * commit_s,
        1e3 * flush_s,
    )


def log_checkpoint(frames: int, copied: int, sync_s: float) -> None:
    """A checkpoint tick: pages in SQLite's log, pages copied to the database file so far,
    the sync of that file."""
    logger.debug("checkpoint frames=%d copied=%d sync_ms=%.1f", frames, copied, 1e3 * sync_s)


def log_restart(wait_s: float, hold_s: float, done: bool) -> None:
    """A restart of SQLite's log: the wait for the write lock, the time it was held."""
    logger.debug("restart wait_ms=%.1f hold_ms=%.1f done=%d", 1e3 * wait_s, 1e3 * hold_s, int(done))


@dataclass(frozen=True, slots=True)
class TimedLine:
    """One line read back: when, what, and its numbers."""

    at: float
    kind: str
    values: dict[str, float]


def parse(lines: Iterable[str]) -> list[TimedLine]:
    """The timing lines among `lines` (others are skipped).

    >>> parse(["x", "12.5 group requests=3 pass_ms=4.0 turn_ms=0.1 commit_ms=5 flush_ms=1"])
    [TimedLine(at=12.5, kind='group', values={'requests': 3.0, 'pass_ms': 4.0, \
'turn_ms': 0.1, 'commit_ms': 5.0, 'flush_ms': 1.0})]
    """
    found = []
    for line in lines:
        match = _LINE.match(line.strip())
        if match is None:
            continue
        values = {}
        for pair in match["fields"].split():
            name, _, value = pair.partition("=")
            values[name] = float(value)
        found.append(TimedLine(float(match["at"]), match["kind"], values))
    return found
