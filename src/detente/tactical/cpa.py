"""Predicted losses of separation between live tracks: closest point of approach, vectorised.

Every pair of tracks (of different parties, unless asked otherwise) is checked for a loss of
separation — horizontal distance below `horizontal_m` and vertical distance below `vertical_m` at
the same moment — within the look-ahead, each track flying at constant velocity.

Earth model, per candidate pair (see docs/tactical.md):

- both ground points are placed on the WGS84 ellipsoid (ECEF); the pair's frame is the plane
  normal to the mean of their two ellipsoid normals (the midpoint's tangent plane);
- the relative horizontal position is the chord between the ground points projected on that
  plane;
- each track's horizontal velocity, given in its own east/north frame, is carried into the plane
  by the rotation that takes its own normal onto the pair's normal (parallel transport along
  the great circle between them), so the convergence of meridians is accounted for and speeds
  are kept;
- relative motion is then a straight line in the plane; vertical motion is the altitude
  difference changing at the difference of vertical speeds.

Nothing depends on longitude or latitude coordinates once positions are in ECEF, so the model
is the same across the antimeridian and at the poles.

Broad phase (`._grid`): each track's ground segment over the look-ahead, as an ECEF box grown by
half the horizontal minimum plus a bound on the model's departure from straight ECEF motion, and
its altitude range grown by half the vertical minimum; only pairs whose boxes meet are checked
exactly. Work is cut into jobs of bounded size (memory stays flat), which threads may share.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from detente.errors import DetenteError
from detente.geo import E2, EQUATORIAL_RADIUS_M, ecef

from ._grid import TrackBoxes, pair_jobs
from .arrays import TrackArrays

__all__ = ["Encounters", "TacticalSettingError", "encounters"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Cell edge of the broad phase, measured on benchmarks/tactical.py (2/3 of a reach of 75 km).
CELL_M = 50_000.0
# Grid pairs per job: bounds the memory of one job to some tens of MB.
CHUNK_PAIRS = 1 << 18
# Least radius of curvature of the ellipsoid (meridional, at the equator).
_MIN_CURVATURE_RADIUS_M = EQUATORIAL_RADIUS_M * (1.0 - E2)
# Relative speeds (m/s) and vertical speeds below these are taken as zero.
_STILL_MPS = 1e-9


class TacticalSettingError(DetenteError, ValueError):
    """A detector setting is out of range: `name` says which.

    >>> str(TacticalSettingError("horizontal_m", -1.0, "must be positive"))
    'horizontal_m = -1.0: must be positive'
    """

    def __init__(self, name: str, value: float, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name} = {value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Encounters:
    """Pairs of tracks that lose separation within the look-ahead, sorted by `(i, j)`, `i < j`.

    `t_los`: seconds from now when separation is first lost (0 if it already is); `t_regain`:
    when it is regained (may exceed the look-ahead; `inf` when the tracks never part);
    `t_cpa`: the time in [0, look-ahead] of least horizontal distance, `h_cpa_m` and `v_cpa_m`
    the horizontal and vertical distances then.
    """

    i: IntArray
    j: IntArray
    t_los: FloatArray
    t_regain: FloatArray
    t_cpa: FloatArray
    h_cpa_m: FloatArray
    v_cpa_m: FloatArray

    def __len__(self) -> int:
        return len(self.i)

    @staticmethod
    def empty() -> Encounters:
        """No encounters.

        >>> len(Encounters.empty())
        0
        """
        n = np.empty(0, np.int64)
        f = np.empty(0, np.float64)
        return Encounters(n, n, f, f, f, f, f)

    @staticmethod
    def concat(parts: list[Encounters]) -> Encounters:
        """The rows of every part, one after another (not re-sorted)."""
        if not parts:
            return Encounters.empty()
        return Encounters(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Encounters))
        )

    def take(self, index: IntArray) -> Encounters:
        """The rows at `index`."""
        return Encounters(*(getattr(self, f.name)[index] for f in fields(self)))


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Per track: ground point `p`, unit normal `u`, horizontal velocity `v` (ECEF), and z."""

    p: FloatArray
    u: FloatArray
    v: FloatArray
    alt: FloatArray
    v_up: FloatArray
    party: NDArray[np.int32]


def encounters(
    tracks: TrackArrays,
    *,
    horizontal_m: float,
    vertical_m: float,
    lookahead_s: float,
    same_party: bool = False,
    workers: int = 1,
) -> Encounters:
    """Every pair that loses separation within `lookahead_s`, flying at constant velocity.

    Pairs of one party are left out unless `same_party`. `workers` threads share the work.

    >>> tracks = TrackArrays(
    ...     party=[0, 1, 1], lon=[0.0, 0.5, 0.5], lat=[0.0, 0.0, 1.0],
    ...     alt_m=[9000.0, 9100.0, 9000.0], v_east=[120.0, -120.0, 0.0],
    ...     v_north=[0.0, 0.0, 0.0], v_up=[0.0, 0.0, 0.0])
    >>> found = encounters(tracks, horizontal_m=9260.0, vertical_m=304.8, lookahead_s=300.0)
    >>> found.i.tolist(), found.j.tolist()
    ([0], [1])
    >>> round(float(found.t_los[0]), 1), round(float(found.t_cpa[0]), 1)
    (193.3, 231.9)
    """
    _check_settings(horizontal_m, vertical_m, lookahead_s, workers)
    if len(tracks) < 2:
        return Encounters.empty()
    geometry = _geometry(tracks)
    boxes = _boxes(geometry, horizontal_m, vertical_m, lookahead_s)
    jobs = pair_jobs(boxes, CELL_M, CHUNK_PAIRS)

    def run(job_index: int) -> Encounters:
        i, j = jobs[job_index]()
        if not same_party:
            keep = geometry.party.take(i) != geometry.party.take(j)
            i, j = i[keep], j[keep]
        i, j = _near(geometry, boxes.grow, i, j, lookahead_s)
        return _narrow(geometry, i, j, horizontal_m, vertical_m, lookahead_s)

    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, range(len(jobs))))
    else:
        parts = [run(k) for k in range(len(jobs))]
    found = Encounters.concat(parts)
    return found.take(np.lexsort((found.j, found.i)))


def _check_settings(
    horizontal_m: float, vertical_m: float, lookahead_s: float, workers: int
) -> None:
    for name, value in (("horizontal_m", horizontal_m), ("vertical_m", vertical_m)):
        if not (math.isfinite(value) and value > 0):
            raise TacticalSettingError(name, value, "must be positive and finite")
    if not (math.isfinite(lookahead_s) and lookahead_s >= 0):
        raise TacticalSettingError("lookahead_s", lookahead_s, "must be non-negative and finite")
    if workers < 1:
        raise TacticalSettingError("workers", workers, "must be at least 1")


def _geometry(tracks: TrackArrays) -> _Geometry:
    lon = np.radians(tracks.lon)
    lat = np.radians(tracks.lat)
    sin_lon, cos_lon = np.sin(lon), np.cos(lon)
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    u = np.stack([cos_lat * cos_lon, cos_lat * sin_lon, sin_lat])
    east = np.stack([-sin_lon, cos_lon, np.zeros_like(lon)])
    north = np.stack([-sin_lat * cos_lon, -sin_lat * sin_lon, cos_lat])
    v = east * tracks.v_east + north * tracks.v_north
    p = np.ascontiguousarray(ecef(tracks.lon, tracks.lat).T)
    return _Geometry(p, u, v, tracks.alt_m, tracks.v_up, tracks.party)


def _boxes(g: _Geometry, horizontal_m: float, vertical_m: float, lookahead_s: float) -> TrackBoxes:
    """Boxes that meet for every pair whose model distance falls below `horizontal_m`.

    A pair in conflict is at most `horizontal_m + 2 · v_max · T` apart now, so each normal is at
    most `theta` from their mean. Against straight ECEF motion along each track's own tangent,
    the model's relative position differs in the pair's plane by at most `T·v·theta²/2` per track
    and out of it by `T·v·sin(theta)` per track plus the chord's tilt (zero on a sphere, metres
    on the ellipsoid); growing each box by the hypotenuse of the two (Minkowski's inequality)
    keeps every such pair.
    """
    reach = np.sqrt(_dot(g.v, g.v)) * lookahead_s
    max_apart = horizontal_m + 2.0 * float(reach.max())
    theta = min(1.01 * max_apart / (2.0 * _MIN_CURVATURE_RADIUS_M), math.pi / 2)
    tilt = 1e-3 * max_apart
    in_plane = horizontal_m / 2.0 + reach * theta * theta / 2.0
    out_of_plane = reach * math.sin(theta) + tilt
    grow = np.hypot(in_plane, out_of_plane) + 1.0
    end = g.p + g.v * lookahead_s
    climb = g.v_up * lookahead_s
    return TrackBoxes(
        np.minimum(g.p, end) - grow,
        np.maximum(g.p, end) + grow,
        g.alt + np.minimum(climb, 0.0) - vertical_m / 2.0,
        g.alt + np.maximum(climb, 0.0) + vertical_m / 2.0,
        grow,
    )


def _near(
    g: _Geometry, grow: FloatArray, i: IntArray, j: IntArray, lookahead_s: float
) -> tuple[IntArray, IntArray]:
    """Pairs whose straight ECEF motion comes within the sum of their boxes' growth.

    The same bound as the boxes' (see `_boxes`), on the segments instead of their boxes.
    """
    d = g.p.take(j, axis=1) - g.p.take(i, axis=1)
    w = g.v.take(j, axis=1) - g.v.take(i, axis=1)
    a = _dot(w, w)
    b = _dot(d, w)
    t = np.clip(-b / np.maximum(a, 1e-300), 0.0, lookahead_s)
    gap2 = _dot(d, d) + t * (2.0 * b + a * t)
    reach = grow.take(i) + grow.take(j)
    keep = gap2 < reach * reach
    return i[keep], j[keep]


def _narrow(
    g: _Geometry,
    i: IntArray,
    j: IntArray,
    horizontal_m: float,
    vertical_m: float,
    lookahead_s: float,
) -> Encounters:
    """The exact check of candidate pairs `(i, j)` in the pair's midpoint plane."""
    ui, uj = g.u.take(i, axis=1), g.u.take(j, axis=1)
    n = ui + uj
    n /= np.sqrt(_dot(n, n))
    d = g.p.take(j, axis=1) - g.p.take(i, axis=1)
    d -= _dot(d, n) * n
    w = _transport(g.v.take(j, axis=1), uj, n) - _transport(g.v.take(i, axis=1), ui, n)
    a = _dot(w, w)
    b = _dot(d, w)
    c = _dot(d, d) - horizontal_m * horizontal_m
    moving = a > _STILL_MPS * _STILL_MPS
    safe_a = np.where(moving, a, 1.0)
    disc = b * b - a * c
    half = np.sqrt(np.maximum(disc, 0.0)) / safe_a
    centre = np.where(moving, -b / safe_a, 0.0)
    # Open intervals (lo, hi) of horizontal and of vertical loss; (inf, -inf) when empty.
    h_open = np.where(moving, disc > 0, c < 0)
    h_lo = np.where(h_open, np.where(moving, centre - half, -np.inf), np.inf)
    h_hi = np.where(h_open, np.where(moving, centre + half, np.inf), -np.inf)

    dz = g.alt.take(j) - g.alt.take(i)
    dvz = g.v_up.take(j) - g.v_up.take(i)
    climbing = np.abs(dvz) > _STILL_MPS
    safe_dvz = np.where(climbing, dvz, 1.0)
    t1 = (-vertical_m - dz) / safe_dvz
    t2 = (vertical_m - dz) / safe_dvz
    v_open = climbing | (np.abs(dz) < vertical_m)
    v_lo = np.where(v_open, np.where(climbing, np.minimum(t1, t2), -np.inf), np.inf)
    v_hi = np.where(v_open, np.where(climbing, np.maximum(t1, t2), np.inf), -np.inf)

    lo = np.maximum(h_lo, v_lo)
    hi = np.minimum(h_hi, v_hi)
    hit = np.flatnonzero((lo < hi) & (lo < lookahead_s) & (hi > 0.0))
    t_cpa = np.clip(centre.take(hit), 0.0, lookahead_s)
    gap = d.take(hit, axis=1) + w.take(hit, axis=1) * t_cpa
    h_cpa = np.sqrt(_dot(gap, gap))
    v_cpa = np.abs(dz.take(hit) + dvz.take(hit) * t_cpa)
    return Encounters(
        i.take(hit), j.take(hit), np.maximum(lo.take(hit), 0.0), hi.take(hit), t_cpa, h_cpa, v_cpa
    )


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Column-wise dot products of (3, m) arrays."""
    result: FloatArray = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    return result


def _transport(v: FloatArray, u: FloatArray, n: FloatArray) -> FloatArray:
    """Tangent vectors `v` at normals `u`, rotated about `u x n` so that `u` goes onto `n`."""
    k = _dot(v, n) / (1.0 + _dot(u, n))
    result: FloatArray = v - k * (u + n)
    return result
