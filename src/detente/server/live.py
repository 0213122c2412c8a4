"""Live tracks in the server: reports in, a tactical cycle every second, alert events out.

Reports arrive from any thread (the API, the CoT and SBS feeds) into a queue; each cycle drains
it into the `TacticalPicture`, gathers what the picture needs from the store (the active zones
and strikes, the flight plans tracks are linked to, the items near non-conforming tracks), runs
detection at the server's clock and publishes every change as events in the log and the feeds
of the parties concerned. Each party's view follows the rule of notices: its own track or item
whole; of the other party's only the party, the kind and the motion that matters (never a
track's uid or callsign, an item's id or a strike's aim point).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detente.interop.results import format_instant
from detente.model import Agreement, Area, Flight, Item, ItemRef, TrackReport
from detente.tactical.alerts import AlertChange, Change, Level
from detente.tactical.board import TrackKey
from detente.tactical.conformance import Breach, Deviation
from detente.tactical.links import link_plans
from detente.tactical.picture import Cycle, Intrusion, Motion, Separation, TacticalPicture

from .journal import Entry
from .parties import Party
from .store import Store

__all__ = ["LiveTracks", "Published"]

_log = logging.getLogger("detente.server.live")
#: How long the flight plans of tracks linked by callsign are reused, seconds.
PLAN_CACHE_S = 10.0


@dataclass(slots=True)
class Published:
    """One event as published: its kind and each party's view (for the TAK endpoints)."""

    kind: str
    views: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Told after every cycle: its instant, the events it published, and a function giving the
#: alerts a party is shown now (with the tracks where they are now).
Sink = Callable[[float, Sequence[Published], Callable[[str], list[dict[str, Any]]]], None]


class LiveTracks:
    """The server's tactical picture over `store`.

    `sinks` are told of every published event (the CoT senders of parties' TAK endpoints).
    """

    def __init__(
        self,
        store: Store,
        *,
        hold_s: float = 5.0,
        max_age_s: float = 60.0,
        sinks: Sequence[Sink] = (),
    ) -> None:
        self.store = store
        self.picture = TacticalPicture(store.agreement(), hold_s=hold_s, max_age_s=max_age_s)
        self.sinks = list(sinks)
        self.accepted = 0
        self.cycles = 0
        self._queue: deque[TrackReport] = deque()
        self._cycle_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._alert_ids: dict[tuple[str, Any], str] = {}
        self._shown: dict[str, list[dict[str, Any]]] | None = {}
        self._at = ""
        self._plans_by_callsign: dict[str, tuple[float, list[Flight]]] = {}

    # -- in ------------------------------------------------------------------------------------

    def accept(self, reports: Iterable[TrackReport]) -> int:
        """Queue reports for the next cycle (any thread); returns how many."""
        n = 0
        for report in reports:
            self._queue.append(report)
            n += 1
        return n

    def accept_one(self, report: TrackReport) -> None:
        """A feed's sink: queue one report."""
        self._queue.append(report)

    # -- reading -------------------------------------------------------------------------------

    def tracks(self, party: str) -> list[TrackReport]:
        """The latest report of each of `party`'s tracks."""
        with self._cycle_lock:
            reports = list(self.picture.board.reports.items())
        return [r for (p, _), r in reports if p == party]

    def alerts(self, party: str) -> list[dict[str, Any]]:
        """The alerts shown to `party` now (any thread: waits for a cycle under way)."""
        with self._cycle_lock:
            if self._shown is None:
                self._shown = self._render_current(self._at)
            return list(self._shown.get(party, ()))

    # -- the cycle -----------------------------------------------------------------------------

    def run_cycle(self) -> Cycle:
        """Drain the queue, run detection at the store's clock and publish the changes."""
        with self._cycle_lock:
            store = self.store
            now = store.clock()
            agreement = store.agreement()
            self.picture.agreement = agreement
            board = self.picture.board
            while self._queue:
                report = self._queue.popleft()
                if board.update(report):
                    self.accepted += 1
            parties = {p.name: p for p in store.parties()}
            cycle = self.picture.cycle(
                now,
                areas=self._hazards(now, agreement) if len(board) else [],
                plans=self._plans(now, agreement, parties),
                near=lambda probes: self._near(parties, probes),
            )
            self.cycles += 1
            published = self._publish(cycle, parties)
        for sink in self.sinks:
            try:
                sink(cycle.at, published, self.alerts)
            except Exception:  # a TAK endpoint that fails must not stop the cycle
                _log.exception("an alert sink failed")
        return cycle

    def _hazards(self, now: float, agreement: Agreement) -> list[Area]:
        found = self.store.active_items(("zone", "strike"), now, now + agreement.lookahead_s)
        return [item for item in found if isinstance(item, Area)]

    def _plans(
        self, now: float, agreement: Agreement, parties: Mapping[str, Party]
    ) -> dict[TrackKey, Flight]:
        """The filed flight of every linked track (`link_plans`), fetched from the store."""
        ids: dict[str, set[str]] = {}
        by_callsign: set[str] = set()
        reports = dict(self.picture.board.reports)
        for (name, _), report in reports.items():
            if report.airborne and report.plan_id:
                ids.setdefault(name, set()).add(report.plan_id)
            elif report.airborne and report.callsign:
                by_callsign.add(name)
        slack = agreement.conformance_time_s
        flights: list[Flight] = []
        for name in sorted(ids.keys() | by_callsign):
            party = parties.get(name)
            if party is None:
                continue
            if name in ids:
                found = self.store.active_items(
                    ("flight",), now - slack, now + slack, party=party, ids=sorted(ids[name])
                )
                flights += [f for f in found if isinstance(f, Flight)]
            if name in by_callsign:
                flights += self._callsigns(party, now, slack)
        return link_plans(reports, flights)

    def _callsigns(self, party: Party, now: float, slack: float) -> list[Flight]:
        """The party's flights with a callsign, active about now (kept `PLAN_CACHE_S`)."""
        cached = self._plans_by_callsign.get(party.name)
        if cached is not None and abs(now - cached[0]) < PLAN_CACHE_S:
            return cached[1]
        found = self.store.active_items(("flight",), now - slack, now + slack, party=party)
        flights = [f for f in found if isinstance(f, Flight) and f.callsign]
        self._plans_by_callsign[party.name] = (now, flights)
        return flights

    def _near(self, parties: Mapping[str, Party], probes: Sequence[Area]) -> list[Item]:
        out: list[Item] = []
        for name in sorted({p.party for p in probes}):
            party = parties.get(name)
            if party is not None:
                out += self.store.items_near(party, [p for p in probes if p.party == name])
        unique = {item.ref: item for item in out}
        return list(unique.values())

    # -- out -----------------------------------------------------------------------------------

    def _publish(self, cycle: Cycle, parties: Mapping[str, Party]) -> list[Published]:
        at = format_instant(cycle.at)
        published: list[Published] = []
        for sep in cycle.separation:
            views = self._separation_views(sep.key, sep.level, sep.previous, sep.details, at)
            published.append(self._alert_event(sep.change, "separation", sep.key, views))
        for kind, changes in (("intrusion", cycle.intrusion), ("plan-area", cycle.plan_area)):
            for hz in changes:
                views = self._hazard_views(kind, hz.key, hz.level, hz.previous, hz.details, at)
                published.append(self._alert_event(hz.change, kind, hz.key, views))
        for conf in cycle.conformance:
            published.append(self._conformance(conf, at, parties))
        # Rendered when asked for (the API, TAK endpoints): a dense picture holds many.
        self._shown, self._at = None, at
        entries = []
        for event in published:
            by_id = {parties[n].id: v for n, v in event.views.items() if n in parties}
            if by_id:
                body = {"views": event.views}
                entries.append(Entry(event.kind, None, body, by_id, at=cycle.at))
        self.store.publish(entries, at=cycle.at)
        return published

    def _alert_event(
        self, change: Change, kind: str, key: Any, views: dict[str, dict[str, Any]]
    ) -> Published:
        ident = (kind, key)
        if change is Change.CLEARED:
            self._alert_ids.pop(ident, None)
        return Published(f"alert.{change.value}", views)

    def _alert_id(self, kind: str, key: Any) -> str:
        ident = (kind, key)
        alert_id = self._alert_ids.get(ident)
        if alert_id is None:
            alert_id = self._alert_ids[ident] = f"al-{next(self._ids)}"
        return alert_id

    def _render_current(self, at: str) -> dict[str, list[dict[str, Any]]]:
        """Every alert shown now, per party, with the tracks where they are now."""
        shown: dict[str, list[dict[str, Any]]] = {}

        def add(views: dict[str, dict[str, Any]]) -> None:
            for name, view in views.items():
                shown.setdefault(name, []).append(view["alert"])

        for alert in self.picture.separation_alerts():
            add(self._separation_views(alert.key, alert.level, None, alert.details, at))
        for kind, tracker in (
            ("intrusion", self.picture.intrusions),
            ("plan-area", self.picture.plan_areas),
        ):
            for hazard in tracker:
                add(self._hazard_views(kind, hazard.key, hazard.level, None, hazard.details, at))
        return shown

    def _separation_views(
        self,
        key: tuple[TrackKey, TrackKey],
        level: int | None,
        previous: int | None,
        d: Separation,
        at: str,
    ) -> dict[str, dict[str, Any]]:
        common = {
            "id": self._alert_id("separation", key),
            "type": "separation",
            "level": _level(level),
            "previous": _level(previous),
            "at": at,
            "loss_in_s": round(d.t_los, 1),
            "regain_in_s": round(d.t_regain, 1),
            "cpa_in_s": round(d.t_cpa, 1),
            "cpa_horizontal_m": round(d.h_cpa_m, 1),
            "cpa_vertical_m": round(d.v_cpa_m, 1),
        }
        a, b = key
        return {
            own[0]: {
                "alert": {**common, "own": self._own_track(own), "other": self._other_track(other)}
            }
            for own, other in ((a, b), (b, a))
        }

    def _hazard_views(
        self,
        kind: str,
        key: tuple[TrackKey, ItemRef],
        level: int | None,
        previous: int | None,
        d: Intrusion,
        at: str,
    ) -> dict[str, dict[str, Any]]:
        track, item = key
        common = {
            "id": self._alert_id(kind, key),
            "type": kind,
            "level": _level(level),
            "previous": _level(previous),
            "at": at,
            "rule": d.rule,
            "entry_in_s": round(d.t_entry, 1),
            "exit_in_s": round(d.t_exit, 1),
            "where": [round(d.where[0], 6), round(d.where[1], 6), round(d.where[2], 1)],
        }
        views = {
            track[0]: {
                "alert": {
                    **common,
                    "own": self._own_track(track),
                    "other": {"party": item.party, "kind": "item"},
                }
            }
        }
        if item.party != track[0]:
            views[item.party] = {
                "alert": {**common, "own": {"item": item.id}, "other": self._other_track(track)}
            }
        return views

    def _conformance(
        self, c: AlertChange[TrackKey, Deviation], at: str, parties: Mapping[str, Party]
    ) -> Published:
        off = c.change is not Change.CLEARED
        kind = "track.nonconforming" if off else "track.conforming"
        d = c.details
        report = self.picture.board.get(c.key)
        own = {
            "track": self._own_track(c.key),
            "plan": report.plan_id if report else None,
            "at": at,
            "lateral_m": round(d.lateral_m, 1),
            "vertical_m": round(d.vertical_m, 1),
            "time_s": round(d.time_s, 1),
            "breach": [str(b.name).lower() for b in Breach if b in d.breach],
        }
        agreement = self.picture.agreement
        other: dict[str, Any] = {"track": self._other_track(c.key), "at": at}
        if off:
            other["area"] = {
                "radius_m": agreement.conformance_lateral_m,
                "band_m": agreement.conformance_vertical_m,
                "for_s": agreement.lookahead_s,
            }
        views = {c.key[0]: {"conformance": own}}
        for name in parties:
            if name != c.key[0]:
                views[name] = {"conformance": other}
        return Published(kind, views)

    def _own_track(self, key: TrackKey) -> dict[str, Any]:
        report = self.picture.board.get(key)
        out: dict[str, Any] = {"uid": key[1]}
        if report is not None and report.callsign:
            out["callsign"] = report.callsign
        out.update(_motion(self.picture.motion(key)))
        return out

    def _other_track(self, key: TrackKey) -> dict[str, Any]:
        return {"party": key[0], "kind": "track", **_motion(self.picture.motion(key))}


def _motion(m: Motion | None) -> dict[str, Any]:
    if m is None:
        return {}
    return {
        "position": [round(m.lon, 6), round(m.lat, 6), round(m.alt_m, 1)],
        "course_deg": round(m.course_deg, 1),
        "speed_mps": round(m.speed_mps, 1),
        "vertical_mps": round(m.vertical_mps, 1),
    }


def _level(level: int | None) -> str | None:
    return None if not level else Level(level).name.lower()
