"""The inbox and the hotline on the web page, and the other party's page updating live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from detente.interop.results import format_instant
from server.conftest import Live

from .conftest import Tab
from .scenes import both_filed, messages, notice, red_crossing, upload_clash


def test_answering_a_notice_with_wilco_and_a_query_puts_them_in_its_thread(
    live: Live, open_tab: Callable[..., Tab]
):
    conflict_id = both_filed(live)
    blue = open_tab("blue")
    row = notice(blue, conflict_id)
    expect(row).to_have_count(1)
    row.click()
    expect(blue.by("thread")).to_be_visible()
    expect(messages(blue, "wilco")).to_have_count(0)
    blue.by("reply-wilco").click()
    expect(messages(blue, "wilco")).to_have_count(1)
    blue.by("query-text").fill("Is that your tanker at FL200?")
    blue.by("send-query").click()
    expect(messages(blue, "query")).to_have_count(1)
    expect(messages(blue, "query")).to_contain_text("Is that your tanker at FL200?")
    blue.by("reply-ack").click()
    expect(messages(blue, "ack")).to_have_count(1)
    blue.shot("inbox-thread")
    with live.client("red") as red:
        sent = red.get("/v1/messages", params={"conflict": conflict_id}).json()["messages"]
    by_type = {m["type"]: m for m in sent}
    assert set(by_type) == {"wilco", "query", "ack"}
    assert by_type["wilco"]["conflict"] == conflict_id
    assert by_type["query"]["text"] == "Is that your tanker at FL200?"


def test_the_other_partys_page_hears_the_conflict_and_the_answer_without_a_reload(
    live: Live, open_tab: Callable[..., Tab], tmp_path: Path
):
    red_crossing(live)
    red = open_tab("red")
    blue = open_tab("blue")
    expect(red.by("item-r-017")).to_be_visible()  # red's page has loaded what there is
    expect(notice(red)).to_have_count(0)
    expect(red.by("alert-banner")).not_to_be_visible()
    red.page.evaluate("window.__sameDocument = true")

    upload_clash(blue, tmp_path)
    expect(notice(red)).to_have_count(1)
    banner = red.by("alert-banner")
    expect(banner).to_be_visible()
    expect(banner).not_to_be_empty()
    red.shot("other-party-alert")
    expect(red.page.locator("#map .detente-conflict").first).to_be_attached()
    assert red.page.evaluate("window.__sameDocument === true"), "red's page was reloaded"

    red.by("alert-dismiss").click()
    expect(banner).not_to_be_visible()
    notice(red).click()
    expect(red.by("thread")).to_be_visible()
    expect(messages(red, "wilco")).to_have_count(0)

    notice(blue).click()
    blue.by("reply-wilco").click()
    expect(messages(blue, "wilco")).to_have_count(1)
    # Red's open thread gains blue's answer, and the banner says so.
    expect(messages(red, "wilco")).to_have_count(1)
    expect(banner).to_be_visible()
    assert red.page.evaluate("window.__sameDocument === true"), "red's page was reloaded"


def test_an_unanswered_query_past_its_deadline_is_marked_overdue(
    live: Live, open_tab: Callable[..., Tab]
):
    conflict_id = both_filed(live)
    blue = open_tab("blue")
    expect(notice(blue, conflict_id)).to_have_count(1)
    expect(blue.page.locator('[data-testid="inbox"] .overdue')).to_have_count(0)
    due = format_instant(live.store.clock() + 2.0)
    with live.client("red") as red:
        sent = red.post(
            "/v1/messages",
            json={"type": "query", "conflict": conflict_id, "text": "Yours?", "respond_by": due},
        )
        assert sent.status_code == 201, sent.text
    # The server sweeps deadlines every 0.2 s here; the page hears `message.overdue`.
    expect(blue.page.locator('[data-testid="inbox"] .overdue').first).to_be_visible()
