"""`detente replay`: recorded tracks (CSV, CoT logs) through the tactical cycle."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from detente.cli import app
from detente.interop.cot import track_event
from detente.interop.track_records import read_track_csv

runner = CliRunner()

# Blue eastbound and red westbound along 36N, 0.6 deg apart: caution at once, then warning;
# at 06:02 they turn apart and the alert clears after its hold.
ENCOUNTER = """time,party,uid,lon,lat,alt_m,course_deg,speed_mps,callsign
2015-10-01T06:00:00Z,blue,b1,36.0,36.0,6000,90,200,VIPER 11
2015-10-01T06:00:00Z,red,r1,36.6,36.0,6000,270,200,SOKOL 3
2015-10-01T06:01:00Z,blue,b1,36.133,36.0,6000,90,200,VIPER 11
2015-10-01T06:01:00Z,red,r1,36.467,36.0,6000,270,200,SOKOL 3
2015-10-01T06:02:00Z,blue,b1,36.266,36.0,6000,0,200,VIPER 11
2015-10-01T06:02:00Z,red,r1,36.334,36.0,6000,180,200,SOKOL 3
2015-10-01T06:03:00Z,blue,b1,36.266,36.3,6000,0,200,VIPER 11
2015-10-01T06:03:00Z,red,r1,36.334,35.7,6000,180,200,SOKOL 3
"""


def replay(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["replay", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_csv_replay_prints_the_alert_as_it_rises_and_clears(tmp_path: Path):
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(ENCOUNTER)
    code, out, err = replay(tracks, "--format", "json")
    assert code == 1
    changes = [json.loads(line) for line in out.splitlines()]
    assert [(c["change"], c["level"]) for c in changes] == [
        ("raised", "caution"),
        ("escalated", "warning"),
        ("cleared", None),
    ]
    assert changes[0]["what"] == "blue/b1 x red/r1"
    assert changes[0]["at"] == "2015-10-01T06:00:00Z"
    assert "1 alert(s) raised" in err and "real time" in err


def test_the_same_tracks_as_cot_logs_give_the_same_alerts(tmp_path: Path):
    csv_path = tmp_path / "tracks.csv"
    csv_path.write_text(ENCOUNTER)
    reports = list(read_track_csv(csv_path))
    logs = []
    for party in ("blue", "red"):
        log = tmp_path / f"{party}.cot"
        log.write_bytes(b"".join(track_event(r) for r in reports if r.party == party))
        logs.append(f"{party}={log}")
    _, from_csv, _ = replay(csv_path, "--format", "json")
    code, from_cot, _ = replay(*logs, "--format", "json")
    assert code == 1
    assert from_cot == from_csv


def test_tracks_into_a_zone_of_a_plan_file(tmp_path: Path):
    zone = {
        "type": "Feature",
        "id": "roz-1",
        "geometry": {"type": "Point", "coordinates": [36.4, 36.0]},
        "properties": {
            "kind": "zone", "party": "red", "radius_m": 10000,
            "start": "2015-10-01T05:00:00Z", "end": "2015-10-01T08:00:00Z",
        },
    }  # fmt: skip
    plans = tmp_path / "red.geojson"
    plans.write_text(json.dumps({"type": "FeatureCollection", "features": [zone]}))
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(
        "time,party,uid,lon,lat,alt_m,course_deg,speed_mps\n"
        "2015-10-01T06:00:00Z,blue,b1,36.0,36.0,6000,90,200\n"
    )
    code, out, _ = replay(tracks, "--plans", plans, "--format", "json")
    assert code == 1
    first = json.loads(out.splitlines()[0])
    assert (first["type"], first["rule"], first["what"]) == (
        "intrusion",
        "zone",
        "blue/b1 x red/roz-1",
    )


def test_bad_input_is_one_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,party,uid,lon,lat,alt_m\n2015-10-01T06:00:00Z,blue,b1,36,99,6000\n")
    code, _, err = replay(bad)
    assert code == 2
    assert "line 2: lat: must be within" in err
    code, _, err = replay(tmp_path / "x.cot")
    assert code == 2 and "PARTY=FILE" in err
    garbage = tmp_path / "g.cot"
    garbage.write_bytes(b"<event uid='x' type='a-f-A'><point lat='1'/></event>")
    code, _, err = replay(f"blue={garbage}")
    assert code == 2 and "event 0" in err


def test_quiet_traffic_exits_zero(tmp_path: Path):
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(
        "time,party,uid,lon,lat,alt_m,course_deg,speed_mps\n"
        "2015-10-01T06:00:00Z,blue,b1,36.0,36.0,6000,90,200\n"
        "2015-10-01T06:00:00Z,red,r1,36.0,38.0,6000,90,200\n"
    )
    code, out, _ = replay(tracks)
    assert code == 0 and out == ""
