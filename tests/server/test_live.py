"""Live tracks in the server: reports in, alerts out as events, with minimum disclosure."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest

from detente.geo import GEOD
from detente.interop.results import format_instant
from detente.model import TrackReport
from detente.server.live import LiveTracks, Published
from detente.server.store import Store

from .conftest import Live
from .plans import area, flight

LON, LAT = 36.0, 36.0


def at(store: Store) -> float:
    return store.clock()


def east(metres: float, lon: float = LON, lat: float = LAT) -> float:
    return float(GEOD.fwd(lon, lat, 90.0, metres)[0])


def report(party: str, uid: str, t: float, lon: float, lat: float = LAT, **kw: Any) -> TrackReport:
    values: dict[str, Any] = {"alt_m": 6000.0, "course_deg": 90.0, "speed_mps": 200.0}
    values.update(kw)
    return TrackReport(party, uid, t, lon, lat, **values)


def events(store: Store, name: str) -> list[dict[str, Any]]:
    party = next(p for p in store.parties() if p.name == name)
    return [orjson.loads(body) for _, _, body in store.events_after(party, 0)]


@pytest.fixture
def parties(store: Store) -> Store:
    for name in ("blue", "red", "green"):
        store.add_party(name)
    return store


def test_head_on_pair_alerts_both_parties_and_no_one_else(parties: Store):
    store = parties
    live = LiveTracks(store, hold_s=2.0)
    now = at(store)
    live.accept(
        [
            report("blue", "VIPER11", now, LON, callsign="VIPER 11"),
            report("red", "r-17", now, east(40_000.0), course_deg=270.0, callsign="SOKOL 3"),
        ]
    )
    cycle = live.run_cycle()
    assert len(cycle.separation) == 1
    blue, red = events(store, "blue"), events(store, "red")
    assert events(store, "green") == []
    assert [e["event"] for e in blue] == ["alert.raised"] == [e["event"] for e in red]
    alert = blue[0]["alert"]
    assert alert["type"] == "separation" and alert["level"] == "caution"
    assert alert["own"]["uid"] == "VIPER11" and alert["own"]["callsign"] == "VIPER 11"
    assert alert["other"]["party"] == "red" and len(alert["other"]["position"]) == 3
    assert red[0]["alert"]["id"] == alert["id"]
    assert red[0]["alert"]["own"]["uid"] == "r-17"
    # Neither side learns the other's uid or callsign.
    assert "r-17" not in orjson.dumps(blue).decode() and "SOKOL" not in orjson.dumps(blue).decode()
    assert "VIPER" not in orjson.dumps(red).decode()
    assert [a["id"] for a in live.alerts("blue")] == [alert["id"]]
    assert live.alerts("green") == []
    # Red turns away; after the hold time both are told it cleared.
    store.clock.set(now + 1)
    live.accept([report("red", "r-17", now + 1, east(40_000.0), LAT + 1.0, course_deg=0.0)])
    live.run_cycle()
    store.clock.set(now + 4)
    live.accept([report("red", "r-17", now + 4, east(40_000.0), LAT + 1.0, course_deg=0.0)])
    live.accept([report("blue", "VIPER11", now + 4, LON, course_deg=180.0)])
    live.run_cycle()
    assert [e["event"] for e in events(store, "blue")] == ["alert.raised", "alert.cleared"]
    assert events(store, "red")[-1]["alert"]["level"] is None
    assert live.alerts("blue") == []


def test_intrusion_into_a_stored_zone_tells_both_without_the_zone_id(parties: Store):
    store = parties
    red = next(p for p in store.parties() if p.name == "red")
    day = format_instant(at(store) - 600)
    later = format_instant(at(store) + 3600)
    zone = area("sam-site-7", "zone", east(30_000.0), LAT, 10_000.0, start=day, end=later)
    zone["properties"].update(alt_lower_m=0, alt_upper_m=15_000)
    from detente.server.plans import Change

    store.write(red, [Change("sam-site-7", zone, None)], source="test")
    live = LiveTracks(store)
    live.accept([report("blue", "b1", at(store), LON)])
    cycle = live.run_cycle()
    assert [c.details.rule for c in cycle.intrusion] == ["zone"]
    blue_view = events(store, "blue")[-1]["alert"]
    red_view = events(store, "red")[-1]["alert"]
    assert blue_view["type"] == "intrusion" and blue_view["other"] == {
        "party": "red",
        "kind": "item",
    }
    assert 0 < blue_view["entry_in_s"] < 120
    assert "sam-site-7" not in orjson.dumps(events(store, "blue")).decode()
    assert red_view["own"] == {"item": "sam-site-7"} and red_view["other"]["party"] == "blue"
    assert "b1" not in orjson.dumps(events(store, "red")).decode()


def test_track_off_its_filed_plan_is_nonconforming_for_all(parties: Store):
    store = parties
    blue = next(p for p in store.parties() if p.name == "blue")
    now = at(store)
    route = flight(
        "VIPER11",
        [(LON, LAT, 6000.0), (east(720_000.0), LAT, 6000.0)],
        [format_instant(now - 600), format_instant(now + 3000)],
        callsign="VIPER 11",
    )
    from detente.server.plans import Change

    store.write(blue, [Change("VIPER11", route, None)], source="test")
    live = LiveTracks(store)
    on_plan = east(120_000.0)
    live.accept([report("blue", "t1", now, on_plan, callsign="VIPER11")])  # linked by callsign
    assert live.run_cycle().conformance == []
    live.accept([report("blue", "t1", now + 1, on_plan, LAT + 0.5, callsign="VIPER11")])
    store.clock.set(now + 1)
    cycle = live.run_cycle()
    assert [c.key for c in cycle.conformance] == [("blue", "t1")]
    own = events(store, "blue")[-1]
    assert own["event"] == "track.nonconforming"
    assert own["conformance"]["plan"] is None  # linked by callsign, not by id
    assert own["conformance"]["breach"] == ["lateral"]
    for name in ("red", "green"):
        seen = events(store, name)[-1]
        assert seen["event"] == "track.nonconforming"
        assert seen["conformance"]["track"]["party"] == "blue"
        assert (
            "t1" not in orjson.dumps(seen).decode() and "VIPER" not in orjson.dumps(seen).decode()
        )


def test_sinks_hear_every_published_event(parties: Store):
    heard: list[tuple[str, list[str]]] = []
    shown: list[dict[str, list[dict[str, Any]]]] = []

    def sink(
        at: float, events: Sequence[Published], now: Callable[[str], list[dict[str, Any]]]
    ) -> None:
        heard.extend((event.kind, sorted(event.views)) for event in events)
        shown.append({party: now(party) for party in ("blue", "red", "green")})

    store = parties
    live = LiveTracks(store, sinks=[sink])
    now = at(store)
    live.accept(
        [report("blue", "a", now, LON), report("red", "b", now, east(20_000.0), course_deg=270.0)]
    )
    live.run_cycle()
    assert heard == [("alert.raised", ["blue", "red"])]
    first = shown[-1]["blue"][0]["other"]["position"]
    # The next cycle re-sends the alert with the red aircraft where it is now (moved west).
    store.clock.set(now + 5)
    live.run_cycle()
    assert heard == [("alert.raised", ["blue", "red"])]
    assert shown[-1]["blue"][0]["other"]["position"][0] < first[0]


def test_tracks_over_http_raise_an_alert_event(live: Live):
    now = live.store.clock()
    blue_track = {
        "uid": "b1", "time": format_instant(now), "lon": LON, "lat": LAT, "alt_m": 6000,
        "course_deg": 90, "speed_mps": 200,
    }  # fmt: skip
    red_track = {**blue_track, "uid": "r1", "lon": east(30_000.0), "course_deg": 270}
    with live.client("blue") as blue, live.client("red") as red:
        assert blue.post("/v1/tracks", json={"tracks": [blue_track]}).json() == {"accepted": 1}
        assert red.post("/v1/tracks", json={"tracks": [red_track]}).status_code == 202
        deadline = time.monotonic() + 10
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not found:
            found = [
                e for e in blue.get("/v1/events", params={"after": 0}).json()["events"]
                if e["event"] == "alert.raised"
            ]  # fmt: skip
            time.sleep(0.1)
        assert found, "no alert event within 10 s"
        assert [t["uid"] for t in blue.get("/v1/tracks").json()["tracks"]] == ["b1"]
        alerts = red.get("/v1/alerts").json()["alerts"]
        assert [a["type"] for a in alerts] == ["separation"]


def test_a_bad_batch_is_refused_whole_with_every_error(live: Live):
    good = {"uid": "b1", "time": "2015-10-01T06:00:00Z", "lon": 36, "lat": 36, "alt_m": 6000}
    bad = {**good, "lat": 91}
    with live.client("blue") as blue:
        answer = blue.post("/v1/tracks", json={"tracks": [good, bad, {**good, "uid": ""}]})
        assert answer.status_code == 422
        problem = answer.json()
        assert [(e["index"], e["field"]) for e in problem["errors"]] == [(1, "lat"), (2, "uid")]
        assert "none taken" in problem["detail"]
        assert blue.get("/v1/tracks").json()["tracks"] == []
        assert blue.post("/v1/tracks", json=[good]).status_code == 422
        assert blue.post("/v1/tracks", json={"tracks": [good], "x": 1}).status_code == 422
