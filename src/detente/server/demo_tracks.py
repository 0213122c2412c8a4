"""Live tracks for `detente demo`: every active flight of the example, flown as filed.

Once a second each flight whose window holds the server's clock reports where its plan puts it
(linked to its plan by id), so the demo's map shows aircraft moving, separation alerts where the
plans cross and intrusions where they enter the other side's zones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from detente.detect.clip import flight_position
from detente.geo import GEOD
from detente.model import Flight, TrackReport

from .live import LiveTracks

__all__ = ["DemoTracks", "reports_at"]

#: Seconds between reports.
EVERY_S = 1.0


def reports_at(flights: Sequence[Flight], now: float) -> list[TrackReport]:
    """Where each flight active at `now` is, with its course, speed and climb.

    >>> f = Flight("blue", "v1", (36.0, 37.0), (35.0, 35.0), (6000.0, 6000.0), (0.0, 600.0))
    >>> [(r.uid, round(r.course_deg), round(r.speed_mps)) for r in reports_at([f], 300.0)]
    [('v1', 90, 152)]
    """
    out = []
    for flight in flights:
        if not flight.start <= now < flight.end:
            continue
        lon, lat, alt = flight_position(flight, now)
        ahead = min(now + 10.0, flight.end)
        lon1, lat1, alt1 = flight_position(flight, ahead)
        course, _, distance = GEOD.inv(lon, lat, lon1, lat1)
        dt = ahead - now
        out.append(
            TrackReport(
                flight.party,
                flight.id,
                now,
                lon,
                lat,
                alt,
                course_deg=float(course) % 360.0,
                speed_mps=float(distance) / dt if dt > 0 else 0.0,
                vertical_mps=(alt1 - alt) / dt if dt > 0 else 0.0,
                stale=now + 10.0,
                callsign=flight.callsign,
                plan_id=flight.id,
            )
        )
    return out


class DemoTracks:
    """Feeds `live` with the example's flights (a `Service` of the application)."""

    def __init__(self, live: LiveTracks, flights: Sequence[Flight]) -> None:
        self.live = live
        self.flights = list(flights)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self.live.accept(reports_at(self.flights, self.live.store.clock()))
            await asyncio.sleep(EVERY_S)
