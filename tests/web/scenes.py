"""What the web page's tests set up through the API, and steps they take on the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from server.conftest import DAY, Live
from server.plans import crossing_flight, flight, plan

from .conftest import Tab

#: Epoch seconds of 06:00 on the test day: the plans fly 06:00-07:00.
AT_0600 = DAY + 6 * 3600

#: Leaflet's SVG elements of a kind of own item.
KIND = ".detente-item.detente-kind-{}"
ALERTING_TRACK = ", ".join(
    f".detente-track.detente-alert-{level}" for level in ("advisory", "caution", "warning")
)


def plan_file(directory: Path, name: str, *features: dict[str, Any]) -> Path:
    """Write a plan file (a FeatureCollection) for the page's file input."""
    path = directory / f"{name}.geojson"
    path.write_text(json.dumps(plan(*features)))
    return path


def red_crossing(live: Live) -> None:
    """Red files r-017, which crosses blue's VIPER11 (when filed) at 06:30 over 36.5E 36N."""
    with live.client("red") as red:
        answer = red.put("/v1/items/r-017", json=crossing_flight("r-017"))
        assert answer.status_code == 201, answer.text


def both_filed(live: Live) -> str:
    """Red's r-017 and blue's VIPER11, filed through the API; the id of their conflict."""
    red_crossing(live)
    with live.client("blue") as blue:
        answer = blue.put("/v1/items/VIPER11", json=flight("VIPER11", callsign="VIPER 11"))
        assert answer.status_code == 201, answer.text
        (conflict,) = answer.json()["conflicts"]
    return str(conflict["id"])


def choose_file(tab: Tab, path: Path) -> None:
    """Choose a plan file in the upload control: the page dry-runs it and shows the panel."""
    tab.by("file-input").set_input_files(str(path))
    expect(tab.by("dry-run")).to_be_visible()


def commit(tab: Tab) -> None:
    """Submit the dry-run plan for real and wait for the outcome."""
    tab.by("commit-plan").click()
    expect(tab.by("commit-result")).to_be_visible()
    expect(tab.by("commit-result")).not_to_be_empty()


def upload_clash(tab: Tab, directory: Path) -> None:
    """Blue files VIPER11 through the page, against red's r-017: dry run, then commit."""
    choose_file(tab, plan_file(directory, "blue", flight("VIPER11", callsign="VIPER 11")))
    expect(tab.by("dry-conflict")).to_have_count(1)
    commit(tab)


def notice(tab: Tab, conflict_id: str | None = None) -> Any:
    """The inbox's notice row (of one conflict, when given)."""
    rows = tab.by("inbox").get_by_test_id("notice")
    if conflict_id is None:
        return rows
    return tab.page.locator(
        f'[data-testid="inbox"] [data-testid="notice"][data-conflict-id="{conflict_id}"]'
    )


def messages(tab: Tab, kind: str) -> Any:
    """The selected thread's message rows of one type."""
    return tab.page.locator(f'[data-testid="thread"] [data-testid="message"][data-type="{kind}"]')


#: How visible the most visible element matching a selector is: 0 (absent, hidden) .. 1: the
#: product of the opacities up the tree and the element's own stroke or fill opacity, so that a
#: dimmed item scores below a shown one and a removed or hidden one scores 0.
_VISIBILITY = """(selector) => {
    let best = 0;
    for (const el of document.querySelectorAll(selector)) {
        const own = getComputedStyle(el);
        if (own.display === "none" || own.visibility === "hidden") continue;
        let value = Math.max(
            parseFloat(own.strokeOpacity || "1"), parseFloat(own.fillOpacity || "0"));
        for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
            const style = getComputedStyle(n);
            if (style.display === "none") { value = 0; break; }
            value *= parseFloat(style.opacity || "1");
        }
        best = Math.max(best, value);
    }
    return best;
}"""


def visibility(tab: Tab, selector: str) -> float:
    """How visible the most visible element matching `selector` is (see `_VISIBILITY`)."""
    return float(tab.page.evaluate(_VISIBILITY, selector))


def wait_more_visible(tab: Tab, shown: str, dimmed: str) -> None:
    """Wait until what `shown` selects is more visible than what `dimmed` selects."""
    try:
        tab.page.wait_for_function(
            f"([a, b]) => {{ const v = {_VISIBILITY}; return v(a) > 0 && v(a) > v(b); }}",
            arg=[shown, dimmed],
        )
    except PlaywrightTimeout:
        raise AssertionError(
            f"{shown} (visibility {visibility(tab, shown)}) is not shown above"
            f" {dimmed} (visibility {visibility(tab, dimmed)})"
        ) from None


def set_time(tab: Tab, epoch_s: float) -> None:
    """Move the timeline to `epoch_s` as a user dragging it would (input and change events)."""
    tab.by("timeline").evaluate(
        """(el, value) => {
            el.value = String(value);
            el.dispatchEvent(new Event("input", {bubbles: true}));
            el.dispatchEvent(new Event("change", {bubbles: true}));
        }""",
        epoch_s,
    )
