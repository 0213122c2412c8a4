"""Track reports as JSON records and CSV files: valid ones, and refusals that say where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from detente.errors import TrackError
from detente.interop.track_records import read_track_csv, track_from_record, track_record

GOOD = {
    "uid": "VIPER11",
    "time": "2015-10-01T06:00:00Z",
    "lon": 36.5,
    "lat": 35.2,
    "alt_m": 7620.0,
    "course_deg": 90.0,
    "speed_mps": 230.0,
    "vertical_mps": -2.5,
    "stale": "2015-10-01T06:00:30Z",
    "callsign": "VIPER 11",
    "plan_id": "v11",
}


def test_a_full_record_round_trips():
    report = track_from_record(GOOD, "blue", index=0)
    assert report.party == "blue"
    assert report.stale == report.time + 30.0
    assert track_record(report) == GOOD


def test_course_360_is_north():
    report = track_from_record({**GOOD, "course_deg": 360}, "blue")
    assert report.course_deg == 0.0


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"lat": 95}, "lat", "within [-90, 90]"),
        ({"lon": "east"}, "lon", "must be a number"),
        ({"time": "06:00"}, "time", "ISO 8601"),
        ({"time": None}, "time", "is required"),
        ({"speed_mps": -1}, "speed_mps", "within"),
        ({"speed_mps": 5000}, "speed_mps", "within"),
        ({"course_deg": None}, "course_deg", "go together"),
        ({"stale": "2015-10-01T05:00:00Z"}, "stale", "after time"),
        ({"uid": ""}, "uid", "non-empty"),
        ({"uid": "x" * 200}, "uid", "at most 128"),
        ({"airborne": "yes"}, "airborne", "true or false"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"alt_m": float("nan")}, "alt_m", "finite"),
    ],
)
def test_a_bad_record_names_its_index_field_and_reason(change, field, reason):
    with pytest.raises(TrackError) as caught:
        track_from_record({**GOOD, **change}, "blue", index=7)
    error = caught.value
    assert (error.index, error.field) == (7, field)
    assert reason in error.reason
    assert str(error).startswith("tracks: track 7: ")


def test_not_an_object_is_refused():
    with pytest.raises(TrackError, match="must be an object"):
        track_from_record([1, 2], "blue", index=0)


def test_csv_file_reads_in_order(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text(
        "time,party,uid,lon,lat,alt_m,course_deg,speed_mps,airborne\n"
        "2015-10-01T06:00:00Z,blue,a,36,35,7000,90,200,true\n"
        "2015-10-01T06:00:01Z,red,b,36.1,35,7000,,,false\n"
    )
    reports = list(read_track_csv(path))
    assert [(r.party, r.uid, r.speed_mps, r.airborne) for r in reports] == [
        ("blue", "a", 200.0, True),
        ("red", "b", None, False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,uid,lon,lat,alt_m\n", "lacks the column(s) party"),
        ("time,party,uid,lon,lat,alt_m,colour\n", "unknown column(s) colour"),
        (
            "time,party,uid,lon,lat,alt_m\n2015-10-01T06:00:00Z,blue,a,36,135,7000\n",
            "line 2: lat: must be within",
        ),
        ("time,party,uid,lon,lat,alt_m\n2015-10-01T06:00:00Z,,a,36,35,7000\n", "party: is empty"),
        (
            "time,party,uid,lon,lat,alt_m\n2015-10-01T06:00:00Z,blue,a,36,35,high\n",
            "alt_m: must be a number",
        ),
        (
            "time,party,uid,lon,lat,alt_m\n2015-10-01T06:00:00Z,blue,a,36,35,7000,9\n",
            "more fields than the header",
        ),
    ],
)
def test_a_bad_csv_file_names_the_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TrackError) as caught:
        list(read_track_csv(path))
    assert message in str(caught.value)


def test_a_missing_file_is_a_track_error(tmp_path: Path):
    with pytest.raises(TrackError, match="no such file"):
        list(read_track_csv(tmp_path / "none.csv"))
