"""The slow oracle of `tests/oracle.py` on cases whose answers are worked out by hand.

The property tests trust the oracle; these tests are why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

import oracle
from detente.model import Agreement, Area, Band, ConflictKind, Flight, Kind, Shape
from oracle import GEOD

Point = tuple[float, float]


def _flight(party: str, ident: str, pts: Sequence[Point], alt: float, times: Sequence[float]):
    n = len(pts)
    return Flight(
        party, ident, tuple(p[0] for p in pts), tuple(p[1] for p in pts), (alt,) * n, tuple(times)
    )


def test_oracle_crossing_flights() -> None:
    east = _flight("blue", "e", [(0.0, 0.0), (1.0, 0.0)], 1000.0, [0.0, 1000.0])
    north = _flight("red", "n", [(0.5, -0.5), (0.5, 0.5)], 1000.0, [0.0, 1000.0])
    (v,) = oracle.verdicts([east, north], Agreement())
    assert v.sure_conflict and v.worst_time == pytest.approx(500.0, abs=0.5)
    # Both pass (0.5, 0) at t=500 at right angles: the loss lasts H / relative speed each side.
    speed = math.hypot(GEOD.inv(0, 0, 1, 0)[2], GEOD.inv(0.5, -0.5, 0.5, 0.5)[2]) / 1000.0
    ((start, end),) = v.loss
    assert (end - start) / 2 == pytest.approx(9260.0 / speed, abs=0.5)
    assert v.interval_bounds() == (1, 1)
    high = _flight("red", "n", [(0.5, -0.5), (0.5, 0.5)], 1400.0, [0.0, 1000.0])
    (v,) = oracle.verdicts([east, high], Agreement())
    assert v.sure_clear and v.loss == ()


def test_oracle_two_passes_make_two_intervals() -> None:
    there_and_back = _flight(
        "blue", "f", [(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)], 1000.0, [0.0, 1000.0, 2000.0]
    )
    holding = _flight("red", "h", [(0.5, 0.3), (0.5, 0.3)], 1000.0, [0.0, 2000.0])
    (v,) = oracle.verdicts([there_and_back, holding], Agreement(horizontal_m=40_000.0))
    assert len(v.loss) == 2 and v.interval_bounds() == (2, 2)


def test_oracle_distances_to_shapes() -> None:
    square = Shape(polygons=((((1.0, -0.5), (2.0, -0.5), (2.0, 0.5), (1.0, 0.5), (1.0, -0.5)),),))
    # The west edge is a meridian: the nearest point of (0.9, 0) is (1, 0).
    assert oracle.distance_to_shape(0.9, 0.0, square) == pytest.approx(
        GEOD.inv(0.9, 0.0, 1.0, 0.0)[2], abs=0.01
    )
    # From the centre, the nearest edges are the north and south ones, half a degree away
    # (a geodesic between equal latitudes bulges a little poleward).
    depth = -oracle.distance_to_shape(1.5, 0.0, square, signed=True)
    assert depth == pytest.approx(GEOD.inv(1.5, 0.0, 1.5, 0.5)[2], abs=5.0)
    across = Shape(
        polygons=(
            (
                (
                    (179.95, -0.05),
                    (-179.95, -0.05),
                    (-179.95, 0.05),
                    (179.95, 0.05),
                    (179.95, -0.05),
                ),
            ),
        )
    )
    assert oracle.distance_to_shape(180.0, 0.0, across) == 0.0
    assert oracle.distance_to_shape(179.9, 0.0, across) == pytest.approx(
        GEOD.inv(179.9, 0.0, 179.95, 0.0)[2], abs=0.01
    )
    polar = Shape(polygons=(((*[(lon, 89.9) for lon in (0.0, 90.0, 180.0, -90.0, 0.0)],),),))
    vertex = GEOD.inv(0.0, 90.0, 0.0, 89.9)[2]
    depth = -oracle.distance_to_shape(0.0, 90.0, polar, signed=True)
    assert depth == pytest.approx(vertex * math.sqrt(0.5), rel=0.01)
    circle = Shape(center=(0.0, 89.9), radius_m=1000.0)
    assert oracle.distance_to_shape(180.0, 89.9, circle) == pytest.approx(
        GEOD.inv(0.0, 89.9, 180.0, 89.9)[2] - 1000.0
    )


def test_oracle_bulk_distances_match_the_exact_ones() -> None:
    shape = Shape(polygons=((((10.0, 60.0), (10.2, 60.0), (10.1, 60.1), (10.0, 60.0)),),))
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(9.5, 10.7, 40), rng.uniform(59.7, 60.4, 40)
    bulk = oracle._distances_to_shape(lon, lat, shape, signed=True)
    exact = [
        oracle.distance_to_shape(x, y, shape, signed=True) for x, y in zip(lon, lat, strict=True)
    ]
    assert np.allclose(bulk, exact, rtol=1e-4, atol=0.01)


def test_oracle_area_rules() -> None:
    ground = Area(Kind.GROUND, "red", "g", Shape(center=(37.0, 36.0), radius_m=500.0), 0.0, 600.0)
    aim = (37.0, float(GEOD.fwd(37.0, 36.0, 0.0, 2000.0)[1]))
    strike = Area(
        Kind.STRIKE,
        "blue",
        "s",
        Shape(center=aim),
        300.0,
        900.0,
        Band(upper_m=6000.0),
        reach_m=1400.0,
    )
    (v,) = oracle.verdicts([ground, strike], Agreement())
    assert (v.kind, v.a, v.b) == (ConflictKind.STRIKE_GROUND, strike.ref, ground.ref)
    assert v.sure_clear  # 1500 m apart, reach 1400 m
    (v,) = oracle.verdicts([ground, strike], Agreement(ground_buffer_m=200.0))
    assert v.sure_conflict and v.loss == ((300.0, 600.0),)
    late = Area(Kind.STRIKE, "blue", "s", strike.shape, 700.0, 900.0, strike.band, reach_m=5000.0)
    assert oracle.verdicts([ground, late], Agreement())[0].sure_clear
    assert oracle.verdicts([ground, late], Agreement(time_buffer_s=60.0))[0].sure_conflict
    zone = Area(
        Kind.ZONE,
        "red",
        "z",
        Shape(center=(37.0, 36.0), radius_m=5000.0),
        0.0,
        600.0,
        Band(0.0, 3000.0),
    )
    flight = _flight("blue", "f", [(36.8, 36.0), (37.2, 36.0)], 2000.0, [0.0, 300.0])
    (v,) = oracle.verdicts([zone, flight], Agreement())
    assert (v.kind, v.a, v.b) == (ConflictKind.ZONE, flight.ref, zone.ref) and v.sure_conflict
    strike = Area(
        Kind.STRIKE,
        "blue",
        "s",
        Shape(center=aim),
        0.0,
        600.0,
        Band(upper_m=6000.0),
        reach_m=2500.0,
    )
    (v,) = oracle.verdicts([flight, strike], Agreement(include_own=True))
    assert (v.kind, v.a, v.b) == (ConflictKind.STRIKE_AIR, strike.ref, flight.ref)
    assert v.sure_conflict  # passes 2000 m from the aim point
    assert oracle.verdicts([flight, strike], Agreement()) == []
