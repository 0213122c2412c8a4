"""The domain of Détente: plan items, the agreement and conflicts.

Plain frozen dataclasses in SI units (metres, seconds since the Unix epoch, degrees where named).
This module imports nothing of the rest of the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "Agreement",
    "Area",
    "Band",
    "Closest",
    "Conflict",
    "ConflictKind",
    "Flight",
    "Item",
    "ItemRef",
    "Kind",
    "Shape",
    "TrackReport",
]

Ring = tuple[tuple[float, float], ...]
PolygonRings = tuple[Ring, ...]


class Kind(StrEnum):
    """What a plan item is (`properties.kind` of a plan file)."""

    FLIGHT = "flight"
    AIRSPACE = "airspace"
    GROUND = "ground"
    STRIKE = "strike"
    ZONE = "zone"


class ConflictKind(StrEnum):
    """What rule of the agreement a conflict breaks."""

    AIR = "air"
    ZONE = "zone"
    STRIKE_GROUND = "strike-ground"
    STRIKE_AIR = "strike-air"


@dataclass(frozen=True, slots=True)
class Agreement:
    """The separation minima and rules the parties accepted.

    >>> Agreement().horizontal_m
    9260.0
    """

    horizontal_m: float = 9260.0
    vertical_m: float = 304.8
    ground_buffer_m: float = 0.0
    time_buffer_s: float = 0.0
    include_own: bool = False
    notice_margin_s: float = 300.0
    #: Live tracks: how far ahead losses of separation are predicted, and the alert levels by
    #: time to loss of separation (advisory, caution, warning).
    lookahead_s: float = 300.0
    advisory_s: float = 300.0
    caution_s: float = 120.0
    warning_s: float = 60.0
    #: A track further than these from its flight plan does not conform to it.
    conformance_lateral_m: float = 5556.0
    conformance_vertical_m: float = 152.4
    conformance_time_s: float = 120.0


@dataclass(frozen=True, slots=True, order=True)
class ItemRef:
    """Names one plan item: `(party, id)` is unique."""

    party: str
    id: str


@dataclass(frozen=True, slots=True)
class Band:
    """A vertical band in metres above mean sea level; open ends are infinite.

    >>> Band(1000.0, 2000.0).gap_to(Band(2500.0))
    500.0
    """

    lower_m: float = -math.inf
    upper_m: float = math.inf

    def gap_to(self, other: Band) -> float:
        """Vertical distance between two bands, 0 when they overlap or touch."""
        return max(self.lower_m - other.upper_m, other.lower_m - self.upper_m, 0.0)


@dataclass(frozen=True, slots=True)
class Shape:
    """A horizontal shape in WGS84 degrees: polygons, or a circle (centre + radius).

    Polygon edges are geodesics. A circle with radius 0 is a point (a strike's aim point).
    Each polygon is its rings, exterior first then holes; each ring is closed (its last
    `(lon, lat)` vertex repeats its first) and has at least 3 distinct corners and no vertex
    repeated consecutively. Longitudes stay in [-180, 180]: an edge whose ends differ by more
    than 180 degrees crosses the antimeridian.
    """

    polygons: tuple[PolygonRings, ...] = ()
    center: tuple[float, float] | None = None
    radius_m: float = 0.0

    @property
    def is_circle(self) -> bool:
        return self.center is not None

    def vertices(self) -> list[tuple[float, float]]:
        """Every vertex (exterior and holes), or the centre of a circle."""
        if self.center is not None:
            return [self.center]
        return [pt for polygon in self.polygons for ring in polygon for pt in ring]


@dataclass(frozen=True, slots=True)
class Flight:
    """A sortie: a 4-D trajectory through `positions` at `times` (epoch seconds, non-decreasing).

    Between positions it flies the geodesic at constant ground speed; altitude is linear in time.
    """

    kind: ClassVar[Kind] = Kind.FLIGHT
    party: str
    id: str
    lon: tuple[float, ...]
    lat: tuple[float, ...]
    alt_m: tuple[float, ...]
    times: tuple[float, ...]
    callsign: str | None = None
    aircraft: str | None = None

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.party, self.id)

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1]


@dataclass(frozen=True, slots=True)
class Area:
    """An airspace block, ground presence, strike or zone: a shape, a band and a window.

    `reach_m` grows the shape for the rules (a strike's effects radius); it is 0 otherwise.
    A strike's band runs from the ground to its hazard ceiling.
    """

    kind: Kind
    party: str
    id: str
    shape: Shape
    start: float
    end: float
    band: Band = field(default_factory=Band)
    reach_m: float = 0.0
    name: str | None = None
    zone_type: str | None = None

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.party, self.id)


Item = Flight | Area


@dataclass(frozen=True, slots=True)
class Closest:
    """Where a conflict is worst: the first instant of least horizontal distance."""

    time: float
    lon: float
    lat: float
    alt_m: float
    horizontal_m: float
    vertical_m: float


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two items that break the agreement during `[start, end]` (epoch seconds).

    For strike conflicts `a` is the strike; for zone conflicts `b` is the zone.
    """

    kind: ConflictKind
    a: ItemRef
    b: ItemRef
    start: float
    end: float
    closest: Closest

    @property
    def sort_key(self) -> tuple[float, str, ItemRef, ItemRef, float]:
        """Worst first: least horizontal distance, then kind, items and time."""
        return (self.closest.horizontal_m, self.kind.value, self.a, self.b, self.start)


@dataclass(frozen=True, slots=True)
class TrackReport:
    """One report of a live track: where a party's aircraft (or ground unit) is, and how it moves.

    `uid` names the track within its party; a newer report replaces the older. `course_deg` is
    degrees true and `speed_mps` ground speed (both None when unknown: the track is then held
    still); `stale` is when the report stops counting (epoch seconds). `plan_id` or `callsign`
    link the track to its party's flight plan.
    """

    party: str
    uid: str
    time: float
    lon: float
    lat: float
    alt_m: float
    course_deg: float | None = None
    speed_mps: float | None = None
    vertical_mps: float = 0.0
    stale: float | None = None
    callsign: str | None = None
    plan_id: str | None = None
    airborne: bool = True
