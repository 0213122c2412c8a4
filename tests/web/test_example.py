"""The bundled Syria-2015 example through the web page: the coalition files its day on the page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from detente.cli_server import DEMO_CLOCK
from server.conftest import Live

from .conftest import Tab
from .scenes import KIND, choose_file, commit, notice

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "detente" / "examples"


@pytest.fixture
def parties() -> tuple[str, ...]:
    return ("coalition", "russia")


def test_the_coalition_files_the_example_on_the_page_and_sees_its_six_notices(
    live: Live, open_tab: Callable[..., Tab]
):
    live.store.clock.set(DEMO_CLOCK)  # as `detente demo` runs
    with live.client("russia") as russia:
        answer = russia.post("/v1/plans", content=(EXAMPLES / "russia.geojson").read_bytes())
        assert answer.status_code == 200, answer.text
    coalition = open_tab("coalition")
    choose_file(coalition, EXAMPLES / "coalition.geojson")
    expect(coalition.by("dry-conflict")).to_have_count(6)
    commit(coalition)
    with live.client("coalition") as api:
        conflicts = api.get("/v1/conflicts").json()["conflicts"]
    assert len(conflicts) == 6
    expect(notice(coalition)).to_have_count(6)
    for kind in ("flight", "airspace", "ground", "strike"):
        expect(coalition.page.locator("#map " + KIND.format(kind)).first).to_be_attached()
    # Of Russia's items the page shows neither ids nor callsigns.
    for secret in ("r-017", "r-021", "AD-HMEIMIM", "ORBIT-ALEPPO", "PALMYRA"):
        assert secret not in coalition.page.content()

    crossing = next(c for c in conflicts if c["own"]["id"] == "VIPER11" and c["kind"] == "air")
    notice(coalition, crossing["id"]).click()
    expect(coalition.by("thread")).to_be_visible()
    coalition.by("item-VIPER11").click()
    expect(coalition.by("profile").get_by_test_id("profile-conflict").first).to_be_attached()
    # The README's picture (docs/images/cop.png) is this screenshot.
    coalition.shot("cop")
