"""Alerts to TAK: every alert a party is shown, as a CoT marker sent to its TAK endpoints.

After each tactical cycle every alert shown is sent again, so the marker moves with the aircraft
and stays on the map; a cleared alert is sent once more, already stale, to take it off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detente.feeds import CotSender
from detente.interop.cot import alert_event, alert_uid

from .live import Published

__all__ = ["TakOut", "alert_cot"]

_log = logging.getLogger("detente.server.tak")
#: How long a marker stays on a TAK map without being sent again, seconds.
MARKER_STALE_S = 10.0


class TakOut:
    """Sends the parties' alerts to their TAK endpoints; a `LiveTracks` sink and a `Service`."""

    def __init__(self, senders: Mapping[str, Sequence[CotSender]]) -> None:
        self.senders = {party: list(s) for party, s in senders.items()}
        self.failures = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None
        for senders in self.senders.values():
            for sender in senders:
                await sender.close()

    def __call__(
        self,
        at: float,
        events: Sequence[Published],
        shown: Callable[[str], list[dict[str, Any]]],
    ) -> None:
        """Called from the cycle's thread: queue the sends on the event loop."""
        loop = self._loop
        if loop is None:
            return
        for party, senders in self.senders.items():
            found = [alert_cot(party, alert, at) for alert in shown(party)]
            for event in events:
                view = event.views.get(party, {}).get("alert")
                if view is not None and view.get("level") is None:
                    found.append(alert_cot(party, view, at, cleared=True))
            payloads = [p for p in found if p is not None]
            if payloads and senders:
                asyncio.run_coroutine_threadsafe(self._send(senders, payloads), loop)

    async def _send(self, senders: Sequence[CotSender], payloads: Sequence[bytes]) -> None:
        for sender in senders:
            try:
                for payload in payloads:
                    await sender.send(payload)
            except Exception as error:  # an endpoint that is down misses this cycle only
                self.failures += 1
                _log.warning("TAK endpoint %s: %s", sender.endpoint, error)


def alert_cot(
    party: str, alert: dict[str, Any], at: float, *, cleared: bool = False
) -> bytes | None:
    """One alert as `party` sees it, as a CoT marker: at the other party's aircraft (or at the
    point of entry, for the party whose aircraft heads into another's item)."""
    other = alert.get("other", {})
    position = other.get("position") or alert.get("where")
    if position is None:
        return None
    level = alert.get("level") or alert.get("previous") or "advisory"
    entry = alert.get("entry_in_s")
    t_los = alert.get("loss_in_s", entry if entry is not None else 0.0)
    return alert_event(
        alert_uid(party, str(alert["id"])),
        level=level,
        now=at,
        lon=position[0],
        lat=position[1],
        alt_m=position[2],
        t_los_s=t_los,
        t_cpa_s=alert.get("cpa_in_s", t_los),
        h_cpa_m=alert.get("cpa_horizontal_m", 0.0),
        v_cpa_m=alert.get("cpa_vertical_m", 0.0),
        course_deg=other.get("course_deg"),
        speed_mps=other.get("speed_mps"),
        vertical_mps=other.get("vertical_mps", 0.0),
        callsign=f"{other.get('party', party).upper()} {alert['type'].upper()}",
        cot_type="a-u-A" if other.get("kind") == "track" else "b-m-p-s-m",
        stale_s=0.0 if cleared else MARKER_STALE_S,
    )
