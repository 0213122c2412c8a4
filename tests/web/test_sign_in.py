"""Signing in to the web page: by the form, by the `#key=` fragment, with a bad key."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from server.conftest import Live

from .conftest import Tab


def test_sign_in_by_form_shows_the_party_and_sign_out_forgets_the_key(
    live: Live, open_tab: Callable[..., Tab]
):
    tab = open_tab("blue", sign_in=False)
    tab.page.goto(live.url + "/")
    expect(tab.by("key")).to_be_visible()
    expect(tab.by("party")).not_to_contain_text("blue")
    tab.by("key").fill(live.keys["blue"])
    tab.by("sign-in").click()
    tab.wait_signed_in()
    expect(tab.by("party")).to_contain_text("blue")
    assert "red" not in tab.by("party").inner_text()
    expect(tab.page.locator("#map")).to_be_visible()
    assert live.keys["blue"] in tab.page.evaluate("JSON.stringify(sessionStorage)")
    assert live.keys["blue"] not in tab.page.evaluate("JSON.stringify(localStorage)")

    tab.by("sign-out").click()
    expect(tab.by("key")).to_be_visible()
    assert live.keys["blue"] not in tab.page.evaluate("JSON.stringify(sessionStorage)")


def test_sign_in_by_url_fragment_removes_the_key_from_the_address_bar(
    live: Live, open_tab: Callable[..., Tab]
):
    tab = open_tab("red", sign_in=False)
    tab.page.goto(f"{live.url}/#key={live.keys['red']}")
    tab.wait_signed_in()
    expect(tab.by("party")).to_contain_text("red")
    assert "key=" not in tab.page.url and live.keys["red"] not in tab.page.url
    assert live.keys["red"] not in tab.page.evaluate("JSON.stringify(localStorage)")
    # The key lives in the tab's session: a reload keeps the party signed in.
    tab.page.reload()
    tab.wait_signed_in()
    expect(tab.by("party")).to_contain_text("red")


def test_a_bad_key_shows_the_servers_problem_and_does_not_sign_in(
    live: Live, open_tab: Callable[..., Tab]
):
    tab = open_tab(None)
    tab.expected_status.add(401)
    tab.page.goto(live.url + "/")
    tab.by("key").fill("dtk_not-a-key")
    tab.by("sign-in").click()
    expect(tab.by("sign-in-error")).to_be_visible()
    # The server's problem detail, not a generic text.
    expect(tab.by("sign-in-error")).to_contain_text("unknown or revoked")
    expect(tab.by("key")).to_be_visible()
    expect(tab.by("party")).not_to_contain_text("blue")
    expect(tab.by("party")).not_to_contain_text("red")


def test_the_page_runs_on_the_servers_exercise_clock(live: Live, open_tab: Callable[..., Tab]):
    # The store's exercise clock started at 2015-10-01T00:00Z when this test began.
    tab = open_tab("blue")
    expect(tab.by("clock")).to_have_text(re.compile(r"^\d\d:\d\d:\d\dZ$"))
    shown = tab.by("clock").inner_text()
    assert shown.startswith("00:0"), f"the page's clock reads {shown}, not the exercise clock"


def test_with_nothing_filed_the_timeline_shows_the_exercise_time(
    live: Live, open_tab: Callable[..., Tab]
):
    tab = open_tab("blue")
    expect(tab.by("clock")).to_have_text(re.compile(r"^00:0\d:\d\dZ$"))
    expect(tab.by("time-label")).to_contain_text("2015-10-01T")
    label = tab.by("time-label").inner_text()
    assert label.startswith("2015-10-01T00:0"), f"the timeline shows {label} with nothing filed"
