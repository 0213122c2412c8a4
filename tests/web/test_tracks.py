"""Live tracks on the web page's map, and the alert of a pair losing separation."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from detente.geo import GEOD
from detente.interop.results import format_instant
from server.conftest import Live

from .conftest import Tab
from .scenes import ALERTING_TRACK


def test_posted_tracks_appear_and_an_alerting_pair_is_marked(
    live: Live, open_tab: Callable[..., Tab]
):
    blue = open_tab("blue")
    expect(blue.page.locator("#map .detente-track")).to_have_count(0)
    now = format_instant(live.store.clock())
    # Head on at 6000 m, 30 km apart, 200 m/s each: separation lost in about 75 s.
    blue_track = {
        "uid": "VIPER11", "time": now, "lon": 36.0, "lat": 36.0, "alt_m": 6000,
        "course_deg": 90, "speed_mps": 200, "callsign": "VIPER 11",
    }  # fmt: skip
    red_lon = float(GEOD.fwd(36.0, 36.0, 90.0, 30_000.0)[0])
    red_track = {**blue_track, "uid": "r-17", "callsign": "SOKOL 3", "lon": red_lon,
                 "course_deg": 270}  # fmt: skip
    with live.client("blue") as api, live.client("red") as red_api:
        assert api.post("/v1/tracks", json={"tracks": [blue_track]}).status_code == 202
        assert red_api.post("/v1/tracks", json={"tracks": [red_track]}).status_code == 202
    expect(blue.page.locator("#map .detente-track").first).to_be_attached()
    expect(blue.page.locator(f"#map :is({ALERTING_TRACK})").first).to_be_attached()
    with live.client("blue") as api:
        assert [a["type"] for a in api.get("/v1/alerts").json()["alerts"]] == ["separation"]
    expect(blue.by("alert-banner")).to_be_visible()
    # Red's uid and callsign never reach blue's page.
    assert "r-17" not in blue.page.content() and "SOKOL" not in blue.page.content()
    blue.shot("tracks-alert")
