"""Small helpers to build plan items in code, and a slow geodesic oracle for flights.

Every distance here is geodesic on the WGS84 ellipsoid (pyproj.Geod), so test cases can be laid out
with exactly known distances: `destination` places a point at a distance and azimuth from another,
`diamond` and `square` build polygons whose vertices lie at known distances from a centre.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from pyproj import Geod

from detente.model import Area, Band, Conflict, Flight, ItemRef, Kind, Shape

GEOD = Geod(ellps="WGS84")

#: 2015-10-01T06:00:00Z, the reference instant of the test scenarios.
T0 = datetime(2015, 10, 1, 6, 0, tzinfo=UTC).timestamp()

Point = tuple[float, float]
Time = float | str


def epoch(value: Time) -> float:
    """Seconds since the epoch: a number is an offset from `T0`, a string an ISO 8601 instant."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return T0 + float(value)


# --- geodesy -------------------------------------------------------------------------------------


def destination(origin: Point, azimuth_deg: float, distance_m: float) -> Point:
    """The point `distance_m` from `origin` along the geodesic leaving at `azimuth_deg`."""
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth_deg, distance_m)
    return (float(lon), float(lat))


def distance(p: Point, q: Point) -> float:
    """Geodesic distance in metres."""
    return float(GEOD.inv(p[0], p[1], q[0], q[1])[2])


def azimuth(p: Point, q: Point) -> float:
    """Forward azimuth (degrees) of the geodesic from `p` to `q`."""
    return float(GEOD.inv(p[0], p[1], q[0], q[1])[0])


# --- shapes --------------------------------------------------------------------------------------


def ring(points: Iterable[Point]) -> tuple[Point, ...]:
    """A closed ring (the first position repeated at the end, as in GeoJSON)."""
    pts = tuple((float(lon), float(lat)) for lon, lat in points)
    if pts[0] != pts[-1]:
        pts = (*pts, pts[0])
    return pts


def polygon(*rings: Iterable[Point]) -> Shape:
    """A one-polygon shape from an exterior ring (counter-clockwise) and optional holes."""
    return Shape(polygons=(tuple(ring(r) for r in rings),))


def multipolygon(*exteriors: Iterable[Point]) -> Shape:
    """A shape of several polygons, each given by its exterior ring."""
    return Shape(polygons=tuple((ring(r),) for r in exteriors))


def circle(center: Point, radius_m: float) -> Shape:
    """Point + radius: every point within `radius_m` of `center`."""
    return Shape(center=(float(center[0]), float(center[1])), radius_m=float(radius_m))


def point(center: Point) -> Shape:
    """A single point (a strike's aim point)."""
    return circle(center, 0.0)


def diamond_ring(center: Point, radius_m: float) -> list[Point]:
    """Vertices N, W, S, E at `radius_m` from `center` (counter-clockwise).

    A flight along the meridian of `center` meets the diamond first at its S (or N) vertex, and
    from points on that meridian outside the diamond the nearest point of the diamond is the vertex.
    """
    return [destination(center, az, radius_m) for az in (0.0, 270.0, 180.0, 90.0)]


def diamond(center: Point, radius_m: float) -> Shape:
    """A diamond polygon (see `diamond_ring`)."""
    return polygon(diamond_ring(center, radius_m))


def square_ring(center: Point, half_diagonal_m: float) -> list[Point]:
    """Corners NE, NW, SW, SE at `half_diagonal_m` from `center` (counter-clockwise)."""
    return [destination(center, az, half_diagonal_m) for az in (45.0, 315.0, 225.0, 135.0)]


# --- items ---------------------------------------------------------------------------------------


def flight(
    party: str, id: str, track: Sequence[tuple[float, float, float, Time]], **kw: str
) -> Flight:
    """A flight from `(lon, lat, alt_m, time)` positions; see `epoch` for the time."""
    return Flight(
        party=party,
        id=id,
        lon=tuple(float(p[0]) for p in track),
        lat=tuple(float(p[1]) for p in track),
        alt_m=tuple(float(p[2]) for p in track),
        times=tuple(epoch(p[3]) for p in track),
        **kw,
    )


def hold(party: str, id: str, at: Point, alt_m: float, start: Time, end: Time) -> Flight:
    """A flight holding at one position from `start` to `end`."""
    return flight(party, id, [(*at, alt_m, start), (*at, alt_m, end)])


def straight(
    party: str,
    id: str,
    origin: Point,
    azimuth_deg: float,
    speed_ms: float,
    start: Time,
    duration_s: float,
    alt_m: float | tuple[float, float] = 6000.0,
) -> Flight:
    """One geodesic leg from `origin` at `speed_ms` for `duration_s` (altitude or (from, to))."""
    alt0, alt1 = alt_m if isinstance(alt_m, tuple) else (alt_m, alt_m)
    t0 = epoch(start)
    end = destination(origin, azimuth_deg, speed_ms * duration_s)
    return Flight(
        party=party,
        id=id,
        lon=(origin[0], end[0]),
        lat=(origin[1], end[1]),
        alt_m=(float(alt0), float(alt1)),
        times=(t0, t0 + duration_s),
    )


def area(
    kind: Kind,
    party: str,
    id: str,
    shape: Shape,
    start: Time,
    end: Time,
    lower_m: float | None = None,
    upper_m: float | None = None,
    reach_m: float = 0.0,
) -> Area:
    """Any area item; a missing band end is open (the ground, no top)."""
    band = Band(
        -math.inf if lower_m is None else float(lower_m),
        math.inf if upper_m is None else float(upper_m),
    )
    return Area(
        kind=kind,
        party=party,
        id=id,
        shape=shape,
        start=epoch(start),
        end=epoch(end),
        band=band,
        reach_m=float(reach_m),
    )


def airspace(
    party: str,
    id: str,
    shape: Shape,
    start: Time,
    end: Time,
    lower_m: float | None = None,
    upper_m: float | None = None,
) -> Area:
    return area(Kind.AIRSPACE, party, id, shape, start, end, lower_m, upper_m)


def zone(
    party: str,
    id: str,
    shape: Shape,
    start: Time,
    end: Time,
    lower_m: float | None = None,
    upper_m: float | None = None,
) -> Area:
    return area(Kind.ZONE, party, id, shape, start, end, lower_m, upper_m)


def ground(party: str, id: str, shape: Shape, start: Time, end: Time) -> Area:
    return area(Kind.GROUND, party, id, shape, start, end)


def strike(
    party: str,
    id: str,
    shape: Shape,
    start: Time,
    end: Time,
    radius_m: float,
    ceiling_m: float = 15000.0,
) -> Area:
    """A strike: its shape grown by `radius_m`, from the ground up to `ceiling_m`."""
    return area(Kind.STRIKE, party, id, shape, start, end, None, ceiling_m, reach_m=radius_m)


# --- the slow oracle for flights -----------------------------------------------------------------


def position(f: Flight, t: float) -> tuple[float, float, float]:
    """Where `f` is at `t` (geodesic legs at constant speed, linear altitude)."""
    if not f.times[0] <= t <= f.times[-1]:
        raise ValueError("the flight does not exist at that time")
    for i in range(len(f.times) - 1):
        t0, t1 = f.times[i], f.times[i + 1]
        if t <= t1 and t1 > t0:
            frac = (t - t0) / (t1 - t0)
            az, _, length = GEOD.inv(f.lon[i], f.lat[i], f.lon[i + 1], f.lat[i + 1])
            lon, lat, _ = GEOD.fwd(f.lon[i], f.lat[i], az, length * frac)
            alt = f.alt_m[i] + frac * (f.alt_m[i + 1] - f.alt_m[i])
            return (float(lon), float(lat), float(alt))
    return (f.lon[-1], f.lat[-1], f.alt_m[-1])


def separation(a: Flight, b: Flight, t: float) -> float:
    """Geodesic horizontal distance between two flights at `t`."""
    pa, pb = position(a, t), position(b, t)
    return distance(pa[:2], pb[:2])


def root(fn: Callable[[float], float], lo: float, hi: float, tol: float = 1e-6) -> float:
    """A zero of `fn` in `[lo, hi]` by bisection (`fn(lo)` and `fn(hi)` of opposite signs)."""
    flo = fn(lo)
    if flo * fn(hi) > 0:
        raise ValueError("no sign change")
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        fmid = fn(mid)
        if (fmid < 0) == (flo < 0):
            lo, flo = mid, fmid
        else:
            hi = mid
    return (lo + hi) / 2


def minimum(fn: Callable[[float], float], lo: float, hi: float, tol: float = 1e-6) -> float:
    """Where a unimodal `fn` is least in `[lo, hi]` (golden-section search)."""
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = fn(x1), fn(x2)
    while hi - lo > tol and lo < x1 < x2 < hi:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = fn(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = fn(x2)
    return (lo + hi) / 2


def loss_intervals(
    a: Flight, b: Flight, horizontal_m: float, vertical_m: float, step_s: float = 1.0
) -> list[tuple[float, float]]:
    """The intervals where two flights are < `horizontal_m` and < `vertical_m` apart (slow).

    Samples every `step_s` seconds (and at every position time), then bisects each sign change.
    """
    lo, hi = max(a.start, b.start), min(a.end, b.end)
    if lo >= hi:
        return []

    def g(t: float) -> float:
        pa, pb = position(a, t), position(b, t)
        return max(
            distance(pa[:2], pb[:2]) / horizontal_m - 1.0, abs(pa[2] - pb[2]) / vertical_m - 1.0
        )

    n = max(1, math.ceil((hi - lo) / step_s))
    ts = sorted(
        {lo + (hi - lo) * i / n for i in range(n + 1)}
        | {t for t in (*a.times, *b.times) if lo < t < hi}
    )
    out: list[tuple[float, float]] = []
    begin = lo if g(lo) < 0 else None
    prev_t, prev_g = lo, g(lo)
    for t in ts[1:]:
        gt = g(t)
        if (prev_g < 0) != (gt < 0):
            edge = root(g, prev_t, t, 1e-7)
            if gt < 0:
                begin = edge
            else:
                assert begin is not None
                out.append((begin, edge))
                begin = None
        prev_t, prev_g = t, gt
    if begin is not None:
        out.append((begin, hi))
    return out


def closing_speed(a: Flight, b: Flight, t: float, dt: float = 0.01) -> float:
    """How fast (m/s) the horizontal distance between two flights changes at `t`."""
    t0, t1 = max(t - dt, a.start, b.start), min(t + dt, a.end, b.end)
    return abs(separation(a, b, t1) - separation(a, b, t0)) / (t1 - t0)


# --- reading results -----------------------------------------------------------------------------


def pair(c: Conflict) -> frozenset[ItemRef]:
    """The two items of a conflict, unordered (`air` conflicts may name them either way)."""
    return frozenset((c.a, c.b))


def between(conflicts: Iterable[Conflict], x: Flight | Area, y: Flight | Area) -> list[Conflict]:
    """The conflicts between two items, in time order."""
    want = frozenset((x.ref, y.ref))
    return sorted((c for c in conflicts if pair(c) == want), key=lambda c: c.start)


def canonical(
    conflicts: Iterable[Conflict], ndigits: int | None = None
) -> list[tuple[object, ...]]:
    """Conflicts as sortable tuples without positions, `air` pairs put in a fixed order.

    With `ndigits`, times and distances are rounded, to compare runs that may differ by float
    noise.
    """

    def num(x: float) -> float:
        return x if ndigits is None else round(x, ndigits)

    out = []
    for c in conflicts:
        a, b = c.a, c.b
        if c.kind.value == "air" and b < a:
            a, b = b, a
        cl = c.closest
        out.append(
            (
                c.kind.value,
                a.party,
                a.id,
                b.party,
                b.id,
                num(c.start),
                num(c.end),
                num(cl.time),
                num(cl.horizontal_m),
                num(cl.vertical_m),
            )
        )
    return sorted(out)


def ref(party: str, id: str) -> ItemRef:
    return ItemRef(party, id)
