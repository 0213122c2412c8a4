"""The tactical cycle on scripted encounters: separation, intrusion, conformance, plan areas."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from detente.geo import GEOD
from detente.model import Agreement, Area, Band, Flight, Item, Kind, Shape, TrackReport
from detente.tactical.alerts import Change, Level
from detente.tactical.picture import TacticalPicture

LON, LAT = 38.0, 35.0


def report(party: str, uid: str, t: float, lon: float, lat: float, **kw: object) -> TrackReport:
    values: dict[str, object] = {"alt_m": 9000.0, "course_deg": 90.0, "speed_mps": 200.0}
    values.update(kw)
    return TrackReport(party, uid, t, lon, lat, **values)  # type: ignore[arg-type]


def east_of(lon: float, lat: float, metres: float) -> float:
    return float(GEOD.fwd(lon, lat, 90.0, metres)[0])


def test_head_on_pair_escalates_then_clears_after_the_hold():
    picture = TacticalPicture(Agreement(), hold_s=5.0, max_age_s=600.0)
    # Closing at 400 m/s from 110 km: separation (9,260 m) is lost after ~252 s.
    gap = 110_000.0
    picture.accept(report("blue", "b1", 0.0, LON, LAT))
    picture.accept(report("red", "r1", 0.0, east_of(LON, LAT, gap), LAT, course_deg=270.0))
    first = picture.cycle(0.0)
    assert [(c.change, c.level) for c in first.separation] == [(Change.RAISED, Level.ADVISORY)]
    change = first.separation[0]
    assert change.key == (("blue", "b1"), ("red", "r1"))
    assert change.details.t_los == pytest.approx((gap - 9260.0) / 400.0, abs=1.0)
    assert set(first.motion) == {("blue", "b1"), ("red", "r1")}
    # Dead reckoning alone carries them closer: caution under 120 s, warning under 60 s.
    assert [c.level for c in picture.cycle(150.0).separation] == [Level.CAUTION]
    assert [c.level for c in picture.cycle(200.0).separation] == [Level.WARNING]
    # One turns away: the warning holds for the hold time, then clears.
    picture.accept(
        report("red", "r1", 201.0, east_of(LON, LAT, 60_000.0), LAT + 0.5, course_deg=0.0)
    )
    assert picture.cycle(201.0).separation == []
    cleared = picture.cycle(207.0).separation
    assert [(c.change, c.level) for c in cleared] == [(Change.CLEARED, None)]


def test_same_party_and_distant_traffic_raise_nothing():
    picture = TacticalPicture(Agreement())
    picture.accept(report("blue", "b1", 0.0, LON, LAT))
    picture.accept(report("blue", "b2", 0.0, east_of(LON, LAT, 20_000.0), LAT, course_deg=270.0))
    picture.accept(report("red", "r1", 0.0, LON, LAT + 2.0))
    assert picture.cycle(0.0).changes == 0


def test_stale_tracks_drop_out_and_their_alert_clears():
    picture = TacticalPicture(Agreement(), hold_s=2.0, max_age_s=10.0)
    picture.accept(report("blue", "b1", 0.0, LON, LAT))
    picture.accept(report("red", "r1", 0.0, east_of(LON, LAT, 5_000.0), LAT, stale=3.0))
    assert [c.level for c in picture.cycle(0.0).separation] == [Level.WARNING]
    assert picture.cycle(1.0).separation == []
    later = picture.cycle(4.0)
    assert later.expired == [("red", "r1")]
    assert [c.change for c in later.separation] == [Change.CLEARED]
    assert later.separation[0].key == (("blue", "b1"), ("red", "r1"))
    # The gone track's number is forgotten once no alert names it; a new report is a new track.
    assert set(picture._key_of.values()) == {("blue", "b1")}
    picture.accept(report("red", "r1", 5.0, east_of(LON, LAT, 5_000.0), LAT))
    assert [c.change for c in picture.cycle(5.0).separation] == [Change.RAISED]
    assert [a.key for a in picture.separation_alerts()] == [(("blue", "b1"), ("red", "r1"))]


def zone(party: str, lon: float, lat: float, half: float = 0.2, kind: Kind = Kind.ZONE) -> Area:
    ring = (
        (lon - half, lat - half),
        (lon + half, lat - half),
        (lon + half, lat + half),
        (lon - half, lat + half),
        (lon - half, lat - half),
    )
    return Area(kind, party, "z1", Shape(polygons=((ring,),)), 0.0, 10_000.0, Band(0.0, 12_000.0))


def test_aircraft_heading_into_another_party_zone_raises_an_intrusion():
    picture = TacticalPicture(Agreement())
    red_zone = zone("red", LON + 0.5, LAT)
    # The zone's west edge is 0.3 deg (~27 km) east: entry in ~137 s at 200 m/s.
    picture.accept(report("blue", "b1", 0.0, LON, LAT))
    cycle = picture.cycle(0.0, areas=[red_zone])
    assert len(cycle.intrusion) == 1
    change = cycle.intrusion[0]
    assert change.key == (("blue", "b1"), red_zone.ref)
    assert change.details.rule == "zone"
    assert change.details.t_entry == pytest.approx(27_340 / 200.0, rel=0.03)
    assert change.level == Level.ADVISORY
    # Its own party's zone is no intrusion.
    own = TacticalPicture(Agreement())
    own.accept(report("red", "r1", 0.0, LON, LAT))
    assert own.cycle(0.0, areas=[red_zone]).intrusion == []


def test_ground_unit_inside_another_party_strike_hazard():
    strike = Area(
        Kind.STRIKE, "red", "s1", Shape(center=(LON, LAT)), 0.0, 600.0, Band(0.0, 5000.0),
        reach_m=2_000.0,
    )  # fmt: skip
    picture = TacticalPicture(Agreement())
    picture.accept(report("blue", "g1", 0.0, LON + 0.01, LAT, airborne=False, speed_mps=0.0))
    picture.accept(report("blue", "g2", 0.0, LON + 0.5, LAT, airborne=False, speed_mps=0.0))
    cycle = picture.cycle(0.0, areas=[strike])
    assert [(c.key[0], c.details.rule, c.level) for c in cycle.intrusion] == [
        (("blue", "g1"), "strike-ground", Level.WARNING)
    ]


def plan(party: str = "blue") -> Flight:
    lon1 = east_of(LON, LAT, 200.0 * 3600.0)
    return Flight(party, "p1", (LON, lon1), (LAT, LAT), (9000.0, 9000.0), (0.0, 3600.0))


def test_track_off_its_plan_is_nonconforming_and_its_area_is_checked():
    flight = plan()
    lon = east_of(LON, LAT, 120_200.0)
    red = Flight(
        "red", "r9", (lon - 0.3, lon + 0.3), (LAT + 0.5, LAT + 0.5), (9000.0, 9000.0), (0.0, 1200.0)
    )  # crosses the blue track's actual position, far from the blue plan's route
    asked: list[Sequence[Area]] = []

    def near(areas: Sequence[Area]) -> Sequence[Item]:
        asked.append(areas)
        return [red]

    picture = TacticalPicture(Agreement())
    key = ("blue", "b1")
    on_plan = report("blue", "b1", 600.0, east_of(LON, LAT, 120_000.0), LAT, plan_id="p1")
    picture.accept(on_plan)
    assert picture.cycle(600.0, plans={key: flight}, near=near).conformance == []
    assert asked == []
    # 55 km north of where the plan has it.
    off_lon = east_of(LON, LAT, 120_200.0)
    off = report("blue", "b1", 601.0, off_lon, LAT + 0.5, course_deg=0.0, plan_id="p1")
    picture.accept(off)
    cycle = picture.cycle(601.0, plans={key: flight}, near=near)
    assert [(c.key, c.change) for c in cycle.conformance] == [(key, Change.RAISED)]
    assert cycle.conformance[0].details.lateral_m > 50_000.0
    assert [(c.key, c.details.rule) for c in cycle.plan_area] == [((key, red.ref), "air")]
    assert asked and asked[0][0].shape.radius_m == Agreement().conformance_lateral_m


def test_aircraft_heading_into_a_strike_hazard_below_its_ceiling():
    aim = (east_of(LON, LAT, 30_000.0), LAT)
    strike = Area(
        Kind.STRIKE, "red", "s1", Shape(center=aim), 0.0, 600.0, Band(0.0, 8000.0),
        reach_m=3_000.0,
    )  # fmt: skip
    picture = TacticalPicture(Agreement())
    picture.accept(report("blue", "low", 0.0, LON, LAT, alt_m=6000.0))
    picture.accept(report("blue", "high", 0.0, LON, LAT + 0.001, alt_m=9000.0))
    cycle = picture.cycle(0.0, areas=[strike])
    assert [(c.key[0], c.details.rule) for c in cycle.intrusion] == [
        (("blue", "low"), "strike-air")
    ]
    # Entry at the hazard's edge: 27 km at 200 m/s.
    assert cycle.intrusion[0].details.t_entry == pytest.approx(27_000 / 200.0, rel=0.02)
