"""Hand-made cases for the `zone`, `strike-ground` and `strike-air` rules, and the pairings of
SPEC §4 that never conflict.

Zones have no buffer: a flight must be strictly inside the shape and the band ("touching is not
overlapping": a flight level exactly at the floor is not inside, nor are shapes sharing an edge).
Strikes use their own `radius_m`, not the air minima, and a flight must be strictly below the
ceiling. For `strike-*` conflicts `a` is the strike; for `zone` conflicts `b` is the zone.
"""

from __future__ import annotations

import itertools

import pytest

import detente
from builders import (
    T0,
    airspace,
    area,
    circle,
    destination,
    diamond,
    diamond_ring,
    distance,
    ground,
    hold,
    multipolygon,
    point,
    polygon,
    position,
    straight,
    strike,
    zone,
)
from detente.model import Agreement, ConflictKind, Flight, Kind

H = Agreement().horizontal_m
REL = 0.005
MS = 0.003


def off(t: float) -> float:
    return t - T0


def dist_tol(speed_ms: float, scale_m: float = H) -> float:
    return REL * scale_m / speed_ms + MS


def only(conflicts: list, kind: ConflictKind):
    assert len(conflicts) == 1, conflicts
    (c,) = conflicts
    assert c.kind is kind
    return c


def north_through(center: tuple[float, float], alt_m: float = 6000.0, party: str = "blue"):
    """A flight north along the meridian of `center`: 100 km south at t=0, over it at t=500."""
    start = destination(center, 180.0, 100_000.0)
    return straight(party, "f", start, 0.0, 200.0, 0, 1000, alt_m)


def north_beside(
    center: tuple[float, float], offset_m: float, alt_m: float = 6000.0, party: str = "blue"
):
    """On the equator: a flight north along the meridian `offset_m` east of `center`."""
    abeam = destination(center, 90.0, offset_m)
    return north_through(abeam, alt_m, party)


# --- flight x zone -------------------------------------------------------------------------------


def test_flight_through_a_zone() -> None:
    center, r = (36.0, 35.0), 20_000.0
    f = north_through(center)
    z = zone("red", "sam", diamond(center, r), 0, 1000, 3000.0, 9000.0)
    c = only(detente.check([f, z]), ConflictKind.ZONE)
    assert c.a == f.ref and c.b == z.ref
    tol = dist_tol(200.0, r)
    # no buffer: the loss is the time inside, from the S vertex to the N vertex
    assert off(c.start) == pytest.approx(500.0 - r / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + r / 200.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(500.0 - r / 200.0, abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)
    lon, lat, _ = position(f, c.closest.time)
    assert distance((c.closest.lon, c.closest.lat), (lon, lat)) < 50.0
    assert c.closest.alt_m == pytest.approx(6000.0)


@pytest.mark.parametrize("offset_m", [100.0, 1000.0, H / 2])
def test_flight_beside_a_zone_is_no_conflict(offset_m: float) -> None:
    """Zones keep no separation minimum: passing 100 m outside is not a conflict."""
    center, r = (36.0, 0.0), 20_000.0
    f = north_beside(center, r + offset_m)
    z = zone("red", "sam", diamond(center, r), 0, 1000)
    assert detente.check([f, z]) == []


@pytest.mark.parametrize(
    ("alt_m", "conflict"),
    [(3000.0, False), (9000.0, False), (3001.0, True), (8999.0, True), (2000.0, False)],
)
def test_zone_band_is_strict(alt_m: float, conflict: bool) -> None:
    center = (36.0, 35.0)
    f = hold("blue", "f", center, alt_m, 0, 100)
    z = zone("red", "sam", diamond(center, 20_000.0), 0, 100, 3000.0, 9000.0)
    assert bool(detente.check([f, z])) == conflict


@pytest.mark.parametrize(
    ("lower", "upper", "alt_m"), [(None, None, 20_000.0), (None, 3000.0, 10.0), (100.0, None, 1e5)]
)
def test_zone_open_bands(lower: float | None, upper: float | None, alt_m: float) -> None:
    center = (36.0, 35.0)
    f = hold("blue", "f", center, alt_m, 0, 100)
    z = zone("red", "nfz", diamond(center, 20_000.0), 0, 100, lower, upper)
    only(detente.check([f, z]), ConflictKind.ZONE)


def test_climbing_through_the_zone_floor() -> None:
    """Holding inside the shape, climbing 1 m/s from 2000 m: inside the band from t=1000."""
    center = (36.0, 35.0)
    f = Flight("blue", "f", (36.0, 36.0), (35.0, 35.0), (2000.0, 4000.0), (T0, T0 + 2000.0))
    z = zone("red", "sam", diamond(center, 20_000.0), 0, 2000, 3000.0, 9000.0)
    c = only(detente.check([f, z]), ConflictKind.ZONE)
    assert off(c.start) == pytest.approx(1000.0, abs=MS)
    assert off(c.end) == pytest.approx(2000.0, abs=MS)
    assert off(c.closest.time) == pytest.approx(1000.0, abs=MS)
    assert c.closest.alt_m == pytest.approx(3000.0, abs=0.01)


def test_zone_window_bounds_the_conflict() -> None:
    center = (36.0, 35.0)
    z = zone("red", "sam", diamond(center, 20_000.0), 500, 800)
    f = hold("blue", "f", center, 6000.0, 0, 1000)
    c = only(detente.check([f, z]), ConflictKind.ZONE)
    assert off(c.start) == pytest.approx(500.0, abs=MS)
    assert off(c.end) == pytest.approx(800.0, abs=MS)
    assert detente.check([hold("blue", "g", center, 6000.0, 800, 1000), z]) == []
    assert detente.check([hold("blue", "g", center, 6000.0, 0, 500), z]) == []


def test_multipolygon_zone_only_second_polygon_hit() -> None:
    near, r = (36.0, 35.0), 20_000.0
    shape = multipolygon(diamond_ring((0.0, 0.0), r), diamond_ring(near, r))
    z = zone("red", "sams", shape, 0, 1000)
    f = north_through(near)
    c = only(detente.check([f, z]), ConflictKind.ZONE)
    tol = dist_tol(200.0, r)
    assert off(c.start) == pytest.approx(500.0 - r / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + r / 200.0, abs=tol)


def test_flight_through_a_point_radius_zone() -> None:
    center, r = (36.0, 35.0), 15_000.0
    z = zone("red", "sam", circle(center, r), 0, 1000)
    c = only(detente.check([north_through(center), z]), ConflictKind.ZONE)
    tol = dist_tol(200.0, r)
    assert off(c.start) == pytest.approx(500.0 - r / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + r / 200.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(500.0 - r / 200.0, abs=tol)


def test_zone_straddling_the_antimeridian() -> None:
    center, r = (180.0, 0.0), 20_000.0
    z = zone("red", "dateline", diamond(center, r), 0, 1000)
    start = (179.5, 0.0)
    f = straight("blue", "f", start, 90.0, 200.0, 0, 1000, 6000.0)
    far = hold("blue", "greenwich", (0.0, 0.0), 6000.0, 0, 1000)
    c = only(detente.check([f, far, z]), ConflictKind.ZONE)
    assert c.a == f.ref
    west = distance(start, destination(center, 270.0, r))
    east = distance(start, destination(center, 90.0, r))
    tol = dist_tol(200.0, east)
    assert off(c.start) == pytest.approx(west / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(east / 200.0, abs=tol)


def test_zone_near_the_pole() -> None:
    """A zone around the pole; a flight over it from lat 89.5 to lat 89.5 across the pole."""
    r = 20_000.0
    z = zone("red", "polar", circle((0.0, 90.0), r), 0, 1000)
    f = Flight("blue", "f", (30.0, 210.0 - 360.0), (89.5, 89.5), (9000.0,) * 2, (T0, T0 + 1000))
    span = distance((30.0, 89.5), (-150.0, 89.5))
    v = span / 1000.0
    c = only(detente.check([f, z]), ConflictKind.ZONE)
    tol = dist_tol(v, r)
    assert off(c.start) == pytest.approx(500.0 - r / v, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + r / v, abs=tol)


# --- airspace x zone -----------------------------------------------------------------------------

WEST = [(30.0, 0.0), (30.1, 0.0), (30.1, 0.1), (30.0, 0.1)]
EAST = [(30.1, 0.0), (30.2, 0.0), (30.2, 0.1), (30.1, 0.1)]
CORNER = [(30.1, 0.1), (30.2, 0.1), (30.2, 0.2), (30.1, 0.2)]
OVERLAP = [(30.09, 0.0), (30.2, 0.0), (30.2, 0.1), (30.09, 0.1)]
INNER = [(30.04, 0.04), (30.06, 0.04), (30.06, 0.06), (30.04, 0.06)]


@pytest.mark.parametrize(
    ("zone_ring", "conflict"),
    [(EAST, False), (CORNER, False), (OVERLAP, True), (INNER, True), (WEST, True)],
    ids=["shared-edge", "shared-corner", "overlap", "inside", "same"],
)
def test_airspace_and_zone_shapes(zone_ring: list, conflict: bool) -> None:
    a = airspace("blue", "roz", polygon(WEST), 0, 100, 1000.0, 2000.0)
    z = zone("red", "sam", polygon(zone_ring), 50, 150, 1500.0, 3000.0)
    found = detente.check([a, z])
    assert bool(found) == conflict
    if conflict:
        c = only(found, ConflictKind.ZONE)
        assert c.a == a.ref and c.b == z.ref
        assert off(c.start) == pytest.approx(50.0, abs=MS)
        assert off(c.end) == pytest.approx(100.0, abs=MS)
        assert off(c.closest.time) == pytest.approx(50.0, abs=MS)


@pytest.mark.parametrize(
    ("lower", "upper", "conflict"),
    [
        (1000.0, 3000.0, False),  # airspace top at the zone floor: touching
        (1000.0, 3001.0, True),
        (9000.0, 9500.0, False),  # airspace floor at the zone top
        (8999.0, 9500.0, True),
        (None, 2999.0, False),
        (None, None, True),
        (9100.0, None, False),
    ],
)
def test_airspace_and_zone_bands(lower: float | None, upper: float | None, conflict: bool) -> None:
    a = airspace("blue", "roz", polygon(WEST), 0, 100, lower, upper)
    z = zone("red", "sam", polygon(WEST), 0, 100, 3000.0, 9000.0)
    assert bool(detente.check([a, z])) == conflict


@pytest.mark.parametrize(("start", "end", "conflict"), [(100, 200, False), (99.9, 200, True)])
def test_airspace_and_zone_windows(start: float, end: float, conflict: bool) -> None:
    a = airspace("blue", "roz", polygon(WEST), 0, 100)
    z = zone("red", "sam", polygon(WEST), start, end)
    assert bool(detente.check([a, z])) == conflict


@pytest.mark.parametrize(("gap_m", "conflict"), [(-1000.0, True), (1000.0, False)])
def test_point_radius_airspace_and_zone(gap_m: float, conflict: bool) -> None:
    """Two circles of 20 km on the equator whose edges overlap by 1 km or are 1 km apart."""
    c1 = (50.0, 0.0)
    c2 = destination(c1, 90.0, 40_000.0 + gap_m)
    a = airspace("blue", "orbit", circle(c1, 20_000.0), 0, 100)
    z = zone("red", "sam", circle(c2, 20_000.0), 0, 100)
    assert bool(detente.check([a, z])) == conflict


def test_airspace_and_zone_across_the_antimeridian() -> None:
    """Both straddle 180: they overlap there, not around the globe."""
    a = airspace("blue", "roz", diamond((180.0, 0.0), 20_000.0), 0, 100)
    near = zone("red", "sam", diamond(destination((180.0, 0.0), 90.0, 30_000.0), 20_000.0), 0, 100)
    far = zone("red", "far", diamond(destination((180.0, 0.0), 90.0, 50_000.0), 20_000.0), 0, 100)
    c = only(detente.check([a, near, far]), ConflictKind.ZONE)
    assert c.b == near.ref


# --- strike x ground -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gap_m", "buffer_m", "conflict"),
    [(2800.0, 0.0, True), (3200.0, 0.0, False), (3200.0, 500.0, True), (3600.0, 500.0, False)],
)
def test_strike_aim_point_and_ground_forces(gap_m: float, buffer_m: float, conflict: bool) -> None:
    """Radius 3000 m; ground forces in a 2 km circle whose edge is `gap_m` from the aim point."""
    aim = (38.0, 0.0)
    s = strike("blue", "s1", point(aim), 0, 600, radius_m=3000.0)
    g = ground("red", "platoon", circle(destination(aim, 90.0, gap_m + 2000.0), 2000.0), 300, 900)
    found = detente.check([s, g], Agreement(ground_buffer_m=buffer_m))
    assert bool(found) == conflict
    if conflict:
        c = only(found, ConflictKind.STRIKE_GROUND)
        assert c.a == s.ref and c.b == g.ref
        assert off(c.start) == pytest.approx(300.0, abs=MS)
        assert off(c.end) == pytest.approx(600.0, abs=MS)
        assert off(c.closest.time) == pytest.approx(300.0, abs=MS)
        assert 0.0 <= c.closest.horizontal_m <= gap_m * (1 + REL)


@pytest.mark.parametrize(("gap_m", "conflict"), [(4800.0, True), (5200.0, False)])
def test_strike_area_and_ground_polygon(gap_m: float, conflict: bool) -> None:
    """Two diamonds vertex to vertex on the equator, `gap_m` apart; radius 5000 m."""
    target = (38.0, 0.0)
    r = 10_000.0
    s = strike("blue", "s1", diamond(target, r), 0, 600, radius_m=5000.0)
    other = destination(target, 90.0, 2 * r + gap_m)
    g = ground("red", "company", diamond(other, r), 0, 600)
    assert bool(detente.check([s, g])) == conflict


def test_ground_forces_inside_a_strike_area() -> None:
    target = (38.0, 0.0)
    s = strike("blue", "s1", diamond(target, 10_000.0), 0, 600, radius_m=100.0)
    g = ground("red", "squad", point(target), 0, 600)
    c = only(detente.check([g, s]), ConflictKind.STRIKE_GROUND)
    assert c.a == s.ref and c.b == g.ref
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize(("start", "end", "conflict"), [(600, 900, False), (599.9, 900, True)])
def test_strike_and_ground_windows(start: float, end: float, conflict: bool) -> None:
    aim = (38.0, 0.0)
    s = strike("blue", "s1", point(aim), 0, 600, radius_m=3000.0)
    g = ground("red", "platoon", circle(aim, 500.0), start, end)
    assert bool(detente.check([s, g])) == conflict


def test_strike_and_ground_across_the_antimeridian() -> None:
    s = strike("blue", "s1", point((179.99, 0.0)), 0, 600, radius_m=3000.0)
    g = ground("red", "platoon", point((-179.99, 0.0)), 0, 600)
    assert distance((179.99, 0.0), (-179.99, 0.0)) < 3000.0
    only(detente.check([s, g]), ConflictKind.STRIKE_GROUND)


# --- strike x flight -----------------------------------------------------------------------------


def test_flight_through_a_strike() -> None:
    aim, radius = (38.0, 35.0), 5000.0
    s = strike("blue", "s1", point(aim), 0, 1000, radius_m=radius)
    f = north_through(aim, 10_000.0, party="red")
    c = only(detente.check([f, s]), ConflictKind.STRIKE_AIR)
    assert c.a == s.ref and c.b == f.ref
    tol = dist_tol(200.0, radius)
    assert off(c.start) == pytest.approx(500.0 - radius / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + radius / 200.0, abs=tol)
    assert off(c.start) <= off(c.closest.time) <= off(c.end)


@pytest.mark.parametrize(
    ("offset_m", "conflict"), [(4900.0, True), (5100.0, False), (6000.0, False), (H - 100, False)]
)
def test_flight_beside_a_strike(offset_m: float, conflict: bool) -> None:
    """The strike's radius (5 km) counts, not the air minimum (9260 m)."""
    aim = (38.0, 0.0)
    s = strike("blue", "s1", point(aim), 0, 1000, radius_m=5000.0)
    f = north_beside(aim, offset_m, 10_000.0, party="red")
    assert bool(detente.check([s, f])) == conflict


@pytest.mark.parametrize(
    ("ceiling", "alt_m", "conflict"),
    [
        (None, 15_000.0, False),  # exactly at the default ceiling
        (None, 14_999.0, True),
        (None, 15_100.0, False),  # no vertical minimum above the ceiling
        (8000.0, 8000.0, False),
        (8000.0, 7999.0, True),
        (8000.0, 10_000.0, False),
        (None, 50.0, True),
    ],
)
def test_strike_ceiling(ceiling: float | None, alt_m: float, conflict: bool) -> None:
    aim = (38.0, 35.0)
    kw = {} if ceiling is None else {"ceiling_m": ceiling}
    s = strike("blue", "s1", point(aim), 0, 100, radius_m=5000.0, **kw)
    f = hold("red", "f", aim, alt_m, 0, 100)
    assert bool(detente.check([s, f])) == conflict


def test_climbing_through_a_strike_ceiling() -> None:
    aim = (38.0, 35.0)
    s = strike("blue", "s1", point(aim), 0, 2000, radius_m=5000.0)
    f = Flight("red", "f", (38.0, 38.0), (35.0, 35.0), (14_000.0, 16_000.0), (T0, T0 + 2000.0))
    c = only(detente.check([s, f]), ConflictKind.STRIKE_AIR)
    assert off(c.start) == pytest.approx(0.0, abs=MS)
    assert off(c.end) == pytest.approx(1000.0, abs=MS)


def test_strike_window_clips_the_loss() -> None:
    aim = (38.0, 35.0)
    s = strike("blue", "s1", point(aim), 495, 505, radius_m=5000.0)
    f = north_through(aim, 10_000.0, party="red")
    c = only(detente.check([s, f]), ConflictKind.STRIKE_AIR)
    assert off(c.start) == pytest.approx(495.0, abs=MS)
    assert off(c.end) == pytest.approx(505.0, abs=MS)
    early = strike("blue", "s2", point(aim), 0, 400, radius_m=5000.0)
    assert detente.check([early, f]) == []
    touching = strike("blue", "s3", point(aim), 1000, 1100, radius_m=50_000.0)
    assert detente.check([touching, f]) == []


def test_flight_through_a_strike_area_polygon() -> None:
    """A 10 km diamond, radius 2 km: the loss runs from 12 km before the centre to 12 km after."""
    target, r, radius = (38.0, 35.0), 10_000.0, 2000.0
    s = strike("blue", "s1", diamond(target, r), 0, 1000, radius_m=radius)
    f = north_through(target, 3000.0, party="red")
    c = only(detente.check([s, f]), ConflictKind.STRIKE_AIR)
    tol = dist_tol(200.0, r + radius)
    assert off(c.start) == pytest.approx(500.0 - (r + radius) / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + (r + radius) / 200.0, abs=tol)


def test_flight_over_a_strike_near_the_pole() -> None:
    aim = (0.0, 89.9)
    s = strike("blue", "s1", point(aim), 0, 1000, radius_m=3000.0)
    f = Flight("red", "f", (0.0, 180.0), (89.0, 89.0), (9000.0,) * 2, (T0, T0 + 1000.0))
    v = distance((0.0, 89.0), (180.0, 89.0)) / 1000.0
    at_aim = distance((0.0, 89.0), aim) / v
    c = only(detente.check([s, f]), ConflictKind.STRIKE_AIR)
    tol = dist_tol(v, 3000.0)
    assert off(c.start) == pytest.approx(at_aim - 3000.0 / v, abs=tol)
    assert off(c.end) == pytest.approx(at_aim + 3000.0 / v, abs=tol)


# --- strike x airspace ---------------------------------------------------------------------------


@pytest.mark.parametrize(("gap_m", "conflict"), [(4800.0, True), (5200.0, False)])
def test_strike_beside_an_airspace(gap_m: float, conflict: bool) -> None:
    """The airspace's west vertex is `gap_m` east of the aim point on the equator."""
    aim, r = (38.0, 0.0), 20_000.0
    s = strike("blue", "s1", point(aim), 0, 600, radius_m=5000.0)
    a = airspace("red", "orbit", diamond(destination(aim, 90.0, gap_m + r), r), 300, 900)
    found = detente.check([a, s])
    assert bool(found) == conflict
    if conflict:
        c = only(found, ConflictKind.STRIKE_AIR)
        assert c.a == s.ref and c.b == a.ref
        assert off(c.start) == pytest.approx(300.0, abs=MS)
        assert off(c.end) == pytest.approx(600.0, abs=MS)
        assert off(c.closest.time) == pytest.approx(300.0, abs=MS)


@pytest.mark.parametrize(
    ("ceiling", "lower", "upper", "conflict"),
    [
        (None, 15_000.0, None, False),  # band starts at the ceiling
        (None, 14_000.0, None, True),
        (None, 16_000.0, 20_000.0, False),
        (None, None, 1000.0, True),
        (8000.0, 8000.0, 9000.0, False),
        (8000.0, 2000.0, 3000.0, True),
        (8000.0, 7999.0, 9000.0, True),
    ],
)
def test_strike_ceiling_and_airspace_band(
    ceiling: float | None, lower: float | None, upper: float | None, conflict: bool
) -> None:
    aim = (38.0, 35.0)
    kw = {} if ceiling is None else {"ceiling_m": ceiling}
    s = strike("blue", "s1", point(aim), 0, 100, radius_m=5000.0, **kw)
    a = airspace("red", "orbit", circle(aim, 20_000.0), 0, 100, lower, upper)
    assert bool(detente.check([s, a])) == conflict


@pytest.mark.parametrize(("start", "end", "conflict"), [(100, 200, False), (-100, 0, False)])
def test_strike_and_airspace_windows_that_touch(start: float, end: float, conflict: bool) -> None:
    aim = (38.0, 35.0)
    s = strike("blue", "s1", point(aim), 0, 100, radius_m=5000.0)
    a = airspace("red", "orbit", circle(aim, 20_000.0), start, end)
    assert bool(detente.check([s, a])) == conflict


# --- the pairings that never conflict ------------------------------------------------------------

CENTER = (44.0, 33.0)
NEVER = [
    (Kind.GROUND, Kind.GROUND),
    (Kind.ZONE, Kind.ZONE),
    (Kind.FLIGHT, Kind.GROUND),
    (Kind.AIRSPACE, Kind.GROUND),
    (Kind.STRIKE, Kind.STRIKE),
    (Kind.STRIKE, Kind.ZONE),
    (Kind.GROUND, Kind.ZONE),
]
CONFLICTING = {
    frozenset({Kind.FLIGHT}): ConflictKind.AIR,
    frozenset({Kind.FLIGHT, Kind.AIRSPACE}): ConflictKind.AIR,
    frozenset({Kind.AIRSPACE}): ConflictKind.AIR,
    frozenset({Kind.FLIGHT, Kind.ZONE}): ConflictKind.ZONE,
    frozenset({Kind.AIRSPACE, Kind.ZONE}): ConflictKind.ZONE,
    frozenset({Kind.STRIKE, Kind.GROUND}): ConflictKind.STRIKE_GROUND,
    frozenset({Kind.STRIKE, Kind.FLIGHT}): ConflictKind.STRIKE_AIR,
    frozenset({Kind.STRIKE, Kind.AIRSPACE}): ConflictKind.STRIKE_AIR,
}


def colocated(kind: Kind, party: str, id: str):
    """An item of `kind` at CENTER, over [0, 600], at or around 3000 m: as close as can be."""
    if kind is Kind.FLIGHT:
        return hold(party, id, CENTER, 3000.0, 0, 600)
    if kind is Kind.STRIKE:
        return strike(party, id, point(CENTER), 0, 600, radius_m=10_000.0)
    return area(kind, party, id, circle(CENTER, 10_000.0), 0, 600)


def test_the_pairing_tables_cover_every_pair_of_kinds() -> None:
    pairs = {frozenset(p) for p in itertools.combinations_with_replacement(Kind, 2)}
    never = {frozenset(p) for p in NEVER}
    assert never.isdisjoint(CONFLICTING)
    assert never | set(CONFLICTING) == pairs
    assert len(CONFLICTING) == 8


@pytest.mark.parametrize(("k1", "k2"), NEVER, ids=[f"{a}-{b}" for a, b in NEVER])
def test_pairings_that_never_conflict(k1: Kind, k2: Kind) -> None:
    items = [colocated(k1, "blue", "x"), colocated(k2, "red", "y")]
    assert detente.check(items) == []
    assert detente.check(items, Agreement(ground_buffer_m=1e5, time_buffer_s=3600.0)) == []


@pytest.mark.parametrize(
    ("k1", "k2"),
    [tuple(sorted(p)) * (2 // len(p)) for p in CONFLICTING],
    ids=["-".join(sorted(p)) for p in CONFLICTING],
)
def test_colocated_items_conflict_with_the_right_kind(k1: Kind, k2: Kind) -> None:
    x, y = colocated(k1, "blue", "x"), colocated(k2, "red", "y")
    c = only(detente.check([x, y]), CONFLICTING[frozenset({k1, k2})])
    if c.kind in (ConflictKind.STRIKE_AIR, ConflictKind.STRIKE_GROUND):
        strike_ref = x.ref if k1 is Kind.STRIKE else y.ref
        assert c.a == strike_ref
    if c.kind is ConflictKind.ZONE:
        zone_ref = x.ref if k1 is Kind.ZONE else y.ref
        assert c.b == zone_ref


def test_a_scene_of_every_kind_reports_exactly_the_conflicting_pairings() -> None:
    blue = [colocated(k, "blue", f"b-{k}") for k in Kind]
    red = [colocated(k, "red", f"r-{k}") for k in Kind]
    found = detente.check(blue + red)
    kinds = {item.ref: item.kind for item in blue + red}
    expected = []
    for x in blue:
        for y in red:
            kind = CONFLICTING.get(frozenset({x.kind, y.kind}))
            if kind is None:
                continue
            a, b = x.ref, y.ref
            if Kind.STRIKE in (x.kind, y.kind) and y.kind is Kind.STRIKE:
                a, b = b, a
            if kind is ConflictKind.ZONE and x.kind is Kind.ZONE:
                a, b = b, a
            expected.append((kind, a, b))
    # 8 pairings; the 6 of two different kinds occur twice (blue x, red y and blue y, red x)
    assert len(found) == len(expected) == 2 * 6 + 2
    normal = []
    for c in found:
        a, b = c.a, c.b
        if c.kind is ConflictKind.AIR and a.party == "red":
            a, b = b, a
        normal.append((c.kind, a, b))
    assert sorted(normal, key=repr) == sorted(expected, key=repr)
    assert all(kinds[c.a] is Kind.STRIKE for c in found if c.kind.value.startswith("strike"))
    assert all(kinds[c.b] is Kind.ZONE for c in found if c.kind is ConflictKind.ZONE)
