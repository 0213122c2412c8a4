"""The README's walk-through, over HTTP on each backend: two parties clash, talk, resolve."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

import detente
from detente.server.store import Store

from .conftest import Live, serving
from .plans import crossing_flight, flight, plan

EXAMPLES = Path(detente.__file__).parent / "examples"


def _collect_sse(
    live: Live, party: str, want: int, out: list[dict], ready: threading.Event
) -> None:
    with live.client(party) as client, client.stream("GET", "/v1/events") as response:
        ready.set()
        event: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                field, _, value = line.partition(":")
                event[field] = value.strip()
            elif not line and "data" in event:
                out.append({"id": int(event["id"]), **json.loads(event["data"])})
                event = {}
                if len(out) >= want:
                    return


def test_clash_notice_wilco_withdraw_resolved(live: Live) -> None:
    red_events: list[dict] = []
    ready = threading.Event()
    listener = threading.Thread(target=_collect_sse, args=(live, "red", 3, red_events, ready))
    listener.start()
    assert ready.wait(10)
    with live.client("blue") as blue, live.client("red") as red:
        answer = blue.post("/v1/plans", json=plan(flight("VIPER11", callsign="VIPER11")))
        assert answer.status_code == 200, answer.text
        assert answer.json()["conflicts"] == []

        answer = red.put("/v1/items/r-017", json=crossing_flight("r-017"))
        assert answer.status_code == 201, answer.text
        assert answer.headers["ETag"] == '"1"'
        [notice] = answer.json()["conflicts"]
        assert notice["kind"] == "air" and notice["own"]["id"] == "r-017"
        assert notice["other"]["party"] == "blue"
        assert "VIPER11" not in json.dumps(notice)

        [blue_notice] = blue.get("/v1/conflicts").json()["conflicts"]
        assert blue_notice["id"] == notice["id"] and blue_notice["own"]["id"] == "VIPER11"
        assert "r-017" not in json.dumps(blue_notice)

        sent = blue.post(
            "/v1/messages", json={"type": "wilco", "conflict": notice["id"], "text": "FL210"}
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["to"] == "red"

        gone = red.delete("/v1/items/r-017", headers={"If-Match": '"1"'})
        assert gone.status_code == 200, gone.text
        assert gone.json()["resolved"] == [notice["id"]]
        assert blue.get(f"/v1/conflicts/{notice['id']}").json()["status"] == "resolved"

    listener.join(20)
    assert [e["event"] for e in red_events] == [
        "item.written",
        "conflict.raised",
        "message.sent",
    ]
    assert red_events[1]["conflict"]["id"] == notice["id"]
    with live.client("red") as red:
        after = red.get("/v1/events", params={"after": red_events[-1]["id"]}).json()
    kinds = [e["event"] for e in after["events"]]
    assert kinds == ["item.withdrawn", "conflict.resolved"]


def test_readme_walkthrough_with_the_example_plans(store: Store) -> None:
    """The README's steps, with its files and party names, exactly."""
    keys = {name: store.add_party(name)[1] for name in ("coalition", "russia")}
    store.clock.set(1443672000.0)  # --clock-start 2015-10-01T04:00:00Z
    with serving(store) as url:

        def client(name: str) -> httpx.Client:
            auth = {"Authorization": f"Bearer {keys[name]}"}
            return httpx.Client(base_url=url, headers=auth, timeout=30)

        with client("coalition") as blue, client("russia") as red:
            filed = blue.post("/v1/plans", content=(EXAMPLES / "coalition.geojson").read_bytes())
            assert filed.status_code == 200, filed.text
            filed = red.post("/v1/plans", content=(EXAMPLES / "russia.geojson").read_bytes())
            assert filed.status_code == 200, filed.text
            assert len(filed.json()["conflicts"]) == 6
            events = blue.get("/v1/events", params={"after": 0}).json()["events"]
            raised = [e for e in events if e["event"] == "conflict.raised"]
            assert len(raised) == 6
            [crossing] = [
                c
                for c in blue.get("/v1/conflicts").json()["conflicts"]
                if c["own"]["id"] == "VIPER11" and c["other"]["kind"] == "flight"
            ]
            wilco = {"type": "wilco", "conflict": crossing["id"], "text": "VIPER11 holds west"}
            assert blue.post("/v1/messages", json=wilco).status_code == 201
            assert red.get("/v1/messages").json()["messages"][0]["type"] == "wilco"
            gone = red.delete("/v1/items/r-017", headers={"If-Match": '"1"'})
            assert gone.status_code == 200, gone.text
            assert gone.json()["resolved"] == [crossing["id"]]
            last = events[-1]["id"]
            news = blue.get("/v1/events", params={"after": last}).json()["events"]
            assert [e["event"] for e in news] == ["message.sent", "conflict.resolved"]
            assert news[1]["conflict"]["status"] == "resolved"


def test_unknown_key_is_refused(live: Live) -> None:
    answer = httpx.get(f"{live.url}/v1/items", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
