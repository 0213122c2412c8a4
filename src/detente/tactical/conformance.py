"""Conformance: how far a live track is from its filed flight plan, in space and time.

The route of a `Flight` is its legs (geodesics) cut into pieces of at most `MAX_PIECE_M`. A report
is matched to the foot of its perpendicular on a piece, and measured there:

- lateral deviation: the horizontal distance from the reported position to the matched point;
- vertical deviation: reported altitude minus the planned altitude at the matched point;
- time deviation: report time minus the planned time at the matched point (positive: late). Where
  the plan holds still (repeats a position at a later time) the planned time is the nearest
  instant of the hold.

Which point is matched: the nearest point of the route, unless the route passes within the
lateral tolerance more than once (an orbit, an out-and-back leg). Then every pass within the
tolerance is a candidate (each local minimum of the distance along the route) and the one that
fits best in time and altitude wins: the least larger ratio of the time or vertical deviation to
its tolerance (the nearer laterally on a tie). So a track flying the second lap of a racetrack is
measured against the second lap, and `lateral_m` exceeds the tolerance exactly when the distance to
the route does.

A report also breaks the plan when it falls outside the plan's window by more than the time
tolerance (before `start - conformance_time_s` or after `end + conformance_time_s`).

Accuracy: distances are measured between the ellipsoid points in the plane tangent at the report
(ECEF chords of the pieces, projected along the report's normal). Against the geodesic this is
within 0.05 % of the distance up to 300 km from the route, plus under 0.1 m from the chords' sag
(pieces of 50 km sag 49 m below the ellipsoid, removed by the projection but for its tilt).

Hysteresis: feed `observations(...)` to an `alerts.AlertTracker` (hold time) so that a track
hovering at a tolerance does not flicker between conforming and not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntFlag
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from detente.detect.trajectories import flight_pieces
from detente.geo import ecef, surface_normal
from detente.model import Agreement, Flight, TrackReport

__all__ = [
    "MAX_PIECE_M",
    "NONCONFORMING",
    "Breach",
    "Deviation",
    "Deviations",
    "Route",
    "conformance",
    "deviations",
    "observations",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
K = TypeVar("K")

#: Longest piece of a route, metres: short enough that chords stay within a few cm of the geodesic.
MAX_PIECE_M = 50_000.0
#: The alert level a non-conforming track is given in an `AlertTracker`.
NONCONFORMING = 1


class Breach(IntFlag):
    """Which tolerances a report breaks (empty when it conforms)."""

    LATERAL = 1
    VERTICAL = 2
    TIME = 4
    WINDOW = 8


@dataclass(frozen=True, slots=True)
class Deviation:
    """A report against its plan: signed vertical and time deviations, and what is broken.

    `time_s` > 0 is late, < 0 early; `vertical_m` > 0 is above the plan.
    """

    lateral_m: float
    vertical_m: float
    time_s: float
    breach: Breach

    @property
    def conforming(self) -> bool:
        return not self.breach


@dataclass(frozen=True, slots=True)
class Route:
    """A flight's route cut into straight pieces (ECEF chords of its geodesics) for matching.

    Build once per filed flight with `Route.of` and reuse it for every report of its track.
    """

    start: float
    end: float
    p0: FloatArray  # (n, 3) ECEF ground points where each piece starts, m
    p1: FloatArray
    t0: FloatArray
    t1: FloatArray
    z0: FloatArray
    z1: FloatArray
    joined_prev: BoolArray  # the piece starts where the previous one ends
    joined_next: BoolArray

    def __len__(self) -> int:
        return len(self.t0)

    @staticmethod
    def of(flight: Flight, *, max_piece_m: float = MAX_PIECE_M) -> Route:
        """The route of `flight`.

        >>> f = Flight("blue", "f1", (0.0, 1.0), (0.0, 0.0), (3000.0, 3000.0), (0.0, 600.0))
        >>> len(Route.of(f))
        3
        """
        pieces = flight_pieces([flight], [0], max_piece_m)
        if len(pieces):
            p0, p1 = pieces.p0, pieces.p1
            t0, t1, z0, z1 = pieces.t0, pieces.t1, pieces.z0, pieces.z1
        else:  # every position at one instant: points, not pieces
            p0 = p1 = ecef(np.asarray(flight.lon), np.asarray(flight.lat)).reshape(-1, 3)
            t0 = t1 = np.asarray(flight.times, np.float64)
            z0 = z1 = np.asarray(flight.alt_m, np.float64)
        joined = np.linalg.norm(p1[:-1] - p0[1:], axis=1) < 1e-3
        return Route(
            flight.start,
            flight.end,
            p0,
            p1,
            t0,
            t1,
            z0,
            z1,
            np.r_[False, joined],
            np.r_[joined, False],
        )


@dataclass(frozen=True, slots=True)
class Deviations:
    """Deviations of many reports, row k for report k (see `Deviation`)."""

    lateral_m: FloatArray
    vertical_m: FloatArray
    time_s: FloatArray
    breach: NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.lateral_m)

    def __getitem__(self, k: int) -> Deviation:
        return Deviation(
            float(self.lateral_m[k]),
            float(self.vertical_m[k]),
            float(self.time_s[k]),
            Breach(int(self.breach[k])),
        )

    def __iter__(self) -> Iterator[Deviation]:
        return (self[k] for k in range(len(self)))

    @property
    def conforming(self) -> BoolArray:
        return self.breach == 0


def conformance(report: TrackReport, flight: Flight, agreement: Agreement) -> Deviation:
    """One report against its filed flight.

    >>> f = Flight("blue", "f1", (0.0, 1.0), (0.0, 0.0), (3000.0, 3000.0), (0.0, 600.0))
    >>> d = conformance(TrackReport("blue", "t", 400.0, 0.5, 0.0, 3000.0), f, Agreement())
    >>> round(d.lateral_m, 3), round(d.time_s, 1), d.conforming
    (0.0, 100.0, True)
    >>> conformance(TrackReport("blue", "t", 300.0, 0.5, 0.1, 3500.0), f, Agreement()).breach
    <Breach.LATERAL|VERTICAL: 3>
    """
    return deviations([report], [Route.of(flight)], agreement)[0]


def deviations(
    reports: Sequence[TrackReport], routes: Sequence[Route], agreement: Agreement
) -> Deviations:
    """Each report against the route of its flight (`routes[k]` for `reports[k]`), vectorised."""
    n = len(reports)
    if len(routes) != n:
        raise ValueError(f"{n} reports but {len(routes)} routes")
    if n == 0:
        f = np.empty(0, np.float64)
        return Deviations(f, f, f, np.empty(0, np.uint8))
    lon = np.fromiter((r.lon for r in reports), np.float64, n)
    lat = np.fromiter((r.lat for r in reports), np.float64, n)
    alt = np.fromiter((r.alt_m for r in reports), np.float64, n)
    when = np.fromiter((r.time for r in reports), np.float64, n)
    start = np.fromiter((r.start for r in routes), np.float64, n)
    end = np.fromiter((r.end for r in routes), np.float64, n)
    counts = np.fromiter((len(r) for r in routes), np.int64, n)
    if not counts.all():
        raise ValueError(f"route {int(np.argmin(counts))} has no pieces")
    row = np.repeat(np.arange(n), counts)

    def cat(name: str) -> FloatArray:
        return np.concatenate([getattr(r, name) for r in routes])

    here = ecef(lon, lat)
    up = surface_normal(here)[row]
    p0, p1 = cat("p0"), cat("p1")
    point = np.einsum("ij,ij->i", p1 - p0, p1 - p0) < 1e-6  # pieces that stay in place
    a = _tangential(p0 - here[row], up)
    b = _tangential(p1 - here[row], up)
    seg = b - a
    length2 = np.einsum("ij,ij->i", seg, seg)
    flat = point | (length2 <= 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(flat, 0.0, -np.einsum("ij,ij->i", a, seg) / np.where(flat, 1.0, length2))
    f = np.clip(f, 0.0, 1.0)
    foot = a + f[:, None] * seg
    lateral = np.sqrt(np.einsum("ij,ij->i", foot, foot))
    t0, t1, z0, z1 = cat("t0"), cat("t1"), cat("z0"), cat("z1")
    planned = np.where(point, np.clip(when[row], t0, t1), t0 + f * (t1 - t0))
    late = when[row] - planned
    # On a piece that stays in place (a hold, a climb in a hover) time sets the altitude.
    duration = t1 - t0
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(point, np.where(duration > 0, (planned - t0) / duration, 0.0), f)
    above = alt[row] - (z0 + g * (z1 - z0))

    # Candidates: the local minima of the distance along the route (see the module docstring).
    next_f = np.r_[f[1:], 0.0]
    candidate = (
        point
        | ((f > 0.0) & (f < 1.0))
        | ((f >= 1.0) & (~_cat_bool(routes, "joined_next") | (next_f <= 0.0)))
        | ((f <= 0.0) & ~_cat_bool(routes, "joined_prev"))
    )
    first = np.r_[0, np.cumsum(counts)[:-1]]
    nearest = lateral == np.minimum.reduceat(lateral, first)[row]
    # Passes within the lateral tolerance compete on time and altitude; with none, the nearest.
    within = candidate & (lateral <= agreement.conformance_lateral_m)
    fit = np.maximum(
        np.abs(above) / max(agreement.conformance_vertical_m, 1e-9),
        np.abs(late) / max(agreement.conformance_time_s, 1e-9),
    )
    rank = np.where(within, 0, np.where(nearest, 1, 2))
    order = np.lexsort((lateral, np.where(within, fit, 0.0), rank, row))
    best = order[first]

    breach = np.zeros(n, np.uint8)
    breach[lateral[best] > agreement.conformance_lateral_m] |= int(Breach.LATERAL)
    breach[np.abs(above[best]) > agreement.conformance_vertical_m] |= int(Breach.VERTICAL)
    breach[np.abs(late[best]) > agreement.conformance_time_s] |= int(Breach.TIME)
    outside = (when < start - agreement.conformance_time_s) | (
        when > end + agreement.conformance_time_s
    )
    breach[outside] |= int(Breach.WINDOW)
    return Deviations(lateral[best], above[best], late[best], breach)


def observations(keys: Sequence[K], found: Deviations) -> list[tuple[K, int, Deviation]]:
    """`(key, NONCONFORMING, deviation)` for every non-conforming row, for an `AlertTracker`."""
    return [(keys[k], NONCONFORMING, found[k]) for k in np.flatnonzero(found.breach).tolist()]


def _cat_bool(routes: Sequence[Route], name: str) -> BoolArray:
    return np.concatenate([getattr(r, name) for r in routes])


def _tangential(v: FloatArray, up: FloatArray) -> FloatArray:
    return v - np.einsum("ij,ij->i", v, up)[:, None] * up
