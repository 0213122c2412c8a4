"""Hand-made cases for the `air` rules: flight x flight, flight x airspace, airspace x airspace.

Every expected interval is computed in the test from the geometry: along a meridian or the equator
geodesic distances add up, so the instants where a distance crosses the minimum are closed-form;
elsewhere a slow oracle (pyproj, bisection) gives them. Interval ends bounded by a distance are
allowed the spec's 0.5% of the minimum, converted to time by the closing speed; ends bounded by an
altitude or a window are exact to a few milliseconds.
"""

from __future__ import annotations

import math

import pytest

import detente
from builders import (
    T0,
    airspace,
    circle,
    closing_speed,
    destination,
    diamond,
    diamond_ring,
    distance,
    hold,
    loss_intervals,
    multipolygon,
    polygon,
    position,
    straight,
)
from detente.model import Agreement, ConflictKind, Flight

H = Agreement().horizontal_m
V = Agreement().vertical_m
REL = 0.005  # the accepted error on any distance (SPEC §2)
MS = 0.003  # a few milliseconds: interval ends set by an altitude or a window


def off(t: float) -> float:
    """Seconds after T0."""
    return t - T0


def dist_tol(speed_ms: float, scale_m: float = H) -> float:
    """0.5% of a distance, as time at `speed_ms`."""
    return REL * scale_m / speed_ms + MS


def only(conflicts: list, kind: ConflictKind = ConflictKind.AIR):
    assert len(conflicts) == 1, conflicts
    (c,) = conflicts
    assert c.kind is kind
    return c


def assert_flight_position(c, f: Flight, tol_m: float = 50.0) -> None:
    """`closest.position` is where `f` is at `closest.time`."""
    lon, lat, alt = position(f, c.closest.time)
    assert distance((c.closest.lon, c.closest.lat), (lon, lat)) < tol_m
    assert c.closest.alt_m == pytest.approx(alt, abs=1.0)


# --- flight x flight -----------------------------------------------------------------------------


@pytest.mark.parametrize(("dz", "conflict"), [(150.0, True), (304.7, True), (304.9, False)])
def test_head_on_on_a_meridian(dz: float, conflict: bool) -> None:
    v, gap = 200.0, 100_000.0
    start = (30.0, -0.5)
    a = straight("blue", "a", start, 0.0, v, 0, 500, 6000.0)
    b = straight("red", "b", destination(start, 0.0, gap), 180.0, v, 0, 500, 6000.0 + dz)
    found = detente.check([a, b])
    if not conflict:
        assert found == []
        return
    c = only(found)
    assert {c.a, c.b} == {a.ref, b.ref}
    tol = dist_tol(2 * v)
    assert off(c.start) == pytest.approx((gap - H) / (2 * v), abs=tol)
    assert off(c.end) == pytest.approx((gap + H) / (2 * v), abs=tol)
    assert off(c.closest.time) == pytest.approx(gap / (2 * v), abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=REL * H)
    assert c.closest.vertical_m == pytest.approx(dz, abs=1e-6)
    meet = destination(start, 0.0, gap / 2)
    assert distance((c.closest.lon, c.closest.lat), meet) < REL * H


def test_overtaking_is_a_long_loss() -> None:
    """250 m/s catching 240 m/s from 20 km behind: closing at 10 m/s, a loss of ~31 minutes."""
    start = (20.0, -4.0)
    ahead = 20_000.0
    a = straight("blue", "fast", start, 0.0, 250.0, 0, 3500, 9000.0)
    b = straight("red", "slow", destination(start, 0.0, ahead), 0.0, 240.0, 0, 3500, 9000.0)
    c = only(detente.check([a, b]))
    tol = dist_tol(10.0)
    assert off(c.start) == pytest.approx((ahead - H) / 10.0, abs=tol)
    assert off(c.end) == pytest.approx((ahead + H) / 10.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(ahead / 10.0, abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=REL * H)
    assert c.closest.vertical_m == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("dz", "conflict"), [(304.7, True), (304.9, False)])
def test_crossing_at_right_angles_vertical_miss(dz: float, conflict: bool) -> None:
    """East along the equator and north along a meridian, both over the crossing at t=300."""
    x = (40.0, 0.0)
    a = straight("blue", "east", destination(x, 270.0, 60_000.0), 90.0, 200.0, 0, 600, 9000.0)
    b = straight("red", "north", destination(x, 180.0, 45_000.0), 0.0, 150.0, 0, 600, 9000.0 + dz)
    found = detente.check([a, b])
    if not conflict:
        assert found == []
        return
    c = only(found)
    ((lo, hi),) = loss_intervals(a, b, H, V)
    assert off(c.start) == pytest.approx(off(lo), abs=dist_tol(closing_speed(a, b, lo)))
    assert off(c.end) == pytest.approx(off(hi), abs=dist_tol(closing_speed(a, b, hi)))
    assert off(c.closest.time) == pytest.approx(300.0, abs=dist_tol(250.0))
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=REL * H)
    assert c.closest.vertical_m == pytest.approx(dz, abs=1e-6)


@pytest.mark.parametrize(
    ("low_ft", "high_ft"), [(17_000, 18_000), (25_000, 26_000), (33_000, 34_000), (39_000, 40_000)]
)
def test_adjacent_flight_levels_are_separated(low_ft: int, high_ft: int) -> None:
    """Levels 1000 ft apart are exactly at the vertical minimum, whatever the rounding in metres."""
    x = (40.0, 0.0)
    low, high = low_ft * 0.3048, high_ft * 0.3048
    # In binary floating point FL390 to FL400 comes out as 304.7999999999993 m.
    a = straight("blue", "east", destination(x, 270.0, 60_000.0), 90.0, 200.0, 0, 600, low)
    b = straight("red", "north", destination(x, 180.0, 45_000.0), 0.0, 150.0, 0, 600, high)
    assert detente.check([a, b]) == []
    c = straight("red", "north", destination(x, 180.0, 45_000.0), 0.0, 150.0, 0, 600, high - 0.01)
    assert only(detente.check([a, c])).closest.vertical_m == pytest.approx(304.79, abs=1e-6)


def test_climbing_through_a_holding_aircraft_level() -> None:
    """2 km apart all along; the loss is bounded by the altitude difference reaching 304.8 m."""
    p = (50.0, 10.0)
    a = hold("blue", "level", p, 6000.0, 0, 2000)
    b = Flight(
        party="red",
        id="climber",
        lon=(destination(p, 90.0, 2000.0)[0],) * 2,
        lat=(destination(p, 90.0, 2000.0)[1],) * 2,
        alt_m=(5000.0, 7000.0),
        times=(T0, T0 + 2000.0),
    )
    c = only(detente.check([a, b]))
    assert off(c.start) == pytest.approx(1000.0 - V, abs=MS)
    assert off(c.end) == pytest.approx(1000.0 + V, abs=MS)
    # the horizontal distance never changes: the closest instant is the first one
    assert off(c.closest.time) == pytest.approx(1000.0 - V, abs=MS)
    assert c.closest.horizontal_m == pytest.approx(2000.0, rel=REL)
    assert c.closest.vertical_m == pytest.approx(V, abs=0.01)


def test_climbing_in_formation_is_bounded_by_the_vertical_condition() -> None:
    """Same meridian and speed, 2 km in trail; one climbs 1 m/s through the other's level."""
    start = (-70.0, -30.0)
    lead = destination(start, 0.0, 2000.0)
    a = straight("blue", "level", start, 0.0, 200.0, 0, 2000, 6000.0)
    b = straight("red", "climb", lead, 0.0, 200.0, 0, 2000, (5000.0, 7000.0))
    c = only(detente.check([a, b]))
    assert off(c.start) == pytest.approx(1000.0 - V, abs=MS)
    assert off(c.end) == pytest.approx(1000.0 + V, abs=MS)
    assert off(c.start) <= off(c.closest.time) <= off(c.end)
    assert c.closest.horizontal_m == pytest.approx(2000.0, rel=REL)


def test_a_tenth_of_a_second_loss_by_a_fast_climb() -> None:
    """Climbing 6096 m/s through the other's level: 609.6 m of band crossed in 0.1 s."""
    p = (10.0, 45.0)
    a = hold("blue", "level", p, 6000.0, 0, 1)
    q = destination(p, 0.0, 1000.0)
    b = Flight("red", "rocket", (q[0], q[0]), (q[1], q[1]), (3000.0, 9096.0), (T0, T0 + 1.0))
    c = only(detente.check([a, b]))
    lo, hi = (6000.0 - V - 3000.0) / 6096.0, (6000.0 + V - 3000.0) / 6096.0
    assert hi - lo == pytest.approx(0.1)
    assert off(c.start) == pytest.approx(lo, abs=MS)
    assert off(c.end) == pytest.approx(hi, abs=MS)
    assert c.closest.horizontal_m == pytest.approx(1000.0, rel=REL)


def test_a_tenth_of_a_second_overlap_of_windows() -> None:
    p = (10.0, 45.0)
    a = hold("blue", "a", p, 6000.0, 0, 100)
    b = hold("red", "b", destination(p, 45.0, 1000.0), 6000.0, 99.9, 200)
    c = only(detente.check([a, b]))
    assert off(c.start) == pytest.approx(99.9, abs=MS)
    assert off(c.end) == pytest.approx(100.0, abs=MS)
    assert off(c.closest.time) == pytest.approx(99.9, abs=MS)


def test_windows_that_only_touch_do_not_conflict() -> None:
    p = (10.0, 45.0)
    a = hold("blue", "a", p, 6000.0, 0, 100)
    b = hold("red", "b", destination(p, 45.0, 1000.0), 6000.0, 100, 200)
    assert detente.check([a, b]) == []


def test_two_holds_5_km_apart_conflict_for_the_whole_overlap() -> None:
    p = (36.0, 35.0)
    a = hold("blue", "a", p, 7000.0, 0, 600)
    b = hold("red", "b", destination(p, 120.0, 5000.0), 7100.0, 300, 900)
    c = only(detente.check([a, b]))
    assert off(c.start) == pytest.approx(300.0, abs=MS)
    assert off(c.end) == pytest.approx(600.0, abs=MS)
    assert off(c.closest.time) == pytest.approx(300.0, abs=MS)
    assert c.closest.horizontal_m == pytest.approx(5000.0, rel=REL)
    assert c.closest.vertical_m == pytest.approx(100.0, abs=1e-6)


def test_fly_hold_fly_over_a_holding_aircraft_is_one_conflict() -> None:
    """Arrive over the other at t=500, hold there until t=800, fly on: one loss, worst from 500."""
    p = (12.0, -33.0)
    south, north = destination(p, 180.0, 100_000.0), destination(p, 0.0, 100_000.0)
    a = Flight(
        "blue",
        "a",
        (south[0], p[0], p[0], north[0]),
        (south[1], p[1], p[1], north[1]),
        (5000.0,) * 4,
        (T0, T0 + 500.0, T0 + 800.0, T0 + 1300.0),
    )
    b = hold("red", "b", p, 5100.0, 0, 1300)
    c = only(detente.check([a, b]))
    tol = dist_tol(200.0)
    assert off(c.start) == pytest.approx(500.0 - H / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(800.0 + H / 200.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(500.0, abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=REL * H)
    assert c.closest.vertical_m == pytest.approx(100.0, abs=1e-6)


def test_holds_just_outside_the_minimum_do_not_conflict() -> None:
    p = (36.0, 35.0)
    a = hold("blue", "a", p, 7000.0, 0, 600)
    b = hold("red", "b", destination(p, 120.0, H * (1 + 2 * REL)), 7000.0, 0, 600)
    assert detente.check([a, b]) == []


def test_passing_a_hold_twice_gives_two_conflicts() -> None:
    """Out and back along a meridian over a holding aircraft: two disjoint losses."""
    p = (5.0, 50.0)
    b = hold("red", "hold", p, 8000.0, 0, 2000)
    south, north = destination(p, 180.0, 100_000.0), destination(p, 0.0, 100_000.0)
    a = Flight(
        "blue",
        "out-and-back",
        (south[0], north[0], south[0]),
        (south[1], north[1], south[1]),
        (8000.0, 8000.0, 8000.0),
        (T0, T0 + 1000.0, T0 + 2000.0),
    )
    found = sorted(detente.check([a, b]), key=lambda c: c.start)
    assert len(found) == 2
    tol = dist_tol(200.0)
    for c, leg in zip(found, (0.0, 1000.0), strict=True):
        assert c.kind is ConflictKind.AIR
        assert {c.a, c.b} == {a.ref, b.ref}
        assert off(c.start) == pytest.approx(leg + (100_000.0 - H) / 200.0, abs=tol)
        assert off(c.end) == pytest.approx(leg + (100_000.0 + H) / 200.0, abs=tol)
        assert off(c.closest.time) == pytest.approx(leg + 500.0, abs=tol)
        assert c.closest.horizontal_m == pytest.approx(0.0, abs=REL * H)


def test_weaving_across_a_track_twice_gives_two_conflicts() -> None:
    """One flies north; the other zigzags 20 km either side of it, crossing its track twice."""
    b = straight("red", "straight", (30.0, 0.0), 0.0, 200.0, 0, 600, 6000.0)
    side = [
        destination(position(b, T0 + t)[:2], az, 20_000.0)
        for t, az in ((0, 270.0), (300, 90.0), (600, 270.0))
    ]
    a = Flight(
        "blue",
        "weave",
        tuple(p[0] for p in side),
        tuple(p[1] for p in side),
        (6000.0, 6000.0, 6000.0),
        (T0, T0 + 300.0, T0 + 600.0),
    )
    expected = loss_intervals(a, b, H, V)
    assert len(expected) == 2
    found = sorted(detente.check([a, b]), key=lambda c: c.start)
    assert len(found) == 2
    for c, (lo, hi) in zip(found, expected, strict=True):
        assert off(c.start) == pytest.approx(off(lo), abs=dist_tol(closing_speed(a, b, lo)))
        assert off(c.end) == pytest.approx(off(hi), abs=dist_tol(closing_speed(a, b, hi)))
    assert found[0].end < found[1].start


def test_head_on_across_the_antimeridian() -> None:
    """179.9E to 179.9W and back: they meet over 180, not over Greenwich."""
    east, west = (179.9, 0.0), (-179.9, 0.0)
    span = distance(east, west)
    assert span < 25_000.0
    v = 100.0
    duration = span / v
    a = Flight("blue", "eastbound", (179.9, -179.9), (0.0, 0.0), (5000.0,) * 2, (T0, T0 + duration))
    b = Flight("red", "westbound", (-179.9, 179.9), (0.0, 0.0), (5000.0,) * 2, (T0, T0 + duration))
    greenwich = hold("green", "greenwich", (0.0, 0.0), 5000.0, 0, duration)
    found = detente.check([a, b, greenwich])
    c = only(found)
    assert {c.a, c.b} == {a.ref, b.ref}
    tol = dist_tol(2 * v)
    assert off(c.start) == pytest.approx((span - H) / (2 * v), abs=tol)
    assert off(c.end) == pytest.approx((span + H) / (2 * v), abs=tol)
    assert off(c.closest.time) == pytest.approx(duration / 2, abs=tol)
    assert abs(c.closest.lon) == pytest.approx(180.0, abs=0.01)
    assert c.closest.lat == pytest.approx(0.0, abs=0.01)


def test_head_on_over_the_north_pole() -> None:
    """From lat 89.5 on meridian 0 over the pole to lat 89.5 on meridian 180, and back."""
    p, q = (0.0, 89.5), (180.0, 89.5)
    span = distance(p, q)
    assert span == pytest.approx(2 * distance(p, (0.0, 90.0)))
    v = 200.0
    duration = span / v
    a = Flight("blue", "north", (p[0], q[0]), (p[1], q[1]), (9000.0,) * 2, (T0, T0 + duration))
    b = Flight("red", "south", (q[0], p[0]), (q[1], p[1]), (9000.0,) * 2, (T0, T0 + duration))
    c = only(detente.check([a, b]))
    tol = dist_tol(2 * v)
    assert off(c.start) == pytest.approx((span - H) / (2 * v), abs=tol)
    assert off(c.end) == pytest.approx((span + H) / (2 * v), abs=tol)
    assert off(c.closest.time) == pytest.approx(duration / 2, abs=tol)
    assert c.closest.lat == pytest.approx(90.0, abs=0.01)


@pytest.mark.parametrize(("delay_s", "conflict"), [(0.0, True), (200.0, False)])
def test_crossing_at_right_angles_over_the_pole(delay_s: float, conflict: bool) -> None:
    """Meridian 0->180 and meridian 90->-90 over the pole; 200 s late they stay 28 km apart."""
    v = 200.0
    span = distance((0.0, 89.5), (180.0, 89.5))
    duration = span / v
    a = Flight("blue", "a", (0.0, 180.0), (89.5, 89.5), (9000.0,) * 2, (T0, T0 + duration))
    b = Flight(
        "red",
        "b",
        (90.0, -90.0),
        (89.5, 89.5),
        (9000.0,) * 2,
        (T0 + delay_s, T0 + delay_s + duration),
    )
    expected = loss_intervals(a, b, H, V)
    found = detente.check([a, b])
    assert bool(expected) == conflict
    if not conflict:
        assert found == []
        return
    c = only(found)
    ((lo, hi),) = expected
    assert off(c.start) == pytest.approx(off(lo), abs=dist_tol(closing_speed(a, b, lo)))
    assert off(c.end) == pytest.approx(off(hi), abs=dist_tol(closing_speed(a, b, hi)))
    assert off(c.closest.time) == pytest.approx(duration / 2, abs=dist_tol(v))


def test_near_the_pole_a_hold_and_a_flight_along_the_parallel() -> None:
    """At lat 89.5 a degree of longitude is under 1 km: 5 degrees apart is still a loss."""
    p = (0.0, 89.5)
    q = (5.0, 89.5)
    assert distance(p, q) < H / 1.5
    a = hold("blue", "a", p, 9000.0, 0, 100)
    b = hold("red", "b", q, 9000.0, 0, 100)
    c = only(detente.check([a, b]))
    assert c.closest.horizontal_m == pytest.approx(distance(p, q), rel=REL)


# --- flight x airspace ---------------------------------------------------------------------------


def _through_diamond(center: tuple[float, float], radius_m: float, alt_m: float = 6000.0):
    """A flight north along the meridian of `center`, 100 km south of it at t=0, 200 m/s."""
    start = destination(center, 180.0, 100_000.0)
    f = straight("blue", "f", start, 0.0, 200.0, 0, 1000, alt_m)
    entry = (100_000.0 - radius_m) / 200.0
    leave = (100_000.0 + radius_m) / 200.0
    return f, entry, leave


def test_flight_through_an_airspace() -> None:
    center, r = (30.0, 0.5), 20_000.0
    f, entry, leave = _through_diamond(center, r)
    block = airspace("red", "roz", diamond(center, r), -100, 2000, 5000.0, 7000.0)
    c = only(detente.check([f, block]))
    assert {c.a, c.b} == {f.ref, block.ref}
    tol = dist_tol(200.0)
    assert off(c.start) == pytest.approx(entry - H / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(leave + H / 200.0, abs=tol)
    # inside for a while: distance 0, and the closest instant is the entry
    assert off(c.closest.time) == pytest.approx(entry, abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)
    assert c.closest.vertical_m == pytest.approx(0.0, abs=1e-6)
    assert_flight_position(c, f)


@pytest.mark.parametrize(("miss_m", "conflict"), [(H - 100.0, True), (H + 100.0, False)])
def test_flight_passing_beside_an_airspace(miss_m: float, conflict: bool) -> None:
    """On the equator: the track is a meridian `miss_m` east of the diamond's east vertex."""
    center, r = (60.0, 0.0), 20_000.0
    vertex = destination(center, 90.0, r)
    abeam = destination(vertex, 90.0, miss_m)
    f = straight("blue", "f", destination(abeam, 180.0, 100_000.0), 0.0, 200.0, 0, 1000, 6000.0)
    block = airspace("red", "orbit", diamond(center, r), 0, 1000, 5000.0, 7000.0)
    found = detente.check([f, block])
    if not conflict:
        assert found == []
        return
    c = only(found)
    assert off(c.closest.time) == pytest.approx(500.0, abs=dist_tol(200.0, 20_000.0))
    assert c.closest.horizontal_m == pytest.approx(miss_m, rel=REL)
    assert off(c.start) < 500.0 < off(c.end)


@pytest.mark.parametrize(
    ("alt_m", "conflict"),
    [
        (6304.7, True),
        (6304.9, False),
        (2695.3, True),
        (2695.1, False),
        (4500.0, True),
    ],
)
def test_flight_above_and_below_an_airspace_band(alt_m: float, conflict: bool) -> None:
    center = (30.0, 0.5)
    f = hold("blue", "f", center, alt_m, 0, 100)
    block = airspace("red", "roz", diamond(center, 20_000.0), 0, 100, 3000.0, 6000.0)
    found = detente.check([f, block])
    if not conflict:
        assert found == []
        return
    c = only(found)
    expected_gap = max(3000.0 - alt_m, alt_m - 6000.0, 0.0)
    assert c.closest.vertical_m == pytest.approx(expected_gap, abs=1e-6)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize(
    ("lower", "upper", "alt_m", "conflict"),
    [
        (None, 5000.0, 100.0, True),  # no floor: starts at the ground
        (None, 5000.0, -400.0, True),  # below sea level is still above "the ground"
        (5000.0, None, 20_000.0, True),  # no top
        (5000.0, None, 4695.1, False),
        (None, None, 12_000.0, True),
    ],
)
def test_open_airspace_bands(
    lower: float | None, upper: float | None, alt_m: float, conflict: bool
) -> None:
    center = (30.0, 0.5)
    f = hold("blue", "f", center, alt_m, 0, 100)
    block = airspace("red", "roz", diamond(center, 20_000.0), 0, 100, lower, upper)
    assert bool(detente.check([f, block])) == conflict


def test_airspace_window_bounds_the_loss() -> None:
    center = (30.0, 0.5)
    block = airspace("red", "roz", diamond(center, 20_000.0), 1000, 2000, 5000.0, 7000.0)
    inside = hold("blue", "inside", center, 6000.0, 0, 3000)
    c = only(detente.check([inside, block]))
    assert off(c.start) == pytest.approx(1000.0, abs=MS)
    assert off(c.end) == pytest.approx(2000.0, abs=MS)
    assert off(c.closest.time) == pytest.approx(1000.0, abs=MS)
    before, _, _ = _through_diamond(center, 20_000.0)  # through it during [0, 1000]
    touching = hold("blue", "later", center, 6000.0, 2000, 3000)
    assert detente.check([before, block]) == []
    assert detente.check([touching, block]) == []


def test_multipolygon_airspace_only_second_polygon_hit() -> None:
    far, near, r = (10.0, 10.0), (30.0, 0.5), 20_000.0
    shape = multipolygon(diamond_ring(far, r), diamond_ring(near, r))
    block = airspace("red", "two-blocks", shape, -100, 2000, 5000.0, 7000.0)
    f, entry, leave = _through_diamond(near, r)
    c = only(detente.check([f, block]))
    tol = dist_tol(200.0)
    assert off(c.start) == pytest.approx(entry - H / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(leave + H / 200.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(entry, abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)


def test_holding_inside_the_hole_of_an_airspace() -> None:
    """A hole 30 km in half-diagonal: its edges are ~21 km from a hold at its centre."""
    center = (30.0, 0.5)
    shape = polygon(diamond_ring(center, 100_000.0), diamond_ring(center, 30_000.0)[::-1])
    block = airspace("red", "ring", shape, 0, 100, 5000.0, 7000.0)
    in_hole = hold("blue", "in-hole", center, 6000.0, 0, 100)
    in_ring = hold("blue", "in-ring", destination(center, 0.0, 60_000.0), 6000.0, 0, 100)
    found = detente.check([in_hole, in_ring, block])
    c = only(found)
    assert in_ring.ref in {c.a, c.b}


def test_flight_through_a_point_radius_airspace() -> None:
    center, r = (-3.0, 40.0), 20_000.0
    block = airspace("red", "orbit", circle(center, r), -100, 2000, 5000.0, 7000.0)
    f, _, _ = _through_diamond(center, r)
    c = only(detente.check([f, block]))
    tol = dist_tol(200.0)
    assert off(c.start) == pytest.approx(500.0 - (r + H) / 200.0, abs=tol)
    assert off(c.end) == pytest.approx(500.0 + (r + H) / 200.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(500.0 - r / 200.0, abs=tol)
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize(("miss_m", "conflict"), [(H - 200.0, True), (H + 200.0, False)])
def test_flight_beside_a_point_radius_airspace(miss_m: float, conflict: bool) -> None:
    center, r = (100.0, 0.0), 20_000.0
    abeam = destination(center, 90.0, r + miss_m)
    f = straight("blue", "f", destination(abeam, 180.0, 100_000.0), 0.0, 200.0, 0, 1000, 6000.0)
    block = airspace("red", "orbit", circle(center, r), 0, 1000)
    found = detente.check([f, block])
    assert bool(found) == conflict
    if conflict:
        c = only(found)
        assert c.closest.horizontal_m == pytest.approx(miss_m, rel=REL)
        assert off(c.closest.time) == pytest.approx(500.0, abs=dist_tol(200.0, 20_000.0))


def test_airspace_straddling_the_antimeridian() -> None:
    """A diamond centred on 180; a flight east along the equator from 179.5E into it."""
    center, r = (180.0, 0.0), 20_000.0
    block = airspace("red", "dateline", diamond(center, r), 0, 1000, 5000.0, 7000.0)
    lons = sorted(lon for lon, _ in diamond_ring(center, r))
    assert lons[0] < -179.0 and lons[-1] > 179.0  # really straddles 180
    start = (179.5, 0.0)
    f = straight("blue", "f", start, 90.0, 200.0, 0, 1000, 6000.0)
    far = hold("blue", "greenwich", (0.0, 0.0), 6000.0, 0, 1000)
    c = only(detente.check([f, far, block]))
    assert f.ref in {c.a, c.b}
    west = distance(start, destination(center, 270.0, r))
    east = distance(start, destination(center, 90.0, r))
    tol = dist_tol(200.0)
    assert off(c.start) == pytest.approx((west - H) / 200.0, abs=tol)
    assert off(c.end) == pytest.approx((east + H) / 200.0, abs=tol)
    assert off(c.closest.time) == pytest.approx(west / 200.0, abs=tol)


def test_airspace_near_the_pole() -> None:
    """A circle at lat 89.9; a flight on meridian 0 over its centre and on over the pole."""
    center, r = (0.0, 89.9), 5000.0
    block = airspace("red", "polar", circle(center, r), 0, 1000, 8000.0, 10_000.0)
    start = (0.0, 89.0)
    f = Flight("blue", "f", (0.0, 180.0), (89.0, 89.0), (9000.0, 9000.0), (T0, T0 + 1000.0))
    v = distance(start, (180.0, 89.0)) / 1000.0
    at_center = distance(start, center) / v
    c = only(detente.check([f, block]))
    tol = dist_tol(v)
    assert off(c.start) == pytest.approx(at_center - (r + H) / v, abs=tol)
    assert off(c.end) == pytest.approx(at_center + (r + H) / v, abs=tol)
    assert off(c.closest.time) == pytest.approx(at_center - r / v, abs=tol)


# --- airspace x airspace -------------------------------------------------------------------------


@pytest.mark.parametrize(("gap_m", "conflict"), [(H - 300.0, True), (H + 300.0, False)])
def test_airspaces_horizontally_close(gap_m: float, conflict: bool) -> None:
    a_center, r = (10.0, 0.0), 10_000.0
    b_center = destination(a_center, 90.0, 2 * r + gap_m)
    a = airspace("blue", "a", circle(a_center, r), 0, 1000, 5000.0, 7000.0)
    b = airspace("red", "b", circle(b_center, r), 500, 1500, 6000.0, 8000.0)
    found = detente.check([a, b])
    if not conflict:
        assert found == []
        return
    c = only(found)
    assert off(c.start) == pytest.approx(500.0, abs=MS)
    assert off(c.end) == pytest.approx(1000.0, abs=MS)
    assert off(c.closest.time) == pytest.approx(500.0, abs=MS)
    assert c.closest.horizontal_m == pytest.approx(gap_m, rel=REL)
    assert c.closest.vertical_m == pytest.approx(0.0, abs=1e-6)
    assert all(math.isfinite(x) for x in (c.closest.lon, c.closest.lat, c.closest.alt_m))


@pytest.mark.parametrize(
    ("lower", "upper", "conflict"),
    [
        (2304.0, 3000.0, True),  # 304 m above: < 304.8
        (2305.0, 3000.0, False),
        (0.0, 695.5, True),  # 304.5 m below
        (0.0, 695.0, False),  # 305 m below
        (1500.0, 1600.0, True),  # inside
        (None, 695.5, True),
        (2304.0, None, True),
    ],
)
def test_airspace_band_gaps(lower: float | None, upper: float | None, conflict: bool) -> None:
    shape = diamond((10.0, 20.0), 10_000.0)
    a = airspace("blue", "a", shape, 0, 100, 1000.0, 2000.0)
    b = airspace("red", "b", shape, 0, 100, lower, upper)
    found = detente.check([a, b])
    assert bool(found) == conflict
    if conflict:
        c = only(found)
        gap = max(
            (lower if lower is not None else -math.inf) - 2000.0,
            1000.0 - (upper if upper is not None else math.inf),
            0.0,
        )
        assert c.closest.vertical_m == pytest.approx(gap, abs=1e-6)
        assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)


def test_airspace_bands_exactly_the_minimum_apart_do_not_conflict() -> None:
    shape = diamond((10.0, 20.0), 10_000.0)
    rules = Agreement(vertical_m=300.0)
    a = airspace("blue", "a", shape, 0, 100, 1000.0, 2000.0)
    assert detente.check([a, airspace("red", "b", shape, 0, 100, 2300.0, 3000.0)], rules) == []
    assert detente.check([a, airspace("red", "b", shape, 0, 100, 0.0, 700.0)], rules) == []
    assert detente.check([a, airspace("red", "b", shape, 0, 100, 2299.0, 3000.0)], rules)


@pytest.mark.parametrize(
    ("start", "end", "conflict"), [(100, 200, False), (99, 200, True), (-50, 0, False)]
)
def test_airspace_windows(start: float, end: float, conflict: bool) -> None:
    shape = diamond((10.0, 20.0), 10_000.0)
    a = airspace("blue", "a", shape, 0, 100, 1000.0, 2000.0)
    b = airspace("red", "b", shape, start, end, 1000.0, 2000.0)
    found = detente.check([a, b])
    assert bool(found) == conflict
    if conflict:
        c = only(found)
        assert off(c.start) == pytest.approx(max(0, start), abs=MS)
        assert off(c.end) == pytest.approx(min(100, end), abs=MS)


def test_airspaces_sharing_an_edge_conflict() -> None:
    west = [(30.0, 0.0), (30.1, 0.0), (30.1, 0.1), (30.0, 0.1)]
    east = [(30.1, 0.0), (30.2, 0.0), (30.2, 0.1), (30.1, 0.1)]
    a = airspace("blue", "w", polygon(west), 0, 100, 1000.0, 2000.0)
    b = airspace("red", "e", polygon(east), 0, 100, 1000.0, 2000.0)
    c = only(detente.check([a, b]))
    assert c.closest.horizontal_m == pytest.approx(0.0, abs=1.0)


def test_airspaces_on_both_sides_of_the_antimeridian() -> None:
    """5 km either side of 180 on the equator: 10 km apart, not 40,000 km."""
    west = diamond(destination((180.0, 0.0), 270.0, 5000.0 + 20_000.0), 20_000.0)
    east = diamond(destination((180.0, 0.0), 90.0, 5000.0 + 20_000.0), 20_000.0)
    a = airspace("blue", "w", west, 0, 100, 1000.0, 2000.0)
    b = airspace("red", "e", east, 0, 100, 1000.0, 2000.0)
    c = only(detente.check([a, b], Agreement(horizontal_m=11_000.0)))
    assert c.closest.horizontal_m == pytest.approx(10_000.0, rel=REL)
    assert detente.check([a, b], Agreement(horizontal_m=9000.0)) == []


def test_airspaces_around_the_pole() -> None:
    """Two circles on opposite meridians at lat 89.5: 111.7 km between centres, across the pole."""
    r = 52_000.0
    a = airspace("blue", "a", circle((0.0, 89.5), r), 0, 100, 1000.0, 2000.0)
    b = airspace("red", "b", circle((180.0, 89.5), r), 0, 100, 1000.0, 2000.0)
    gap = distance((0.0, 89.5), (180.0, 89.5)) - 2 * r
    assert 0 < gap < H
    c = only(detente.check([a, b]))
    assert c.closest.horizontal_m == pytest.approx(gap, rel=REL, abs=REL * H)
