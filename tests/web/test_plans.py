"""Plans on the web page: upload with a dry run, commit, the map, the timeline, the profile."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from server.conftest import Live
from server.plans import T0, area, flight, plan

from .conftest import Tab
from .scenes import (
    AT_0600,
    KIND,
    both_filed,
    choose_file,
    notice,
    plan_file,
    red_crossing,
    set_time,
    wait_more_visible,
)


def test_upload_dry_runs_then_commits_and_the_conflict_shows_on_map_and_inbox(
    live: Live, open_tab: Callable[..., Tab], tmp_path: Path
):
    red_crossing(live)
    blue = open_tab("blue")
    expect(notice(blue)).to_have_count(0)
    choose_file(blue, plan_file(tmp_path, "blue", flight("VIPER11", callsign="VIPER 11")))
    rows = blue.by("dry-conflict")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("VIPER11")
    blue.shot("dry-run")
    with live.client("blue") as api:
        # A dry run stores nothing.
        assert api.get("/v1/items").json()["items"] == []
        blue.by("commit-plan").click()
        expect(blue.by("commit-result")).to_be_visible()
        expect(blue.by("commit-result")).not_to_be_empty()
        assert [i["id"] for i in api.get("/v1/items").json()["items"]] == ["VIPER11"]
        (conflict,) = api.get("/v1/conflicts").json()["conflicts"]
    expect(blue.by("item-VIPER11")).to_be_visible()
    expect(notice(blue, conflict["id"])).to_have_count(1)
    expect(blue.page.locator("#map " + KIND.format("flight")).first).to_be_attached()
    expect(blue.page.locator("#map .detente-conflict").first).to_be_attached()
    # Of red's item only the clipped geometry near the conflict, and never its id.
    expect(blue.page.locator("#map .detente-other").first).to_be_attached()
    assert "r-017" not in blue.page.content()
    blue.shot("map-conflicts")


def test_an_invalid_plan_lists_every_bad_item_and_field_and_commits_nothing(
    live: Live, open_tab: Callable[..., Tab], tmp_path: Path
):
    bad_times = flight("BAD1")
    bad_times["properties"]["coordTimes"] = [T0]
    path = plan_file(
        tmp_path, "bad", flight("OK1"), bad_times, area("ZN", "zone", 36.5, 36.0, -5.0)
    )
    blue = open_tab("blue")
    blue.expected_status.add(422)
    choose_file(blue, path)
    errors = blue.by("plan-error")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("BAD1")
    expect(errors.nth(0)).to_contain_text("coordTimes")
    expect(errors.nth(1)).to_contain_text("ZN")
    expect(errors.nth(1)).to_contain_text("radius_m")
    expect(blue.by("dry-conflict")).to_have_count(0)
    # Nothing to submit: the button is gone or disabled, and nothing was stored.
    commit = blue.by("commit-plan")
    if commit.count() and commit.is_visible():
        expect(commit).to_be_disabled()
    with live.client("blue") as api:
        assert api.get("/v1/items", params={"status": "all"}).json()["items"] == []
    expect(blue.by("item-OK1")).to_have_count(0)
    blue.shot("plan-errors")


def test_the_timeline_shows_what_is_active_at_the_chosen_time(
    live: Live, open_tab: Callable[..., Tab]
):
    late_zone = area(
        "Z8", "zone", 38.0, 34.0, 20_000.0, start="2015-10-01T08:00:00Z", end="2015-10-01T09:00:00Z"
    )
    with live.client("blue") as api:
        answer = api.post("/v1/plans", json=plan(flight("VIPER11"), late_zone))
        assert answer.status_code == 200, answer.text
    blue = open_tab("blue")
    expect(blue.by("item-VIPER11")).to_be_visible()
    expect(blue.by("item-Z8")).to_be_visible()
    timeline = blue.by("timeline")
    assert timeline.get_attribute("type") == "range"
    # The span of the loaded items: 06:00 to 09:00.
    assert float(timeline.get_attribute("min") or "nan") <= AT_0600
    assert float(timeline.get_attribute("max") or "nan") >= AT_0600 + 3 * 3600

    flight_path, zone_path = "#map " + KIND.format("flight"), "#map " + KIND.format("zone")
    set_time(blue, AT_0600 + 1800)
    expect(blue.by("time-label")).to_contain_text("2015-10-01T06:30")
    wait_more_visible(blue, flight_path, zone_path)

    set_time(blue, AT_0600 + 2.5 * 3600)
    expect(blue.by("time-label")).to_contain_text("2015-10-01T08:30")
    wait_more_visible(blue, zone_path, flight_path)


def test_selecting_a_flight_shows_its_vertical_profile_with_the_conflict(
    live: Live, open_tab: Callable[..., Tab]
):
    both_filed(live)
    blue = open_tab("blue")
    blue.by("item-VIPER11").click()
    profile = blue.by("profile")
    expect(profile).to_be_visible()
    assert profile.evaluate(
        "el => el.tagName.toLowerCase() === 'svg' || el.querySelector('svg') !== null"
    )
    expect(profile.get_by_test_id("profile-conflict").first).to_be_attached()


def test_a_plan_dropped_on_the_drop_zone_is_dry_run_too(live: Live, open_tab: Callable[..., Tab]):
    red_crossing(live)
    blue = open_tab("blue")
    text = json.dumps(plan(flight("VIPER11")))
    transfer = blue.page.evaluate_handle(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "blue.geojson", {type: "application/geo+json"}));
            return transfer;
        }""",
        text,
    )
    zone = blue.by("dropzone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(blue.by("dry-run")).to_be_visible()
    expect(blue.by("dry-conflict")).to_have_count(1)
    with live.client("blue") as api:
        assert api.get("/v1/items").json()["items"] == []
