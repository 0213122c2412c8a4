"""An SBS-1 client: connect out to an ADS-B receiver's BaseStation port, reconnect on loss."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from detente.feeds._intake import Clock, Feed, Intake, TrackSink
from detente.interop.sbs import SbsAggregator, TrackFormatError, parse_line

__all__ = ["SBS_PORT", "SbsClient"]

logger = logging.getLogger("detente.feeds")

SBS_PORT = 30003
"""Where receivers (dump1090, readsb, BaseStation) serve SBS-1 lines."""
_LINE_LIMIT = 4096


class SbsClient(Feed):
    """Read SBS-1 lines from host:port as reports of `party`, merged per aircraft.

    Connects on `start()`, and whenever the connection fails or ends, tries again after
    `reconnect_s`; `close()` stops it. `stale_s` and `forget_s` go to the `SbsAggregator`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        party: str,
        sink: TrackSink,
        *,
        reconnect_s: float = 5.0,
        clock: Clock = time.time,
        stale_s: float = 60.0,
        forget_s: float = 300.0,
    ) -> None:
        self.host = host
        self.port = port
        self.reconnect_s = reconnect_s
        self._intake = Intake(f"SBS {host}:{port} ({party})", party, sink, clock)
        self._aircraft = SbsAggregator(party, stale_s=stale_s, forget_s=forget_s)
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
        return self._connected

    async def start(self) -> None:
        """Start connecting (in the background)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._intake.name)

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        intake = self._intake
        while True:
            try:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=_LINE_LIMIT
                )
            except OSError as error:
                intake.failed(f"cannot connect ({error}); again in {self.reconnect_s:g} s")
            else:
                intake.stats.connections += 1
                self._connected = True
                logger.info("%s: connected", intake.name)
                try:
                    await self._read(reader)
                    intake.failed(
                        f"the receiver closed the connection; again in {self.reconnect_s:g} s"
                    )
                except OSError as error:
                    intake.failed(f"connection lost ({error}); again in {self.reconnect_s:g} s")
                finally:
                    self._connected = False
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
            await asyncio.sleep(self.reconnect_s)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        intake = self._intake
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # longer than the limit: the reader has dropped it
                intake.malformed(
                    TrackFormatError("SBS", None, f"is longer than {_LINE_LIMIT} bytes")
                )
                continue
            if not line:
                return
            if not line.strip():
                continue
            self._line(line)

    def _line(self, line: bytes) -> None:
        intake = self._intake
        message = intake.read(lambda: parse_line(line))
        if message is None:
            return
        report = self._aircraft.update(message, now=intake.clock())
        if report is not None:
            intake.deliver(report)
