"""Conformance of live tracks to their filed flights, against a slow geodesic oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import GEOD, T0, azimuth, destination, flight, hold, straight
from detente.model import Agreement, Flight, TrackReport
from detente.tactical.alerts import AlertTracker, Change
from detente.tactical.conformance import (
    NONCONFORMING,
    Breach,
    Route,
    conformance,
    deviations,
    observations,
)
from oracle import flight_position

AGREEMENT = Agreement()  # 5556 m, 152.4 m, 120 s


def at(f: Flight, offset_s: float, *, time: float | None = None, **kw: float) -> TrackReport:
    """A report where `f` plans to be `offset_s` after its start, reported at `time` (same)."""
    lon, lat, alt = (float(x[0]) for x in flight_position(f, f.start + offset_s))
    fields = {"lon": lon, "lat": lat, "alt_m": alt, **kw}
    when = f.start + offset_s if time is None else f.start + time
    return TrackReport(f.party, "t1", when, **fields)  # type: ignore[arg-type]


ROUTE = flight(
    "blue",
    "f1",
    [(30.0, 40.0, 3000.0, 0), (31.0, 40.5, 6000.0, 600), (31.0, 42.0, 6000.0, 1800)],
)


# --- on, off, early, late ------------------------------------------------------------------------


@pytest.mark.parametrize("offset_s", [0.0, 100.0, 300.0, 599.0, 600.0, 1000.0, 1800.0])
def test_track_on_its_plan_conforms(offset_s):
    d = conformance(at(ROUTE, offset_s), ROUTE, AGREEMENT)
    assert d.lateral_m < 0.5
    assert abs(d.vertical_m) < 1e-3
    assert abs(d.time_s) < 0.01
    assert d.conforming and d.breach == Breach(0)


@pytest.mark.parametrize(("off_m", "side"), [(3000.0, 90.0), (8000.0, -90.0), (50_000.0, 90.0)])
def test_track_off_laterally(off_m, side):
    # Beside the planned point, square to the leg: the plan is nearest there.
    lon, lat, alt = (float(x[0]) for x in flight_position(ROUTE, ROUTE.start + 1200.0))
    leg_azimuth = azimuth((lon, lat), (31.0, 42.0))
    lon, lat = destination((lon, lat), leg_azimuth + side, off_m)
    d = conformance(
        TrackReport("blue", "t1", ROUTE.start + 1200.0, lon, lat, alt), ROUTE, AGREEMENT
    )
    assert d.lateral_m == pytest.approx(off_m, rel=5e-4, abs=0.1)
    assert abs(d.time_s) < 0.5 and abs(d.vertical_m) < 1e-6
    assert d.breach == (Breach.LATERAL if off_m > 5556.0 else Breach(0))


def test_track_climbing_off_its_level():
    d = conformance(at(ROUTE, 900.0, alt_m=6200.0), ROUTE, AGREEMENT)
    assert d.vertical_m == pytest.approx(200.0)
    assert d.breach == Breach.VERTICAL
    d = conformance(at(ROUTE, 900.0, alt_m=5900.0), ROUTE, AGREEMENT)
    assert d.vertical_m == pytest.approx(-100.0) and d.conforming


def test_track_late_and_early():
    late = conformance(at(ROUTE, 300.0, time=500.0), ROUTE, AGREEMENT)
    assert late.time_s == pytest.approx(200.0, abs=0.01)
    assert late.breach == Breach.TIME
    early = conformance(at(ROUTE, 300.0, time=250.0), ROUTE, AGREEMENT)
    assert early.time_s == pytest.approx(-50.0, abs=0.01) and early.conforming
    # On a climbing leg a late track is also low (it is where the plan was earlier).
    assert late.vertical_m == pytest.approx(0.0, abs=1e-6)


def test_outside_the_plan_window():
    before = conformance(at(ROUTE, 0.0, time=-121.0), ROUTE, AGREEMENT)
    assert before.breach == Breach.WINDOW | Breach.TIME
    after = conformance(at(ROUTE, 1800.0, time=1800.0 + 121.0), ROUTE, AGREEMENT)
    assert after.breach == Breach.WINDOW | Breach.TIME
    edge = conformance(at(ROUTE, 1800.0, time=1800.0 + 119.0), ROUTE, AGREEMENT)
    assert edge.conforming


def test_out_and_back_matches_the_pass_in_time():
    a, b = (20.0, 10.0), destination((20.0, 10.0), 45.0, 200_000.0)
    f = flight("blue", "orbit", [(*a, 5000.0, 0), (*b, 5000.0, 1000), (*a, 5000.0, 2000)])
    for offset in (250.0, 1750.0, 500.0, 1500.0):
        d = conformance(at(f, offset), f, AGREEMENT)
        assert abs(d.time_s) < 0.5 and d.conforming, offset
    # Off by 500 m, 30 s late on the way back: measured against the way back.
    lon, lat, _ = (float(x[0]) for x in flight_position(f, f.start + 1600.0))
    lon, lat = destination((lon, lat), 135.0, 500.0)
    d = conformance(TrackReport("blue", "t1", f.start + 1630.0, lon, lat, 5000.0), f, AGREEMENT)
    assert d.lateral_m == pytest.approx(500.0, abs=1.0)
    assert d.time_s == pytest.approx(30.0, abs=0.5)


def test_hold_at_a_point():
    p = (5.0, 45.0)
    f = hold("blue", "cap", p, 4000.0, 0, 3600)
    mid = conformance(TrackReport("blue", "t", T0 + 1800.0, *p, 4000.0), f, AGREEMENT)
    assert (mid.lateral_m, mid.time_s) == (pytest.approx(0.0, abs=1e-6), 0.0)
    late = conformance(TrackReport("blue", "t", T0 + 3650.0, *p, 4000.0), f, AGREEMENT)
    assert late.time_s == pytest.approx(50.0) and late.conforming
    # A hold in the middle of a route: the planned time is the nearest instant of the hold.
    q = destination(p, 0.0, 30_000.0)
    g = flight(
        "blue", "g", [(*q, 4000.0, 0), (*p, 4000.0, 300), (*p, 4000.0, 900), (*q, 4000.0, 1200)]
    )
    d = conformance(TrackReport("blue", "t", T0 + 700.0, *p, 4000.0), g, AGREEMENT)
    assert abs(d.time_s) < 1e-6 and d.lateral_m < 1e-3


def test_single_position_plan():
    f = flight("blue", "pt", [(1.0, 1.0, 100.0, 0)])
    d = conformance(TrackReport("blue", "t", T0 + 60.0, 1.0, 1.01, 100.0), f, AGREEMENT)
    assert d.lateral_m == pytest.approx(1105.8, abs=1.0)
    assert d.time_s == 60.0 and d.conforming


def test_batch_equals_one_at_a_time():
    other = straight("red", "r1", (31.0, 41.0), 270.0, 200.0, 0, 900, alt_m=(2000.0, 8000.0))
    reports = [
        at(ROUTE, 100.0),
        at(other, 400.0, time=600.0),
        at(ROUTE, 1400.0, alt_m=100.0),
        at(other, 10.0, lat=41.2),
    ]
    flights = [ROUTE, other, ROUTE, other]
    batch = deviations(reports, [Route.of(f) for f in flights], AGREEMENT)
    assert list(batch) == [
        conformance(r, f, AGREEMENT) for r, f in zip(reports, flights, strict=True)
    ]
    assert batch.conforming.tolist() == [True, False, False, False]
    assert len(deviations([], [], AGREEMENT)) == 0
    with pytest.raises(ValueError, match="2 reports but 1 routes"):
        deviations(reports[:2], [Route.of(ROUTE)], AGREEMENT)


# --- hysteresis ----------------------------------------------------------------------------------


def test_track_hovering_at_the_tolerance_does_not_flicker():
    tracker: AlertTracker[tuple[str, str], object] = AlertTracker(hold_s=5.0)
    route = Route.of(ROUTE)
    log = []
    for k in range(60):
        alt = 6000.0 + (150.0 if k % 3 else 155.0)  # in, out, in ... of 152.4 m
        found = deviations([at(ROUTE, 900.0 + k, alt_m=alt)], [route], AGREEMENT)
        log += tracker.step(float(k), observations([("blue", "t1")], found))
    assert [(c.change, c.level) for c in log] == [(Change.RAISED, NONCONFORMING)]
    for k in range(60, 70):
        found = deviations([at(ROUTE, 900.0 + k)], [route], AGREEMENT)
        log += tracker.step(float(k), observations([("blue", "t1")], found))
    assert [c.change for c in log] == [Change.RAISED, Change.CLEARED]


# --- against the oracle --------------------------------------------------------------------------


def oracle_lateral(f: Flight, lon: float, lat: float) -> float:
    """Least geodesic distance from (lon, lat) to the legs of `f`: sampling, then golden section."""
    best = math.inf
    for k in range(len(f.times) - 1):
        az, _, length = GEOD.inv(f.lon[k], f.lat[k], f.lon[k + 1], f.lat[k + 1])

        def dist(s: np.ndarray, k: int = k, az: float = az) -> np.ndarray:
            x, y, _ = GEOD.fwd(
                np.full_like(s, f.lon[k]), np.full_like(s, f.lat[k]), np.full_like(s, az), s
            )
            return np.asarray(GEOD.inv(np.full_like(s, lon), np.full_like(s, lat), x, y)[2])

        s = np.linspace(0.0, length, 201)
        i = int(np.argmin(dist(s)))
        lo, hi = s[max(i - 1, 0)], s[min(i + 1, 200)]
        g = (math.sqrt(5.0) - 1.0) / 2.0
        for _ in range(80):
            m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
            d1, d2 = dist(np.array([m1, m2]))
            if d1 < d2:
                hi = m2
            else:
                lo = m1
        best = min(best, float(dist(np.array([lo, hi])).min()))
    return best


@given(
    origin=st.tuples(st.floats(-179.0, 179.0), st.floats(-70.0, 70.0)),
    legs=st.lists(
        st.tuples(st.floats(0.0, 360.0), st.floats(1_000.0, 400_000.0)), min_size=1, max_size=3
    ),
    where=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 360.0), st.floats(0.0, 300_000.0)),
)
def test_lateral_deviation_matches_the_geodesic_oracle(origin, legs, where):
    points = [origin]
    for az, dist in legs:
        points.append(destination(points[-1], az, dist))
    f = flight("blue", "f", [(*p, 5000.0, 600.0 * k) for k, p in enumerate(points)])
    frac, az, off = where
    lon, lat, _ = (float(x[0]) for x in flight_position(f, f.start + frac * (f.end - f.start)))
    lon, lat = destination((lon, lat), az, off)
    d = conformance(TrackReport("blue", "t", f.start, lon, lat, 5000.0), f, AGREEMENT)
    # The matched point may be another pass than the nearest, but only within the tolerance.
    expected = oracle_lateral(f, lon, lat)
    tolerance = AGREEMENT.conformance_lateral_m
    if expected > tolerance + 10.0:
        assert d.lateral_m == pytest.approx(expected, rel=5e-4, abs=0.1)
    elif expected < tolerance - 10.0:
        assert expected - 0.1 <= d.lateral_m * (1 + 5e-4)
        assert d.lateral_m <= tolerance
    assert d.lateral_m >= expected * (1 - 5e-4) - 0.1


@given(
    origin=st.tuples(st.floats(-179.0, 179.0), st.floats(-80.0, 80.0)),
    legs=st.lists(
        st.tuples(
            st.floats(0.0, 360.0),
            st.one_of(st.just(0.0), st.floats(1.0, 1_500_000.0)),
            st.floats(1.0, 3600.0),  # a plan in two places at one instant is ambiguous
            st.floats(0.0, 12_000.0),
        ),
        min_size=1,
        max_size=4,
    ),
    frac=st.floats(0.0, 1.0),
)
def test_track_on_any_plan_conforms(origin, legs, frac):
    points = [(*origin, 5000.0, 0.0)]
    for az, dist, duration, alt in legs:
        lon, lat = destination(points[-1][:2], az, dist)
        points.append((lon, lat, alt, points[-1][3] + duration))
    f = flight("blue", "f", points)
    offset = frac * (f.end - f.start)
    d = conformance(at(f, offset), f, AGREEMENT)
    assert d.lateral_m < 1.0
    assert abs(d.vertical_m) < 1.0
    assert abs(d.time_s) < 0.5
    assert d.conforming
