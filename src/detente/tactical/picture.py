"""The tactical picture: live tracks, and one detection cycle over them.

Each cycle, at an instant `now` given by the caller, dead-reckons every track to `now` and finds:

- **separation** alerts: pairs of aircraft of different parties predicted to lose separation
  within the agreement's look-ahead (`cpa.encounters`), levelled by time to loss of separation;
- **intrusion** alerts: an aircraft whose straight path over the look-ahead enters another
  party's active zone or strike hazard, or a ground unit inside another party's strike hazard
  (the core engine's exact rules, on the predicted path), levelled by time to entry;
- **conformance**: a track linked to its party's flight plan that deviates beyond the agreement's
  tolerances (`conformance.deviations`);
- **plan-area** alerts: while a track does not conform, its plan is an area around its actual
  position (a circle of `conformance_lateral_m`, a band of +-`conformance_vertical_m`, for the
  look-ahead), checked against the other parties' plan items.

Each kind runs through an `AlertTracker` (hold-time hysteresis) and the cycle returns what
changed. Nothing here reads a clock or touches a store: the caller passes in the areas and the
plans and turns the changes into events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from detente.detect import PlanIndex
from detente.geo import GEOD
from detente.model import Agreement, Area, Band, Flight, Item, ItemRef, Kind, Shape, TrackReport

from .alerts import (
    DEFAULT_HOLD_S,
    Alert,
    AlertChange,
    AlertTracker,
    Level,
    alert_levels,
    level_for,
)
from .arrays import TrackArrays
from .board import DEFAULT_MAX_AGE_S, TrackBoard, TrackKey
from .conformance import Deviation, Route, deviations
from .cpa import encounters
from .pair_alerts import CHANGES, PairChanges, PairTracker

__all__ = [
    "Cycle",
    "Intrusion",
    "Motion",
    "PairKey",
    "Separation",
    "TacticalPicture",
]

PairKey = tuple[TrackKey, TrackKey]
HazardKey = tuple[TrackKey, ItemRef]
#: Items of the predicted paths carry ids no plan item has (a unit separator cannot be typed).
_TRACK_ID = "\x1ftrack\x1f"
_HAZARDS = (Kind.ZONE, Kind.STRIKE)
_M_PER_DEG = 111_320.0
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Motion:
    """Where a track is at the cycle's instant (dead-reckoned) and how it moves."""

    lon: float
    lat: float
    alt_m: float
    course_deg: float
    speed_mps: float
    vertical_mps: float


class Separation(NamedTuple):
    """A predicted loss of separation, in seconds from the cycle and metres at the closest point.

    A tuple: a dense picture makes tens of thousands each second."""

    t_los: float
    t_regain: float
    t_cpa: float
    h_cpa_m: float
    v_cpa_m: float


@dataclass(frozen=True, slots=True)
class Intrusion:
    """A track's predicted entry into another party's item: when (seconds from the cycle), the
    rule it breaks, and where the breach is worst (lon, lat, alt_m)."""

    t_entry: float
    t_exit: float
    rule: str
    where: tuple[float, float, float]


@dataclass(slots=True)
class Cycle:
    """What one cycle changed, and where the tracks named in it were."""

    at: float
    separation: list[AlertChange[PairKey, Separation]] = field(default_factory=list)
    intrusion: list[AlertChange[HazardKey, Intrusion]] = field(default_factory=list)
    conformance: list[AlertChange[TrackKey, Deviation]] = field(default_factory=list)
    plan_area: list[AlertChange[HazardKey, Intrusion]] = field(default_factory=list)
    motion: dict[TrackKey, Motion] = field(default_factory=dict)
    expired: list[TrackKey] = field(default_factory=list)
    tracks: int = 0

    @property
    def changes(self) -> int:
        return (
            len(self.separation) + len(self.intrusion) + len(self.conformance)
            + len(self.plan_area)
        )  # fmt: skip


class TacticalPicture:
    """The live tracks of every party and the alerts they raise.

    >>> picture = TacticalPicture(Agreement())
    >>> picture.accept(TrackReport("blue", "b1", 0.0, 36.00, 35.0, 9000.0, 90.0, 220.0))
    True
    >>> picture.accept(TrackReport("red", "r1", 0.0, 36.60, 35.0, 9000.0, 270.0, 220.0))
    True
    >>> cycle = picture.cycle(0.0)
    >>> [(c.change.value, c.level.name) for c in cycle.separation]
    [('raised', 'CAUTION')]
    """

    def __init__(
        self,
        agreement: Agreement,
        *,
        hold_s: float = DEFAULT_HOLD_S,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        workers: int = 1,
    ) -> None:
        self.agreement = agreement
        self.board = TrackBoard(max_age_s=max_age_s)
        self.workers = workers
        self._pairs = PairTracker(hold_s=hold_s, width=len(Separation._fields))
        self._id_of: dict[TrackKey, int] = {}
        self._key_of: dict[int, TrackKey] = {}
        self._gone: set[int] = set()
        self._next_id = 0
        self.intrusions: AlertTracker[HazardKey, Intrusion] = AlertTracker(hold_s=hold_s)
        self.nonconforming: AlertTracker[TrackKey, Deviation] = AlertTracker(hold_s=hold_s)
        self.plan_areas: AlertTracker[HazardKey, Intrusion] = AlertTracker(hold_s=hold_s)
        self._routes: dict[ItemRef, tuple[Flight, Route]] = {}
        self._motion: Mapping[TrackKey, Motion] = {}

    def accept(self, report: TrackReport) -> bool:
        """Take a report; False when a newer one of the same track is already held."""
        return self.board.update(report)

    def motion(self, key: TrackKey) -> Motion | None:
        """Where a track was at the last cycle."""
        return self._motion.get(key)

    def cycle(
        self,
        now: float,
        *,
        areas: Sequence[Area] = (),
        plans: Mapping[TrackKey, Flight] | None = None,
        near: Callable[[Sequence[Area]], Sequence[Item]] | None = None,
    ) -> Cycle:
        """Run detection at `now`.

        `areas` are the active zones and strikes of every party; `plans` the filed flight of
        each linked track; `near(areas)` gives the other parties' plan items near the areas of
        non-conforming tracks (none are checked without it).
        """
        agreement = self.agreement
        out = Cycle(now, expired=self.board.expire(now))
        keys, air = self.board.snapshot(now, airborne=True)
        ground_keys, ground = self.board.snapshot(now, airborne=False)
        out.tracks = len(keys) + len(ground_keys)
        motion = _Motions([(keys, air), (ground_keys, ground)])
        self._motion = motion

        found = encounters(
            air,
            horizontal_m=agreement.horizontal_m,
            vertical_m=agreement.vertical_m,
            lookahead_s=agreement.lookahead_s,
            workers=self.workers,
        )
        levels = alert_levels(found.t_los, agreement)
        alerting = np.flatnonzero(levels)
        ids = self._track_ids(keys, out.expired)
        first, second = ids[found.i[alerting]], ids[found.j[alerting]]
        codes = (np.minimum(first, second) << 32) | np.maximum(first, second)
        details = np.column_stack(
            [
                getattr(found, name)[alerting]
                for name in ("t_los", "t_regain", "t_cpa", "h_cpa_m", "v_cpa_m")
            ]
        )
        changes = self._pairs.step(now, codes, levels[alerting], details)
        out.separation = self._separation_changes(now, changes)
        self._forget_ids()

        hazards = [a for a in areas if a.kind in _HAZARDS]
        out.intrusion = self.intrusions.step(now, self._hazard_observations(now, motion, hazards))
        out.conformance = self.nonconforming.step(now, self._conformance(plans or {}))
        out.plan_area = self.plan_areas.step(now, self._plan_areas(now, motion, near))
        named = {k for c in out.separation for k in c.key}
        named |= {c.key[0] for c in (*out.intrusion, *out.plan_area)}
        named |= {c.key for c in out.conformance}
        out.motion = {k: motion[k] for k in named if k in motion}
        return out

    def separation_alerts(self) -> Iterator[Alert[PairKey, Separation]]:
        """The separation alerts shown now."""
        pairs = self._pairs
        for code, level, raised, changed, row in zip(
            pairs.code.tolist(),
            pairs.level.tolist(),
            pairs.raised.tolist(),
            pairs.changed.tolist(),
            pairs.details.tolist(),
            strict=True,
        ):
            yield Alert(
                self._pair_key(code), Level(level), raised, changed, changed, Separation(*row)
            )

    # -- separation ----------------------------------------------------------------------------

    def _track_ids(self, keys: Sequence[TrackKey], expired: Sequence[TrackKey]) -> IntArray:
        """Stable numbers of tracks (never reused: an alert may outlive its track's report)."""
        id_of, key_of = self._id_of, self._key_of
        for key in expired:
            number = id_of.pop(key, None)
            if number is not None:
                self._gone.add(number)
        out = np.empty(len(keys), np.int64)
        for n, key in enumerate(keys):
            number = id_of.get(key)
            if number is None:
                number = id_of[key] = self._next_id
                self._next_id += 1
                key_of[number] = key
            out[n] = number
        return out

    def _forget_ids(self) -> None:
        """Drop the numbers of tracks gone once no alert names them."""
        if not self._gone:
            return
        codes = self._pairs.code
        named = set((codes >> 32).tolist()) | set((codes & 0xFFFFFFFF).tolist())
        for number in [n for n in self._gone if n not in named]:
            self._gone.discard(number)
            del self._key_of[number]

    def _pair_key(self, code: int) -> PairKey:
        a, b = self._key_of[code >> 32], self._key_of[code & 0xFFFFFFFF]
        return (a, b) if a <= b else (b, a)

    def _separation_changes(
        self, now: float, changes: PairChanges
    ) -> list[AlertChange[PairKey, Separation]]:
        return [
            AlertChange(
                self._pair_key(code),
                CHANGES[kind],
                Level(level) if level else None,
                Level(previous) if previous else None,
                now,
                Separation(*row),
            )
            for code, kind, level, previous, row in zip(
                changes.code.tolist(),
                changes.change.tolist(),
                changes.level.tolist(),
                changes.previous.tolist(),
                changes.details.tolist(),
                strict=True,
            )
        ]

    # -- intrusions ----------------------------------------------------------------------------

    def _hazard_observations(
        self, now: float, motion: _Motions, hazards: Sequence[Area]
    ) -> list[tuple[HazardKey, int, Intrusion]]:
        lookahead = self.agreement.lookahead_s
        hazards = [a for a in hazards if a.end > now and a.start < now + lookahead]
        if not hazards or not motion:
            return []
        keys = _near_boxes(motion, hazards, lookahead, self.agreement.horizontal_m)
        items = [self._predicted(k, motion[k], now, lookahead) for k in keys]
        return self._judge(now, hazards, items, dict(zip(items, keys, strict=True)))

    def _judge(
        self,
        now: float,
        others: Sequence[Item],
        probes: Sequence[Item],
        owner: Mapping[Item, TrackKey],
    ) -> list[tuple[HazardKey, int, Intrusion]]:
        if not probes or not others:
            return []
        index = PlanIndex(self.agreement, workers=1)
        index.add(list(others), check=False)
        by_ref = {item.ref: item for item in probes}
        observations: list[tuple[HazardKey, int, Intrusion]] = []
        for conflict in index.add(list(probes)):
            if conflict.a in by_ref:
                probe, other = by_ref[conflict.a], conflict.b
            elif conflict.b in by_ref:
                probe, other = by_ref[conflict.b], conflict.a
            else:
                continue  # two of the given items: not a track's business
            t_entry = max(conflict.start - now, 0.0)
            level = level_for(t_entry, self.agreement)
            if level is None:
                continue
            c = conflict.closest
            details = Intrusion(
                t_entry, conflict.end - now, conflict.kind.value, (c.lon, c.lat, c.alt_m)
            )
            observations.append(((owner[probe], other), level, details))
        return observations

    def _predicted(self, key: TrackKey, m: Motion, now: float, lookahead: float) -> Item:
        """A track's next `lookahead` seconds as a plan item: an aircraft's straight path, or a
        ground unit standing where it is."""
        party, uid = key
        item_id = _TRACK_ID + uid
        report = self.board.get(key)
        if report is not None and not report.airborne:
            return Area(
                Kind.GROUND, party, item_id, Shape(center=(m.lon, m.lat)), now, now + lookahead
            )
        lon1, lat1, _ = GEOD.fwd(m.lon, m.lat, m.course_deg, m.speed_mps * lookahead)
        return Flight(
            party,
            item_id,
            (m.lon, float(lon1)),
            (m.lat, float(lat1)),
            (m.alt_m, m.alt_m + m.vertical_mps * lookahead),
            (now, now + lookahead),
        )

    # -- conformance ---------------------------------------------------------------------------

    def _conformance(
        self, plans: Mapping[TrackKey, Flight]
    ) -> list[tuple[TrackKey, int, Deviation]]:
        keys = [k for k in plans if self.board.get(k) is not None]
        if not keys:
            return []
        reports = [self.board.get(k) for k in keys]
        routes = [self._route(plans[k]) for k in keys]
        found = deviations(reports, routes, self.agreement)  # type: ignore[arg-type]
        return [(keys[k], 1, found[k]) for k in np.flatnonzero(found.breach).tolist()]

    def _route(self, flight: Flight) -> Route:
        cached = self._routes.get(flight.ref)
        if cached is not None and cached[0] is flight:
            return cached[1]
        route = Route.of(flight)
        self._routes[flight.ref] = (flight, route)
        return route

    def _plan_areas(
        self,
        now: float,
        motion: Mapping[TrackKey, Motion],
        near: Callable[[Sequence[Area]], Sequence[Item]] | None,
    ) -> list[tuple[HazardKey, int, Intrusion]]:
        off = [a.key for a in self.nonconforming if a.key in motion]
        if not off or near is None:
            return []
        agreement = self.agreement
        areas: list[Area] = []
        for key in off:
            m = motion[key]
            band = Band(
                m.alt_m - agreement.conformance_vertical_m,
                m.alt_m + agreement.conformance_vertical_m,
            )
            areas.append(
                Area(
                    Kind.AIRSPACE,
                    key[0],
                    _TRACK_ID + key[1],
                    Shape(center=(m.lon, m.lat), radius_m=agreement.conformance_lateral_m),
                    now,
                    now + agreement.lookahead_s,
                    band,
                )
            )
        others = list(near(areas))
        owner: dict[Item, TrackKey] = dict(zip(areas, off, strict=True))
        return self._judge(now, others, areas, owner)


class _Motions(Mapping[TrackKey, Motion]):
    """Where every track is at the cycle's instant; a `Motion` is built only when asked for."""

    def __init__(self, parts: Sequence[tuple[Sequence[TrackKey], TrackArrays]]) -> None:
        self.order = [key for keys, _ in parts for key in keys]
        tracks = TrackArrays.concat([arrays for _, arrays in parts])
        self.lon, self.lat, self.alt_m = tracks.lon, tracks.lat, tracks.alt_m
        self.course_deg = (np.degrees(np.arctan2(tracks.v_east, tracks.v_north)) + 360.0) % 360.0
        self.speed_mps = np.hypot(tracks.v_east, tracks.v_north)
        self.vertical_mps = tracks.v_up
        self._row = dict(zip(self.order, range(len(self.order)), strict=True))

    def __getitem__(self, key: TrackKey) -> Motion:
        n = self._row[key]
        return Motion(
            float(self.lon[n]),
            float(self.lat[n]),
            float(self.alt_m[n]),
            float(self.course_deg[n]),
            float(self.speed_mps[n]),
            float(self.vertical_mps[n]),
        )

    def __iter__(self) -> Iterator[TrackKey]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, key: object) -> bool:
        return key in self._row


def _near_boxes(
    motion: _Motions, hazards: Sequence[Area], lookahead: float, margin_m: float
) -> list[TrackKey]:
    """Tracks whose reach over the look-ahead meets a hazard's box (degrees, generous)."""
    lon, lat = motion.lon, motion.lat
    reach = motion.speed_mps * lookahead
    keep = np.zeros(len(lon), bool)
    for area in hazards:
        vertices = area.shape.vertices()
        xs = np.array([v[0] for v in vertices])
        ys = np.array([v[1] for v in vertices])
        grow = area.shape.radius_m + area.reach_m + margin_m
        span = (reach + grow) / _M_PER_DEG
        cos = np.maximum(np.cos(np.radians(np.clip(np.abs(lat) + span, 0.0, 89.0))), 0.01)
        dlat = np.maximum(ys.min() - lat, lat - ys.max())
        dlon = np.maximum(xs.min() - lon, lon - xs.max())
        dlon = np.minimum(np.abs(dlon), 360.0 - np.abs(dlon)) * np.sign(dlon)
        keep |= (dlat <= span) & (dlon <= span / cos)
    return [motion.order[k] for k in np.flatnonzero(keep).tolist()]
