"""A slow, obviously correct conflict checker that the engine's tests compare against.

Written from the plan-file contract alone (how a flight moves, the agreement, what a conflict is)
and independent of `detente.detect` and `detente.geo`: it only borrows the dataclasses of
`detente.model`. Everything is done the plain way:

- a flight's position at an instant is the WGS84 geodesic from its leg's start, at the fraction of
  the leg's geodesic length equal to the fraction of the leg's time (`pyproj.Geod`), its altitude
  linear in time;
- time is sampled densely (a step of 0.05 to 1 s, finer when the minima are small or the
  aircraft fast), and every sampled instant is judged on its own;
- distances between two aircraft are geodesic (`Geod.inv`); a distance to a shape is 0 inside it,
  else the geodesic distance to its edges, measured in an azimuthal equidistant projection centred
  on the query point (which keeps every distance from its centre) with the edges densified along
  their geodesics; a circle's distance is the distance to its centre less its radius.

For bulk sampling, positions are projected once per pair into an azimuthal equidistant projection
centred on the shape: within the few tens of kilometres where a verdict is decided its distortion
is a few parts per million, far below the tolerance band.

Each verdict carries a *score*: at every sampled instant the slack of each condition of the rule is
divided by its tolerance (`Tolerance`), the instant's score is the largest of these (it is negative
exactly when every condition holds), and the pair's score is the least over the instants. So
`score < 0` is a conflict, `score > 0` is not, and `abs(score) <= 1` means the pair came within the
tolerance band of a threshold (1% of a horizontal minimum, 1 m of a vertical one, 2 s of a window
edge, plus the distance an aircraft covers in half a sampling step) and either answer is accepted.

>>> from detente.model import Agreement, Flight
>>> east = Flight("blue", "e", (0.0, 1.0), (0.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0))
>>> north = Flight("red", "n", (0.5, 0.5), (-0.5, 0.5), (1000.0, 1000.0), (0.0, 1000.0))
>>> [(v.kind.value, v.conflict, v.in_band) for v in verdicts([east, north], Agreement())]
[('air', True, False)]
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import MultiPolygon, Point, Polygon

from detente.model import Agreement, Area, ConflictKind, Flight, Item, ItemRef, Kind, Shape

__all__ = [
    "GEOD",
    "Tolerance",
    "Verdict",
    "distance_to_shape",
    "flight_position",
    "horizontal_distance",
    "judge",
    "separations",
    "shape_distance",
    "verdicts",
]

GEOD = Geod(ellps="WGS84")
_DENSIFY_M = 200.0
_MAX_SAMPLES = 200_000


@dataclass(frozen=True)
class Tolerance:
    """How close to a threshold a pair may come before either verdict is accepted."""

    rel_h: float = 0.01  # of a horizontal minimum
    abs_h: float = 1.0  # metres, added to every horizontal tolerance
    rel_extent: float = 0.005  # of a shape's size, for the "inside" tests (threshold 0)
    abs_v: float = 1.0  # metres
    time_s: float = 2.0  # seconds from a window edge


@dataclass(frozen=True, eq=False)
class Verdict:
    """The oracle's judgement of one pair of items under one rule of SPEC §4.

    `a` and `b` follow the contract's order: the strike is `a` for `strike-*`, the zone is `b`
    for `zone`. `times` / `scores` are the sampled instants of pairs with a flight (empty for two
    areas); `loss` the sampled intervals where every condition held exactly (no tolerance).
    """

    kind: ConflictKind
    a: ItemRef
    b: ItemRef
    score: float
    worst_time: float | None = None
    times: np.ndarray = field(default_factory=lambda: np.empty(0))
    scores: np.ndarray = field(default_factory=lambda: np.empty(0))
    loss: tuple[tuple[float, float], ...] = ()

    @property
    def conflict(self) -> bool:
        return self.score < 0.0

    @property
    def in_band(self) -> bool:
        return abs(self.score) <= 1.0

    @property
    def sure_conflict(self) -> bool:
        return self.score < -1.0

    @property
    def sure_clear(self) -> bool:
        return self.score > 1.0

    def sure_loss_times(self) -> np.ndarray:
        """Sampled instants that are a loss of separation beyond the tolerance band."""
        return self.times[self.scores < -1.0]

    def sure_clear_times(self) -> np.ndarray:
        """Sampled instants that are separated beyond the tolerance band."""
        return self.times[self.scores > 1.0]

    def interval_bounds(self) -> tuple[int, int]:
        """Least and most number of disjoint loss intervals a correct engine may report.

        The least counts groups of sure-loss instants split by a sure-clear instant. The most
        counts runs of instants that are not sure-clear, plus one for each run of in-band
        instants between two sure-loss instants of such a run: there the distance may rise back
        over the minimum for a moment, so an engine may split the interval.
        """
        least, last = 0, "clear"
        for s in self.scores:
            if s < -1.0 and last == "clear":
                least += 1
            if s < -1.0:
                last = "loss"
            elif s > 1.0:
                last = "clear"
        possible = self.scores <= 1.0
        most = int(np.count_nonzero(possible[1:] & ~possible[:-1]) + (possible[:1].sum()))
        previous, gap = "clear", False
        for s in self.scores:
            state = "loss" if s < -1.0 else "clear" if s > 1.0 else "band"
            if state == "band" and previous == "loss":
                gap = True
            elif state == "loss" and gap:
                most += 1
            if state != "band":
                gap = False
            previous = state if state != "band" or previous == "clear" else previous
        return least, most


# --- flights -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _legs(flight: Flight) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.asarray(flight.lon, float), np.asarray(flight.lat, float)
    az, _, length = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    return np.asarray(az, float), np.asarray(length, float)


def flight_position(flight: Flight, t: np.ndarray | float) -> tuple[np.ndarray, ...]:
    """Longitude, latitude and altitude of `flight` at the instants `t` (within its times).

    >>> from detente.model import Flight
    >>> f = Flight("p", "f", (0.0, 2.0), (0.0, 0.0), (0.0, 1000.0), (0.0, 100.0))
    >>> [round(float(x[0]), 6) for x in flight_position(f, 50.0)]
    [1.0, 0.0, 500.0]
    """
    t = np.atleast_1d(np.asarray(t, float))
    times = np.asarray(flight.times, float)
    lon, lat, alt = (np.asarray(x, float) for x in (flight.lon, flight.lat, flight.alt_m))
    az, length = _legs(flight)
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    duration = times[i + 1] - times[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(duration > 0, (t - times[i]) / duration, 0.0)
    frac = np.clip(frac, 0.0, 1.0)
    x, y, _ = GEOD.fwd(lon[i], lat[i], az[i], frac * length[i])
    return np.asarray(x), np.asarray(y), alt[i] + frac * (alt[i + 1] - alt[i])


def _rates(flight: Flight) -> tuple[float, float]:
    """Fastest ground speed and fastest climb or descent of a flight (m/s)."""
    _, length = _legs(flight)
    duration = np.diff(np.asarray(flight.times, float))
    climb = np.abs(np.diff(np.asarray(flight.alt_m, float)))
    moving = duration > 0
    if not moving.any():
        return 0.0, 0.0
    return float((length[moving] / duration[moving]).max()), float(
        (climb[moving] / duration[moving]).max()
    )


def horizontal_distance(f: Flight, g: Flight, t: float) -> float:
    """Geodesic distance between two flights at instant `t`."""
    x1, y1, _ = flight_position(f, t)
    x2, y2, _ = flight_position(g, t)
    return float(GEOD.inv(x1, y1, x2, y2)[2][0])


def separations(f: Flight, other: Item, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical distances from a flight to another item at the instants `times`.

    Against a flight: geodesic distance and altitude difference. Against an area: distance to its
    shape (0 inside, the shape not grown by a strike's reach) and distance to its band (0 inside).
    """
    x, y, z = flight_position(f, times)
    if isinstance(other, Flight):
        x2, y2, z2 = flight_position(other, times)
        return np.asarray(GEOD.inv(x, y, x2, y2)[2]), np.abs(z - z2)
    h = _distances_to_shape(x, y, other.shape, signed=False)
    band = other.band
    return h, np.maximum(_signed_band(z, band.lower_m, band.upper_m), 0.0)


# --- shapes --------------------------------------------------------------------------------


def _aeqd(lon: float, lat: float) -> Transformer:
    return _aeqd_at(float(lon), float(lat))


@functools.lru_cache(maxsize=4096)
def _aeqd_at(lon: float, lat: float) -> Transformer:
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _anchor(shape: Shape) -> tuple[float, float]:
    if shape.center is not None:
        return shape.center
    return shape.polygons[0][0][0]


def _densified(ring: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """A ring's vertices with points added along each geodesic edge, closed."""
    pts = list(ring)
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    lons: list[float] = []
    lats: list[float] = []
    for (x1, y1), (x2, y2) in itertools.pairwise(pts):
        lons.append(x1)
        lats.append(y1)
        length = GEOD.inv(x1, y1, x2, y2)[2]
        n = min(int(length // _DENSIFY_M), 2000)
        if n > 0:
            for x, y in GEOD.npts(x1, y1, x2, y2, n):
                lons.append(x)
                lats.append(y)
    lons.append(pts[0][0])
    lats.append(pts[0][1])
    return np.asarray(lons), np.asarray(lats)


def _projected(shape: Shape, centre: tuple[float, float]) -> shapely.Geometry:
    """The shape in metres of the azimuthal equidistant projection centred on `centre`."""
    tr = _aeqd(*centre)
    if shape.center is not None:
        x, y = tr.transform(*shape.center)
        point = Point(x, y)
        return point.buffer(shape.radius_m, quad_segs=256) if shape.radius_m > 0 else point
    polygons = []
    for rings in shape.polygons:
        projected = [tuple(zip(*tr.transform(*_densified(ring)), strict=True)) for ring in rings]
        polygons.append(Polygon(projected[0], projected[1:]))
    return shapely.union_all(MultiPolygon(polygons).geoms) if len(polygons) > 1 else polygons[0]


def _extent(shape: Shape) -> float:
    """The size of a shape (bounding-box diagonal in metres)."""
    if shape.center is not None:
        return 2.0 * shape.radius_m
    x0, y0, x1, y1 = _projected(shape, _anchor(shape)).bounds
    return math.hypot(x1 - x0, y1 - y0)


def distance_to_shape(lon: float, lat: float, shape: Shape, *, signed: bool = False) -> float:
    """Geodesic distance from a point to a shape: 0 inside (or minus the depth if `signed`)."""
    if shape.center is not None:
        d = float(GEOD.inv(lon, lat, *shape.center)[2]) - shape.radius_m
        return d if signed else max(d, 0.0)
    geom = _projected(shape, (lon, lat))
    origin = Point(0.0, 0.0)
    if geom.contains(origin):
        return -float(geom.boundary.distance(origin)) if signed else 0.0
    return float(geom.distance(origin))


def _distances_to_shape(
    lon: np.ndarray, lat: np.ndarray, shape: Shape, *, signed: bool
) -> np.ndarray:
    """`distance_to_shape` for many points, in one projection centred on the shape."""
    if shape.center is not None:
        c = np.broadcast_to(np.asarray(shape.center, float), (len(lon), 2))
        d = np.asarray(GEOD.inv(lon, lat, c[:, 0], c[:, 1])[2]) - shape.radius_m
        return d if signed else np.maximum(d, 0.0)
    anchor = _anchor(shape)
    geom = _projected(shape, anchor)
    x, y = _aeqd(*anchor).transform(lon, lat)
    points = shapely.points(np.asarray(x), np.asarray(y))
    d = shapely.distance(points, geom)
    if signed:
        inside = d == 0.0
        d[inside] = -shapely.distance(points[inside], geom.boundary)
    return d


def shape_distance(s: Shape, t: Shape, *, signed: bool = False) -> float:
    """Geodesic distance between two shapes, 0 when they meet.

    With `signed`, overlapping shapes give minus the radius of the largest circle inside their
    intersection (how far either may move before they stop overlapping).
    """
    gs, gt = _projected(s, _anchor(s)), _projected(t, _anchor(s))
    if gs.intersects(gt):
        if not signed:
            return 0.0
        parts = [g for g in shapely.get_parts(gs.intersection(gt)) if g.area > 0.0]
        if not parts:
            return 0.0
        return -max(
            float(shapely.maximum_inscribed_circle(g, max(math.sqrt(g.area) * 1e-4, 1e-3)).length)
            for g in parts
        )
    if s.center is not None or t.center is not None:
        circle, other = (s, t) if s.center is not None else (t, s)
        assert circle.center is not None
        return distance_to_shape(*circle.center, other) - circle.radius_m
    # Refine around the nearest point of `s`: a projection centred there keeps distances from it.
    near = shapely.shortest_line(gs, gt).coords[0]
    lon, lat = _aeqd(*_anchor(s)).transform(*near, direction="INVERSE")
    return float(_projected(s, (lon, lat)).distance(_projected(t, (lon, lat))))


# --- rules ---------------------------------------------------------------------------------


def _signed_band(alt: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """How far outside a band an altitude is (negative: how deep inside)."""
    return np.maximum(lower - alt, alt - upper)


def _runs(times: np.ndarray, mask: np.ndarray) -> tuple[tuple[float, float], ...]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return tuple((float(times[s]), float(times[e])) for s, e in zip(starts, ends, strict=True))


def _samples(lo: float, hi: float, speed: float, tol_h: float) -> tuple[np.ndarray, float]:
    """Instants from `lo` to `hi` (both included) and the step between them."""
    dt = min(1.0, max(0.05, 0.5 * tol_h / max(speed, 1e-9)))
    dt = max(dt, (hi - lo) / _MAX_SAMPLES)
    n = max(math.ceil((hi - lo) / dt), 1)
    return np.linspace(lo, hi, n + 1), (hi - lo) / n


def _time_slack(times: np.ndarray, lo: float, hi: float, tol: Tolerance) -> np.ndarray:
    return -np.minimum(times - lo, hi - times) / tol.time_s


def _flight_flight(f: Flight, g: Flight, ag: Agreement, tol: Tolerance) -> Verdict:
    lo, hi = max(f.start, g.start), min(f.end, g.end)
    if hi < lo:
        return Verdict(ConflictKind.AIR, f.ref, g.ref, (lo - hi) / tol.time_s)
    (sf, cf), (sg, cg) = _rates(f), _rates(g)
    base_h = tol.rel_h * ag.horizontal_m + tol.abs_h
    times, dt = _samples(lo, hi, sf + sg, base_h)
    tol_h = base_h + (sf + sg) * dt / 2
    tol_v = tol.abs_v + (cf + cg) * dt / 2
    x1, y1, z1 = flight_position(f, times)
    x2, y2, z2 = flight_position(g, times)
    h = np.asarray(GEOD.inv(x1, y1, x2, y2)[2])
    v = np.abs(z1 - z2)
    scores = np.maximum.reduce(
        [
            (h - ag.horizontal_m) / tol_h,
            (v - ag.vertical_m) / tol_v,
            _time_slack(times, lo, hi, tol),
        ]
    )
    loss = _runs(times, (h < ag.horizontal_m) & (v < ag.vertical_m))
    k = int(np.argmin(scores))
    return Verdict(
        ConflictKind.AIR, f.ref, g.ref, float(scores[k]), float(times[k]), times, scores, loss
    )


def _flight_area(f: Flight, area: Area, ag: Agreement, tol: Tolerance) -> Verdict:
    b = ag.time_buffer_s
    lo, hi = max(f.start, area.start - b), min(f.end, area.end + b)
    if area.kind is Kind.AIRSPACE:
        kind, pair = ConflictKind.AIR, (f.ref, area.ref)
        h_min, v_min, signed = ag.horizontal_m, ag.vertical_m, False
        base_h = tol.rel_h * h_min + tol.abs_h
    elif area.kind is Kind.ZONE:
        kind, pair = ConflictKind.ZONE, (f.ref, area.ref)
        h_min, v_min, signed = 0.0, 0.0, True
        base_h = tol.rel_extent * _extent(area.shape) + tol.abs_h
    else:  # strike
        kind, pair = ConflictKind.STRIKE_AIR, (area.ref, f.ref)
        h_min, v_min, signed = area.reach_m, 0.0, False
        base_h = tol.rel_h * h_min + tol.abs_h
    if hi < lo:
        return Verdict(kind, *pair, (lo - hi) / tol.time_s)
    speed, climb = _rates(f)
    times, dt = _samples(lo, hi, speed, base_h)
    tol_h, tol_v = base_h + speed * dt / 2, tol.abs_v + climb * dt / 2
    x, y, z = flight_position(f, times)
    h = _distances_to_shape(x, y, area.shape, signed=signed)
    if kind is ConflictKind.AIR:
        v = np.maximum(_signed_band(z, area.band.lower_m, area.band.upper_m), 0.0)
    else:
        v = _signed_band(z, area.band.lower_m, area.band.upper_m)
    with np.errstate(invalid="ignore"):
        scores = np.maximum.reduce(
            [(h - h_min) / tol_h, (v - v_min) / tol_v, _time_slack(times, lo, hi, tol)]
        )
    loss = _runs(times, (h < h_min) & (v < v_min))
    k = int(np.argmin(scores))
    return Verdict(kind, *pair, float(scores[k]), float(times[k]), times, scores, loss)


def _area_area(p: Area, q: Area, ag: Agreement, tol: Tolerance) -> Verdict | None:
    kinds = {p.kind, q.kind}
    if p.kind is Kind.STRIKE or q.kind is Kind.STRIKE:
        strike, other = (p, q) if p.kind is Kind.STRIKE else (q, p)
        if other.kind is Kind.GROUND:
            kind = ConflictKind.STRIKE_GROUND
            reach = strike.reach_m + ag.ground_buffer_m
            h = (shape_distance(strike.shape, other.shape) - reach) / (
                tol.rel_h * reach + tol.abs_h
            )
            v = -math.inf
        elif other.kind is Kind.AIRSPACE:
            kind = ConflictKind.STRIKE_AIR
            reach = strike.reach_m
            h = (shape_distance(strike.shape, other.shape) - reach) / (
                tol.rel_h * reach + tol.abs_h
            )
            v = (other.band.lower_m - strike.band.upper_m) / tol.abs_v
        else:
            return None
        pair = (strike.ref, other.ref)
    elif kinds == {Kind.AIRSPACE}:
        kind, pair = ConflictKind.AIR, (p.ref, q.ref)
        h_tol = tol.rel_h * ag.horizontal_m + tol.abs_h
        h = (shape_distance(p.shape, q.shape) - ag.horizontal_m) / h_tol
        v = (p.band.gap_to(q.band) - ag.vertical_m) / tol.abs_v
    elif kinds == {Kind.AIRSPACE, Kind.ZONE}:
        airspace, zone = (p, q) if q.kind is Kind.ZONE else (q, p)
        kind, pair = ConflictKind.ZONE, (airspace.ref, zone.ref)
        h_tol = tol.rel_extent * min(_extent(p.shape), _extent(q.shape)) + tol.abs_h
        h = shape_distance(p.shape, q.shape, signed=True) / h_tol
        lower = max(p.band.lower_m, q.band.lower_m)
        upper = min(p.band.upper_m, q.band.upper_m)
        v = (lower - upper) / tol.abs_v if math.isfinite(lower - upper) else -math.inf
    else:
        return None
    b = ag.time_buffer_s
    overlap = min(p.end, q.end) - max(p.start, q.start) + 2 * b
    score = max(h, v, -overlap / tol.time_s)
    window = (max(p.start, q.start) - b, min(p.end, q.end) + b)
    return Verdict(kind, *pair, score, loss=(window,) if score < 0 else ())


def judge(x: Item, y: Item, agreement: Agreement, tol: Tolerance = Tolerance()) -> Verdict | None:
    """The verdict for one pair, or None when no rule pairs their kinds."""
    if isinstance(x, Flight) and isinstance(y, Flight):
        return _flight_flight(x, y, agreement, tol)
    if isinstance(x, Flight) or isinstance(y, Flight):
        f, area = (x, y) if isinstance(x, Flight) else (y, x)
        assert isinstance(f, Flight) and isinstance(area, Area)
        if area.kind is Kind.GROUND:
            return None
        return _flight_area(f, area, agreement, tol)
    assert isinstance(x, Area) and isinstance(y, Area)
    return _area_area(x, y, agreement, tol)


def verdicts(
    items: Sequence[Item], agreement: Agreement, tol: Tolerance = Tolerance()
) -> list[Verdict]:
    """A verdict for every pair of items that a rule of SPEC §4 pairs."""
    out = []
    for i, x in enumerate(items):
        for y in items[i + 1 :]:
            if x.party == y.party and not agreement.include_own:
                continue
            verdict = judge(x, y, agreement, tol)
            if verdict is not None:
                out.append(verdict)
    return out
