"""Plan files: every rule of the plan-file contract, and the corpora in tests/data."""

from __future__ import annotations

import calendar
import copy
import json
import math
import os
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detente.errors import PlanError
from detente.interop import _geometry, _values, load_plan_files, parse_plan
from detente.interop._values import Invalid
from detente.model import Area, Band, Flight, Kind

DATA = Path(__file__).resolve().parent.parent / "data"
T0 = "2015-10-01T06:00:00Z"
T1 = "2015-10-01T07:00:00Z"
SQUARE = [[[36.0, 35.0], [36.5, 35.0], [36.5, 35.5], [36.0, 35.5], [36.0, 35.0]]]


def flight(**props: Any) -> dict[str, Any]:
    coords = props.pop("coords", [[36.0, 35.0, 1000.0], [36.5, 35.2, 2000.0], [37.0, 35.4, 3000.0]])
    base = {
        "kind": "flight",
        "party": "blue",
        "coordTimes": ["2015-10-01T06:00:00Z", "2015-10-01T06:05:00Z", "2015-10-01T06:10:00Z"],
    }
    feature_id = props.pop("id", "f1")
    return feature(feature_id, {"type": "LineString", "coordinates": coords}, {**base, **props})


def area(kind: str = "airspace", geometry: dict[str, Any] | None = None, **props: Any):
    feature_id = props.pop("id", "a1")
    geometry = geometry or {"type": "Polygon", "coordinates": copy.deepcopy(SQUARE)}
    base = {"kind": kind, "party": "red", "start": T0, "end": T1}
    if kind == "strike":
        base["radius_m"] = 2000.0
    return feature(feature_id, geometry, {**base, **props})


def point(lon: float = 36.2, lat: float = 35.2) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(ring) for ring in rings]}


def feature(feature_id: Any, geometry: Any, props: Any) -> dict[str, Any]:
    return {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": props}


def collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def parse(*features: Any, **kwargs: Any) -> list[Any]:
    """Parse through the JSON text path, as a file would be."""
    return parse_plan(json.dumps(collection(*features)), "plan.geojson", **kwargs)


def rejected(bad: Any, field: str | None, reason: str) -> PlanError:
    """Put `bad` at index 1 after a valid item; check the error names index, id, field and why."""
    with pytest.raises(PlanError) as caught:
        parse(area(id="ok"), bad)
    error = caught.value
    item_id = bad.get("id") if isinstance(bad, dict) else None
    expected_id = item_id if isinstance(item_id, str) and item_id.strip() else None
    assert error.source == "plan.geojson"
    assert error.index == 1
    assert error.item_id == expected_id
    assert error.field == field
    assert reason.lower() in error.reason.lower(), error.reason
    message = str(error)
    assert message.startswith("plan.geojson: feature 1")
    if expected_id:
        assert f"(id {expected_id})" in message
    if field:
        assert f": {field}: " in message
    return error


def epoch(year, month, day, hour, minute, second, fraction=Fraction(0)) -> float:
    """Epoch seconds by calendar arithmetic, rounded once."""
    whole = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return float(Fraction(whole) + fraction)


# --- documents -----------------------------------------------------------------------------


def test_malformed_json_says_line_and_column():
    text = '{\n  "type": "FeatureCollection",\n  "features": [tru]\n}'
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "bad.geojson", skip_invalid=True)
    assert caught.value.source == "bad.geojson"
    assert "line 3, column 16" in str(caught.value)


def test_bytes_that_are_not_utf8_are_invalid_json():
    with pytest.raises(PlanError, match="not valid JSON"):
        parse_plan(b'{"type": "FeatureCollection", "features": ["\xff"]}', "x")


def test_byte_order_mark_is_accepted():
    text = "\ufeff" + json.dumps(collection(area()))
    assert len(parse_plan(text, "x")) == 1
    assert len(parse_plan(text.encode(), "x")) == 1
    assert len(parse_plan(memoryview(text.encode()), "x")) == 1


def test_a_parsed_non_object_is_refused():
    with pytest.raises(PlanError, match="must be a GeoJSON FeatureCollection object, not an array"):
        parse_plan([area()], "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        ([], None, "FeatureCollection"),
        ({"features": []}, "type", "missing"),
        ({"type": "GeometryCollection", "geometries": []}, "type", "GeometryCollection"),
        ({"type": "FeatureCollection"}, "features", "missing"),
        ({"type": "FeatureCollection", "features": {}}, "features", "an object"),
    ],
)
def test_document_must_be_a_feature_collection(document, field, reason):
    with pytest.raises(PlanError) as caught:
        parse_plan(json.dumps(document), "doc.geojson", skip_invalid=True)
    assert caught.value.field == field
    assert caught.value.index is None
    assert reason in caught.value.reason


def test_empty_collection_is_valid():
    assert parse_plan('{"type": "FeatureCollection", "features": []}', "x") == []


def test_single_feature_is_accepted():
    items = parse_plan(json.dumps(flight(id="solo")), "x")
    assert [item.id for item in items] == ["solo"]


def test_parsed_object_is_accepted_and_left_unchanged():
    document = collection(flight(), area())
    before = copy.deepcopy(document)
    items = parse_plan(document, "x")
    assert [type(item) for item in items] == [Flight, Area]
    assert document == before


def test_extra_properties_and_members_are_ignored():
    item = area(remarks="cleared", priority=3)
    item["bbox"] = [36.0, 35.0, 36.5, 35.5]
    assert len(parse(item)) == 1


# --- features ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        ([1, 2], None, "Feature object"),
        ({**area(), "type": "Point"}, "type", "must be 'Feature'"),
        ({k: v for k, v in area().items() if k != "type"}, "type", "missing"),
        ({k: v for k, v in area().items() if k != "id"}, "id", "missing"),
        ({**area(), "id": 42}, "id", "not the number 42"),
        ({**area(), "id": ""}, "id", "non-empty"),
        ({**area(), "id": "   "}, "id", "non-empty"),
        ({**area(), "id": None}, "id", "null"),
        ({**area(), "properties": None}, "properties", "must be an object"),
        (feature("k", point(), {"party": "red"}), "kind", "missing"),
        (area(kind="strike-air"), "kind", "flight, airspace, ground, strike, zone"),
        (area(kind=["zone"]), "kind", "an array"),
        (area(party=""), "party", "non-empty"),
        (area(party=7), "party", "the number 7"),
        (feature("n", point(), {"kind": "zone", "start": T0, "end": T1}), "party", "missing"),
        ({**area(), "geometry": None}, "geometry", "null"),
        ({**area(), "geometry": "Point"}, "geometry", "geometry object"),
    ],
)
def test_feature_basics(bad, field, reason):
    rejected(bad, field, reason)


def test_number_id_error_suggests_a_string():
    error = rejected({**area(), "id": 42}, "id", "must be a string")
    assert '"42"' in error.reason


# --- flights -------------------------------------------------------------------------------


def test_flight_is_built():
    (item,) = parse(flight(callsign="VIPER11", aircraft="F-16C", id="v1"))
    assert isinstance(item, Flight)
    assert item.ref.party == "blue" and item.id == "v1"
    assert item.lon == (36.0, 36.5, 37.0)
    assert item.lat == (35.0, 35.2, 35.4)
    assert item.alt_m == (1000.0, 2000.0, 3000.0)
    assert item.times == (epoch(2015, 10, 1, 6, 0, 0), epoch(2015, 10, 1, 6, 5, 0), item.end)
    assert item.end - item.start == 600.0
    assert (item.callsign, item.aircraft) == ("VIPER11", "F-16C")


def test_integer_coordinates_become_floats():
    (item,) = parse(flight(coords=[[36, 35, 0], [37, 35, 1000]], coordTimes=[T0, T1]))
    assert item.lon == (36.0, 37.0) and item.alt_m == (0.0, 1000.0)
    assert all(type(v) is float for v in item.lon + item.lat + item.alt_m)


def test_times_keep_fractions_exactly():
    times = ["2015-10-01T00:22:31.578Z", "2015-10-01T00:27:01.895123Z", "2015-10-01T03:27:02+03:00"]
    (item,) = parse(flight(coordTimes=times))
    assert item.times[0] == epoch(2015, 10, 1, 0, 22, 31, Fraction(578, 1000))
    assert item.times[1] == epoch(2015, 10, 1, 0, 27, 1, Fraction(895123, 10**6))
    assert item.times[2] == epoch(2015, 10, 1, 0, 27, 2)


@pytest.mark.parametrize(
    "text",
    ["2015-10-01T06:00:00z", "2015-10-01 06:00:00Z", "20151001T060000Z", "2015-10-01T08:00+02:00"],
)
def test_other_iso_8601_spellings_are_accepted(text):
    (item,) = parse(flight(coords=[[36, 35, 0], [37, 35, 0]], coordTimes=[text, T1]))
    assert item.start == epoch(2015, 10, 1, 6, 0, 0)


def test_geometry_must_be_a_3d_linestring():
    bad = flight()
    bad["geometry"] = {"type": "MultiLineString", "coordinates": [bad["geometry"]["coordinates"]]}
    rejected(
        bad, "geometry.type", "a flight must be a LineString; not the string 'MultiLineString'"
    )


@pytest.mark.parametrize(
    ("coords", "field", "reason"),
    [
        ("36,35", "geometry.coordinates", "must be an array"),
        ([[36.0, 35.0, 0.0]], "geometry.coordinates", "at least 2 positions, got 1"),
        ([[36.0, 35.0, 0.0], [36.1, 35.0]], "geometry.coordinates[1]", "[lon, lat, alt], got 2"),
        ([[36.0, 35.0, 0.0, 5.0], [36, 35, 0]], "geometry.coordinates[0]", "got 4 numbers"),
        ([[36.0, 35.0, 0.0], 36.1], "geometry.coordinates[1]", "not the number 36.1"),
        ([[180.5, 35.0, 0.0], [36, 35, 0]], "geometry.coordinates[0][0]", "outside [-180, 180]"),
        ([[36, -90.5, 0.0], [36, 35, 0]], "geometry.coordinates[0][1]", "outside [-90, 90]"),
        ([[36, 35, True], [36, 35, 0]], "geometry.coordinates[0][2]", "not a boolean"),
        ([[36, "35", 0], [36, 35, 0]], "geometry.coordinates[0][1]", "not the string '35'"),
        ([[36, 35, None], [36, 35, 0]], "geometry.coordinates[0][2]", "not null"),
        ([[36, 35, 1e308 * 10], [36, 35, 0]], "geometry.coordinates[0][2]", "finite"),
        ([[36, 35, math.nan], [36, 35, 0]], "geometry.coordinates[0][2]", "finite"),
        ([[36, 35, 10**400], [36, 35, 0]], "geometry.coordinates[0][2]", "finite"),
    ],
)
def test_flight_positions(coords, field, reason):
    bad = flight(coords=coords, coordTimes=[T0, T1][: len(coords)])
    with pytest.raises(PlanError) as caught:
        parse_plan(collection(area(id="ok"), bad), "plan.geojson")  # as objects: NaN, 10**400
    error = caught.value
    assert (error.index, error.item_id, error.field) == (1, "f1", field)
    assert reason in error.reason


@pytest.mark.parametrize(
    ("times", "field", "reason"),
    [
        (None, "coordTimes", "missing"),
        ("2015-10-01T06:00:00Z", "coordTimes", "must be an array"),
        ([T0, T1], "coordTimes", "2 times for 3 positions"),
        ([T0, "2015-10-01T06:05:00", T1], "coordTimes[1]", "no time zone"),
        ([T0, "2015-10-01", T1], "coordTimes[1]", "no time zone"),
        ([T0, "yesterday", T1], "coordTimes[1]", "not an ISO 8601 time"),
        ([T0, "2015-10-01x06:05:00Z", T1], "coordTimes[1]", "not an ISO 8601 time"),
        ([T0, "2015-10-01T25:00:00Z", T1], "coordTimes[1]", "hour must be"),
        ([T0, 1443679500, T1], "coordTimes[1]", "not the number 1443679500"),
        ([T1, T0, T1], "coordTimes[1]", "non-decreasing"),
        ([T0, T0, T1], "coordTimes[1]", "infinite speed"),
    ],
)
def test_flight_times(times, field, reason):
    bad = flight()
    if times is None:
        del bad["properties"]["coordTimes"]
    else:
        bad["properties"]["coordTimes"] = times
    rejected(bad, field, reason)


def test_same_position_at_same_time_is_dropped():
    coords = [[36.0, 35.0, 0.0], [36.0, 35.0, 0.0], [36.5, 35.0, 100.0], [36.5, 35.0, 100.0]]
    (item,) = parse(flight(coords=coords, coordTimes=[T0, T0, T1, T1]))
    assert item.lon == (36.0, 36.5) and item.alt_m == (0.0, 100.0)
    assert item.times == (epoch(2015, 10, 1, 6, 0, 0), epoch(2015, 10, 1, 7, 0, 0))


def test_hold_with_increasing_times_is_kept():
    coords = [[36.0, 35.0, 0.0], [36.0, 35.0, 0.0], [36.5, 35.0, 100.0]]
    (item,) = parse(flight(coords=coords, coordTimes=[T0, "2015-10-01T06:30:00Z", T1]))
    assert len(item.times) == 3


def test_antimeridian_and_pole_aliases_count_as_the_same_place():
    coords = [[180.0, 10.0, 0.0], [-180.0, 10.0, 0.0], [10.0, 90.0, 5.0], [99.0, 90.0, 5.0]]
    (item,) = parse(flight(coords=coords, coordTimes=[T0, T0, T1, T1]))
    assert item.lon == (180.0, 10.0)


def test_flight_that_lasts_no_time_is_invalid():
    coords = [[36.0, 35.0, 0.0], [36.0, 35.0, 0.0]]
    rejected(flight(coords=coords, coordTimes=[T0, T0]), "coordTimes", "first and last times")


@pytest.mark.parametrize("key", ["callsign", "aircraft"])
def test_flight_strings(key):
    rejected(flight(**{key: 11}), key, "must be a string, not the number 11")
    (item,) = parse(flight(**{key: None}))
    assert getattr(item, key) is None


# --- areas ---------------------------------------------------------------------------------


def test_airspace_polygon_and_band():
    (item,) = parse(area(alt_lower_m=1200, alt_upper_m=4500.5, name="ROZ ALPHA"))
    assert isinstance(item, Area) and item.kind is Kind.AIRSPACE
    assert item.band == Band(1200.0, 4500.5)
    assert item.reach_m == 0.0 and item.name == "ROZ ALPHA"
    assert (item.start, item.end) == (epoch(2015, 10, 1, 6, 0, 0), epoch(2015, 10, 1, 7, 0, 0))
    (rings,) = item.shape.polygons
    assert rings == (tuple((lon, lat) for lon, lat in SQUARE[0]),)
    assert rings[0][0] == rings[0][-1]
    assert not item.shape.is_circle


def test_open_bands_are_infinite():
    upper_only, lower_only = parse(area(id="u", alt_upper_m=3000), area(id="l", alt_lower_m=100))
    assert upper_only.band == Band(-math.inf, 3000.0)
    assert lower_only.band == Band(100.0, math.inf)


@pytest.mark.parametrize("kind", ["airspace", "ground", "zone"])
def test_circle(kind):
    (item,) = parse(area(kind, point(37.5, 36.0), radius_m=5000))
    assert item.shape.center == (37.5, 36.0) and item.shape.radius_m == 5000.0
    assert item.shape.is_circle and item.reach_m == 0.0


def test_ground_has_no_band():
    (item,) = parse(area("ground", alt_lower_m=0, alt_upper_m=10))
    assert item.band == Band()


def test_zone_keeps_its_type():
    zone, airspace = parse(area("zone", zone_type="no_fly"), area(id="b", zone_type="no_fly"))
    assert zone.zone_type == "no_fly"
    assert airspace.zone_type is None


def test_strike_on_a_point():
    (item,) = parse(area("strike", {"type": "Point", "coordinates": [37.3, 36.8, 400.0]}))
    assert item.kind is Kind.STRIKE
    assert item.shape.center == (37.3, 36.8) and item.shape.radius_m == 0.0
    assert item.reach_m == 2000.0
    assert item.band == Band(-math.inf, 15000.0)


def test_strike_on_an_area_with_its_ceiling():
    (item,) = parse(area("strike", radius_m=300, alt_upper_m=6000))
    assert len(item.shape.polygons) == 1 and item.reach_m == 300.0
    assert item.band == Band(-math.inf, 6000.0)


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (area(start=None), "start", "must be an ISO 8601 time"),
        (area(end="2015-10-01T07:00:00"), "end", "no time zone"),
        (area(end=T0), "end", "must be after start"),
        (area(start=T1, end=T0), "end", "must be after start"),
        (area("strike", radius_m=None), "radius_m", "missing"),
        (area("strike", radius_m=0), "radius_m", "greater than 0"),
        (area("zone", point(), radius_m=-5), "radius_m", "greater than 0"),
        (area("ground", point()), "radius_m", "missing"),
        (area("airspace", point(), radius_m="5km"), "radius_m", "must be a number"),
        (area("airspace", point(), radius_m=True), "radius_m", "a boolean"),
        (area("airspace", radius_m=500), "radius_m", "only a Point"),
        (area(alt_lower_m=5000, alt_upper_m=5000), "alt_upper_m", "above alt_lower_m"),
        (area("zone", alt_lower_m=5000, alt_upper_m=4000), "alt_upper_m", "above alt_lower_m"),
        (area(alt_lower_m="FL100"), "alt_lower_m", "must be a number"),
        (area("strike", alt_upper_m=[1]), "alt_upper_m", "must be a number"),
        (area(name=5), "name", "must be a string"),
        (area("zone", zone_type=1), "zone_type", "must be a string"),
        (area(geometry={"type": "LineString", "coordinates": [[0, 0], [1, 1]]}), "geometry.type",
         "Polygon or MultiPolygon or Point"),
        (area(geometry={"type": "Polygon"}), "geometry.coordinates", "missing"),
        (area("ground", {"type": "Point", "coordinates": [200, 0]}, radius_m=1),
         "geometry.coordinates[0]", "outside [-180, 180]"),
        (area("ground", {"type": "Point", "coordinates": [2]}, radius_m=1),
         "geometry.coordinates", "got 1 numbers"),
    ],
)  # fmt: skip
def test_area_rules(bad, field, reason):
    rejected(bad, field, reason)


def test_area_start_missing():
    bad = area()
    del bad["properties"]["start"]
    rejected(bad, "start", "missing")


# --- polygons ------------------------------------------------------------------------------

BOWTIE = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]


@pytest.mark.parametrize(
    ("geometry", "field", "reason"),
    [
        (polygon(), "geometry.coordinates", "exterior ring"),
        ({"type": "Polygon", "coordinates": "ring"}, "geometry.coordinates", "array of rings"),
        (polygon([[0, 0], [1, 0], [0, 0]]), "geometry.coordinates[0]", "at least 4 positions"),
        (polygon([[0, 0], [1, 0], [1, 1], [0, 1]]), "geometry.coordinates[0]", "must be closed"),
        (polygon(BOWTIE), "geometry.coordinates", "self-intersection near lon 0.5, lat 0.5"),
        (polygon([[0, 0], [1, 1], [2, 2], [0, 0]]), "geometry.coordinates", "self-intersection"),
        (
            polygon([[0, 0], [1, 0], [1, 0], [0, 0], [0, 0]]),
            "geometry.coordinates[0]",
            "fewer than 3 distinct corners",
        ),
        (
            polygon(SQUARE[0], [[40, 40], [41, 40], [41, 41], [40, 40]]),
            "geometry.coordinates",
            "hole lies outside shell",
        ),
        (polygon([[0, 0], [1, 0], "x", [0, 0]]), "geometry.coordinates[0][2]", "a position"),
        ({"type": "MultiPolygon", "coordinates": []}, "geometry.coordinates", "at least one"),
        ({"type": "MultiPolygon", "coordinates": 3}, "geometry.coordinates", "must be an array"),
        (
            {"type": "MultiPolygon", "coordinates": [SQUARE, [BOWTIE]]},
            "geometry.coordinates[1]",
            "self-intersection",
        ),
    ],
)
def test_polygon_rules(geometry, field, reason):
    rejected(area("zone", geometry), field, reason)


def test_polygon_with_hole_keeps_ring_order():
    hole = [[36.1, 35.1], [36.1, 35.2], [36.2, 35.2], [36.1, 35.1]]
    (item,) = parse(area(geometry=polygon(SQUARE[0], hole)))
    (rings,) = item.shape.polygons
    assert len(rings) == 2
    assert rings[1] == tuple((lon, lat) for lon, lat in hole)


def test_repeated_vertices_are_dropped_and_ring_stays_closed():
    ring = [[0, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    (item,) = parse(area(geometry=polygon(ring)))
    assert item.shape.polygons[0][0] == ((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))


def test_multipolygon_and_altitudes_in_rings():
    other = [[[38.0, 35.0, 10.0], [38.5, 35.0, 10.0], [38.5, 35.5, 10.0], [38.0, 35.0, 10.0]]]
    (item,) = parse(area(geometry={"type": "MultiPolygon", "coordinates": [SQUARE, other]}))
    assert len(item.shape.polygons) == 2
    assert item.shape.polygons[1][0][1] == (38.5, 35.0)


def test_antimeridian_polygon_is_accepted_as_given():
    ring = [[179.5, -17.0], [-179.5, -17.0], [-179.5, -16.0], [179.5, -16.0], [179.5, -17.0]]
    (item,) = parse(area(geometry=polygon(ring)))
    assert item.shape.polygons[0][0] == tuple((lon, lat) for lon, lat in ring)


def test_antimeridian_self_intersection_is_found_and_located():
    ring = [[179.0, 0.0], [-179.0, 1.0], [-179.0, 0.0], [179.0, 1.0], [179.0, 0.0]]
    error = rejected(area(geometry=polygon(ring)), "geometry.coordinates", "self-intersection")
    assert "near lon 180, lat 0.5" in error.reason


def test_polygon_around_a_pole_is_accepted():
    ring = [[0.0, 80.0], [90.0, 80.0], [180.0, 80.0], [-90.0, 80.0], [0.0, 80.0]]
    cap = [[0.0, -85.0], [-120.0, -85.0], [120.0, -85.0], [0.0, -85.0]]
    north, south = parse(area(id="n", geometry=polygon(ring)), area(id="s", geometry=polygon(cap)))
    assert north.shape.polygons[0][0][2] == (180.0, 80.0)
    assert len(south.shape.polygons[0][0]) == 4


def test_polygon_around_a_pole_is_still_checked():
    ring = [[0.0, 80.0], [90.0, 80.0], [180.0, 80.0], [-90.0, 80.0], [0.0, 80.0]]
    crossing_hole = [[0.0, 70.0], [180.0, 85.0], [90.0, 85.0], [0.0, 70.0]]
    bad = area(geometry=polygon(ring, crossing_hole))
    rejected(bad, "geometry.coordinates", "around the north pole")


def test_near_pole_vertices_are_allowed():
    ring = [[0.0, 89.0], [10.0, 90.0], [20.0, 89.0], [0.0, 89.0]]
    assert len(parse(area(geometry=polygon(ring)))) == 1


# --- many features, many files -------------------------------------------------------------


def test_one_bad_feature_rejects_all_and_names_the_first():
    with pytest.raises(PlanError) as caught:
        parse(area(id="a"), area(id="b", start="soon"), area(id="c", party=""))
    assert (caught.value.index, caught.value.item_id, caught.value.field) == (1, "b", "start")


def test_skip_invalid_keeps_the_good_and_warns_about_each_bad():
    warnings: list[PlanError] = []
    items = parse(
        area(id="a"),
        area(id="b", start="soon"),
        flight(id="c"),
        area(id="d", party=""),
        area(id="a"),
        skip_invalid=True,
        warn=warnings.append,
    )
    assert [item.id for item in items] == ["a", "c"]
    assert [(w.index, w.item_id, w.field) for w in warnings] == [
        (1, "b", "start"),
        (3, "d", "party"),
        (4, "a", "id"),
    ]
    assert all(w.source == "plan.geojson" for w in warnings)


def test_skip_invalid_without_warn():
    assert [item.id for item in parse(area(id="x", end=T0), area(id="y"), skip_invalid=True)] == [
        "y"
    ]


def test_skip_invalid_accepts_a_later_copy_of_a_skipped_item():
    items = parse(area(id="a", end=T0), area(id="a"), skip_invalid=True)
    assert len(items) == 1


def test_duplicate_in_one_file_names_both_places():
    error = rejected(area(id="ok"), "id", "duplicate")
    assert "feature 0 of plan.geojson" in error.reason and "'red'" in error.reason


def test_same_id_in_different_parties_is_fine():
    assert len(parse(area(id="x"), area(id="x", party="blue"))) == 2


def write(path: Path, *features: Any) -> Path:
    path.write_text(json.dumps(collection(*features)))
    return path


def test_files_are_loaded_in_order(tmp_path):
    first = write(tmp_path / "blue.geojson", flight(id="v1"), flight(id="v2"))
    second = write(tmp_path / "red.geojson", area(id="r1"))
    items = load_plan_files([first, str(second)])
    assert [item.id for item in items] == ["v1", "v2", "r1"]


def test_duplicate_across_files_names_both_files(tmp_path):
    first = write(tmp_path / "a.geojson", area(id="x"), area(id="y"))
    second = write(tmp_path / "b.geojson", area(id="z"), area(id="y"))
    with pytest.raises(PlanError) as caught:
        load_plan_files([first, second])
    error = caught.value
    assert (error.source, error.index, error.item_id, error.field) == (str(second), 1, "y", "id")
    assert f"feature 1 of {first}" in error.reason
    warnings: list[PlanError] = []
    items = load_plan_files([first, second], skip_invalid=True, warn=warnings.append)
    assert [item.id for item in items] == ["x", "y", "z"]
    assert len(warnings) == 1 and warnings[0].source == str(second)


def test_file_problems(tmp_path):
    text = '{"type": "FeatureCollection",\n"features": [}'
    (tmp_path / "bad.geojson").write_text(text)
    column = len(text.splitlines()[1])
    cases = {
        tmp_path / "missing.geojson": "no such file",
        tmp_path: "is a directory",
        tmp_path / "bad.geojson": f"line 2, column {column}",
    }
    for path, reason in cases.items():
        with pytest.raises(PlanError) as caught:
            load_plan_files([path], skip_invalid=True)
        assert caught.value.source == str(path)
        assert reason in caught.value.reason


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions")
def test_unreadable_file(tmp_path):
    path = write(tmp_path / "secret.geojson", area())
    path.chmod(0)
    with pytest.raises(PlanError, match="permission denied"):
        load_plan_files([path])


def test_empty_file_list():
    assert load_plan_files([]) == []


# --- corpora -------------------------------------------------------------------------------


def test_theatre_corpus():
    path = DATA / "theatre" / "theatre-150.geojson"
    raw = json.loads(path.read_text())["features"]
    items = load_plan_files([path])
    assert len(items) == len(raw) == 265
    for item, source in zip(items, raw, strict=True):
        props = source["properties"]
        assert (item.kind.value, item.party, item.id) == (
            props["kind"],
            props["party"],
            source["id"],
        )
        if isinstance(item, Flight):
            assert len(item.times) == len(props["coordTimes"])
            assert item.lon == tuple(p[0] for p in source["geometry"]["coordinates"])
            assert list(item.times) == sorted(item.times)
        else:
            assert item.end > item.start
            if item.kind is Kind.STRIKE:
                assert item.reach_m == props["radius_m"]
                assert item.band.upper_m == props.get("alt_upper_m", 15000.0)
            if source["geometry"]["type"] == "Point":
                assert item.shape.center == tuple(source["geometry"]["coordinates"][:2])
    kinds = {kind: sum(item.kind is kind for item in items) for kind in Kind}
    assert kinds == {k: sum(f["properties"]["kind"] == k.value for f in raw) for k in Kind}
    assert all(kinds.values())


def test_interuss_corpus():
    path = DATA / "interuss" / "interuss-standard.geojson"
    items = load_plan_files([path])
    assert len(items) == 13
    assert all(item.kind is Kind.AIRSPACE for item in items)
    assert all(item.end - item.start == 2701.0 for item in items)
    assert all(math.isfinite(item.band.lower_m) for item in items)


# --- the fast paths accept exactly what the careful checks accept ----------------------------

ANY_VALUE = st.one_of(
    st.floats(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
)
VALID_POSITION = st.tuples(
    st.one_of(st.floats(-180, 180), st.integers(-180, 180)),
    st.one_of(st.floats(-90, 90), st.integers(-90, 90)),
    st.one_of(st.floats(-1e6, 1e6), st.integers(-(10**6), 10**6)),
).map(list)
ANY_POSITION = st.one_of(
    VALID_POSITION, st.lists(ANY_VALUE, max_size=4), st.tuples(ANY_VALUE, ANY_VALUE, ANY_VALUE)
)


@given(st.lists(st.one_of(VALID_POSITION, ANY_POSITION), min_size=2, max_size=6))
def test_fast_and_careful_position_checks_agree(coords):
    try:
        careful = [_geometry._position(p, "c", need_alt=True) for p in coords]
    except Invalid:
        careful = None
    fast = _geometry._fast_columns(coords)
    if fast is not None:
        assert careful is not None
        assert list(zip(*fast, strict=True)) == careful
        assert all(type(v) is float for column in fast for v in column)
    elif careful is not None:
        assert any(type(v) is not float and type(v) is not int for p in coords for v in p)


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5)), None])
SPELLED = st.builds(
    lambda moment, sep, spec: moment.isoformat(sep=sep, timespec=spec).replace("+00:00", "Z"),
    st.datetimes(timezones=ZONES),
    st.sampled_from(["T", "t", " ", "x"]),
    st.sampled_from(["auto", "seconds", "milliseconds", "minutes"]),
)
NOISE = st.text(alphabet="0123456789-:TZz+. W", max_size=26)


@given(st.lists(st.one_of(SPELLED, NOISE, ANY_VALUE), max_size=4))
def test_fast_and_careful_time_checks_agree(values):
    try:
        careful = [_values.instant(value, "t") for value in values]
    except Invalid:
        careful = None
    try:
        fast = _values.instants(values, "t")
    except Invalid:
        fast = None
    assert fast == careful


@given(SPELLED)
def test_times_are_exact(text):
    moment = datetime.fromisoformat(text.replace("t", "T", 1).replace("x", "T"))
    if moment.tzinfo is None:
        return
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    exact = Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 10**6)
    if "x" in text:
        with pytest.raises(Invalid):
            _values.instant(text, "t")
    else:
        assert _values.instant(text, "t") == float(exact)
