"""The 3-D view: items on their bands, flights at altitude, the other side of each conflict."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.conftest import Live
from server.plans import area, flight, plan

from .conftest import Tab
from .scenes import AT_0600, KIND, both_filed, notice, set_time

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "detente" / "examples"

#: Distinct colours (4 bits a channel) of a PNG and the share of the commonest, in the page.
_COLOURS = """async (png) => {
    const image = new Image();
    image.src = "data:image/png;base64," + png;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, image.width, image.height).data;
    const counts = new Map();
    for (let i = 0; i < pixels.length; i += 4) {
        const key = (pixels[i] >> 4) << 8 | (pixels[i + 1] >> 4) << 4 | pixels[i + 2] >> 4;
        counts.set(key, (counts.get(key) || 0) + 1);
    }
    return {distinct: counts.size, commonest: Math.max(...counts.values()) / (pixels.length / 4)};
}"""


def open_3d(tab: Tab) -> dict[str, Any]:
    """Toggle to the 3-D view, wait until MapLibre has drawn it; what its sources hold."""
    tab.by("view-3d").click()
    expect(tab.by("map-3d")).to_be_visible()
    tab.page.wait_for_function("() => window.detente3d && window.detente3d.loaded()")
    counts: dict[str, Any] = tab.page.evaluate("() => window.detente3d.counts()")
    return counts


def colours(tab: Tab) -> dict[str, float]:
    """How many colours the 3-D view's screenshot has, and the share of its commonest one."""
    png = base64.b64encode(tab.by("map-3d").screenshot()).decode()
    answer: dict[str, float] = tab.page.evaluate(_COLOURS, png)
    return answer


@pytest.fixture
def parties() -> tuple[str, ...]:
    return ("coalition", "russia")


def test_the_example_in_3d_shows_every_item_and_the_other_side_of_each_conflict(
    live: Live, open_tab: Callable[..., Tab]
):
    live.store.clock.set(AT_0600 + 300)
    with live.client("russia") as russia:
        answer = russia.post("/v1/plans", content=(EXAMPLES / "russia.geojson").read_bytes())
        assert answer.status_code == 200, answer.text
    with live.client("coalition") as coalition_api:
        answer = coalition_api.post(
            "/v1/plans", content=(EXAMPLES / "coalition.geojson").read_bytes()
        )
        assert answer.status_code == 200, answer.text
        items = coalition_api.get("/v1/items").json()["items"]
        conflicts = coalition_api.get("/v1/conflicts").json()["conflicts"]
    with_geometry = [c for c in conflicts if c["status"] != "resolved" and c["other"]["geometry"]]
    assert len(conflicts) == 6 and with_geometry

    coalition = open_tab("coalition")
    expect(notice(coalition)).to_have_count(6)
    set_time(coalition, AT_0600 + 21 * 60)  # VIPER11 meets a Russian flight
    counts = open_3d(coalition)
    assert counts["flights"] == sum(i["kind"] == "flight" for i in items) == 3
    assert counts["areas"] == sum(i["kind"] != "flight" for i in items) == 3
    assert counts["other"] == len(with_geometry)
    expect(coalition.page.locator("#map")).to_be_hidden()
    expect(coalition.by("map-3d").locator("canvas").first).to_be_visible()
    coalition.shot("view-3d")
    seen = colours(coalition)
    # Sea, land, borders, blocks of several colours and their shading: far from a blank canvas.
    assert seen["distinct"] >= 20, seen
    assert seen["commonest"] < 0.9, seen
    # Of Russia's items the 3-D view discloses no more than the 2-D map: no ids, no callsigns.
    for secret in ("r-017", "r-021", "AD-HMEIMIM", "FALCON17", "PALMYRA"):
        assert secret not in coalition.page.content()

    coalition.by("view-3d").click()
    expect(coalition.by("map-3d")).to_be_hidden()
    expect(coalition.page.locator("#map")).to_be_visible()
    expect(coalition.page.locator("#map " + KIND.format("flight")).first).to_be_visible()


@pytest.mark.parametrize("parties", [("blue", "red")])
def test_the_3d_view_follows_the_timeline_and_new_plans(live: Live, open_tab: Callable[..., Tab]):
    both_filed(live)
    late_zone = area(
        "Z8", "zone", 38.0, 34.0, 20_000.0, start="2015-10-01T08:00:00Z", end="2015-10-01T09:00:00Z"
    )
    with live.client("blue") as api:
        answer = api.post("/v1/plans", json=plan(late_zone))
        assert answer.status_code == 200, answer.text
    tab = open_tab("blue")
    counts = open_3d(tab)
    assert (counts["flights"], counts["areas"], counts["other"]) == (1, 1, 1)

    set_time(tab, AT_0600 + 1800)
    tab.page.wait_for_function("() => window.detente3d.counts().active.flights === 1")
    assert tab.page.evaluate("() => window.detente3d.counts().active") == {
        "flights": 1,
        "areas": 0,
        "other": 1,
    }
    set_time(tab, AT_0600 + 2.5 * 3600)
    tab.page.wait_for_function("() => window.detente3d.counts().active.areas === 1")
    assert tab.page.evaluate("() => window.detente3d.counts().active") == {
        "flights": 0,
        "areas": 1,
        "other": 0,
    }

    # A plan filed while the view is open shows up in it without a reload.
    with live.client("blue") as api:
        answer = api.put("/v1/items/HAWG21", json=flight("HAWG21", callsign="HAWG 21"))
        assert answer.status_code == 201, answer.text
    tab.page.wait_for_function("() => window.detente3d.counts().flights === 2")
    tab.page.wait_for_function("() => window.detente3d.loaded()")
