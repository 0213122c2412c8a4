"""What every feed shares: the sink it feeds, its counters, and how a message is taken in."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeVar

from detente.errors import DetenteError
from detente.interop.cot import NotATrackError, TrackFormatError, parse_event
from detente.model import TrackReport

__all__ = ["Clock", "Feed", "FeedError", "FeedStats", "Intake", "TrackSink"]

logger = logging.getLogger("detente.feeds")

TrackSink = Callable[[TrackReport], None]
"""Where a feed puts each report it reads (the server's track board, a list in a test)."""
Clock = Callable[[], float]
"""The current time in epoch seconds (`time.time`, or a fixed clock in tests)."""

T = TypeVar("T")
_LOG_EVERY = 100  # after the first, log one malformed message in this many at WARNING


class FeedError(DetenteError):
    """A feed is configured wrongly (a bad URL, an unreadable certificate) or cannot deliver.

    >>> str(FeedError("tls://tak:8089", "the client certificate is missing"))
    'tls://tak:8089: the client certificate is missing'
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


@dataclass(slots=True)
class FeedStats:
    """Counters of one feed, since it started.

    `received` messages (CoT events, SBS lines, pieces of garbage) = `accepted` + `ignored`
    (well-formed but no track: pings, drawings, status lines) + `malformed`. `reports` were
    handed to the sink (SBS lines only add to what is known of an aircraft until its position
    is known, so `reports` may be lower than `accepted`); `sink_errors` counts reports the sink
    raised on. `connections` counts connections opened (accepted by a listener, made by a
    client); `last_error` is the latest reason a message was refused or a connection failed.
    """

    received: int = 0
    accepted: int = 0
    ignored: int = 0
    malformed: int = 0
    reports: int = 0
    sink_errors: int = 0
    connections: int = 0
    last_error: str | None = None


class Intake:
    """Take messages of one feed in: parse, count, log, and hand reports to the sink."""

    def __init__(self, name: str, party: str, sink: TrackSink, clock: Clock) -> None:
        self.name = name
        self.party = party
        self.sink = sink
        self.clock = clock
        self.stats = FeedStats()

    def read(self, parse: Callable[[], T]) -> T | None:
        """Count one message and parse it; None (counted, logged) if it is no track or malformed."""
        self.stats.received += 1
        try:
            value = parse()
        except NotATrackError:
            self.stats.ignored += 1
            return None
        except TrackFormatError as error:
            self._refuse(error)
            return None
        self.stats.accepted += 1
        return value

    def cot(self, data: bytes) -> None:
        """One CoT event from the wire."""
        report = self.read(lambda: parse_event(data, self.party, now=self.clock()))
        if report is not None:
            self.deliver(report)

    def malformed(self, error: DetenteError) -> None:
        """A message (or a piece of garbage) that could not be read: count and log it."""
        self.stats.received += 1
        self._refuse(error)

    def _refuse(self, error: DetenteError) -> None:
        stats = self.stats
        stats.malformed += 1
        stats.last_error = str(error)
        level = logging.WARNING if stats.malformed % _LOG_EVERY == 1 else logging.DEBUG
        logger.log(
            level, "%s: malformed message (%d so far): %s", self.name, stats.malformed, error
        )

    def failed(self, reason: str) -> None:
        """A connection failed or was refused."""
        self.stats.last_error = reason
        logger.warning("%s: %s", self.name, reason)

    def deliver(self, report: TrackReport) -> None:
        """Hand one report to the sink; a sink that raises is logged, never fatal to the feed."""
        try:
            self.sink(report)
        except Exception:
            self.stats.sink_errors += 1
            logger.exception("%s: the sink refused the report of %s", self.name, report.uid)
        else:
            self.stats.reports += 1


class Feed(ABC):
    """What every feed has: its counters, its name and party; `start()`/`close()` or
    `async with`."""

    _intake: Intake

    @property
    def stats(self) -> FeedStats:
        """The feed's counters."""
        return self._intake.stats

    @property
    def name(self) -> str:
        """What the feed is, where, and whose tracks it carries."""
        return self._intake.name

    @property
    def party(self) -> str:
        """The party whose tracks the feed carries."""
        return self._intake.party

    @abstractmethod
    async def start(self) -> None:
        """Start reading (or connecting)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop and release the socket."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()
