"""The HTTP API end to end on each backend: every route's answers and its problem details."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from detente.interop.results import format_instant
from detente.server import api, app, plans

from .conftest import DAY, Live
from .plans import area, crossing_flight, distant_flight, flight, plan

PROBLEM = "application/problem+json"
END = DAY + 7 * 3600


def problem(answer: httpx.Response, status: int, *mentions: str) -> dict[str, Any]:
    """The problem details of `answer`, checked: its status, type and a detail naming `mentions`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = answer.json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    assert body["instance"] == answer.request.url.path
    for word in mentions:
        assert word in body["detail"], (word, body["detail"])
    return body


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


def along(item_id: str, lat: float) -> dict[str, Any]:
    """A flight west to east along `lat`, 06:00-07:00, far from 36N when `lat` is."""
    return flight(item_id, [(36.0, lat, 6000.0), (37.0, lat, 6000.0)])


def iso(t: float) -> str:
    return format_instant(t)


def sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The events of a Server-Sent Events stream as they arrive."""
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield {"id": int(event["id"]), "kind": event["event"], **json.loads(event["data"])}
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.strip()


def stream(live: Live, party: str, last_event_id: int | None = None):
    headers = {"Authorization": f"Bearer {live.keys[party]}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    client = httpx.Client(base_url=live.url, headers=headers, timeout=10)
    return client, client.stream("GET", "/v1/events")


def events(client: httpx.Client, after: int = 0) -> list[dict[str, Any]]:
    return ok(client.get("/v1/events", params={"after": after}))["events"]


@pytest.fixture
def blue(live: Live) -> Iterator[httpx.Client]:
    with live.client("blue") as client:
        yield client


@pytest.fixture
def red(live: Live) -> Iterator[httpx.Client]:
    with live.client("red") as client:
        yield client


@pytest.fixture
def admin(live: Live) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


# -- items -----------------------------------------------------------------------------------


def test_me(blue: httpx.Client) -> None:
    assert ok(blue.get("/v1/me")) == {"party": "blue"}


def test_item_lifecycle(blue: httpx.Client) -> None:
    created = blue.put("/v1/items/b1", json=flight("b1", callsign="ONE"))
    body = ok(created, 201)
    assert body == {
        "item": {"id": "b1", "version": 1, "status": "active"},
        "conflicts": [],
        "resolved": [],
    }
    assert created.headers["ETag"] == '"1"'

    got = blue.get("/v1/items/b1")
    record = ok(got)
    assert got.headers["ETag"] == '"1"'
    assert record["kind"] == "flight" and record["status"] == "active"
    assert record["start"] == "2015-10-01T06:00:00Z" and record["end"] == "2015-10-01T07:00:00Z"
    assert record["feature"]["properties"]["callsign"] == "ONE"
    assert record["feature"]["properties"]["party"] == "blue"
    assert record["feature"]["version"] == 1

    replaced = blue.put(
        "/v1/items/b1", json=flight("b1", callsign="TWO"), headers={"If-Match": '"1"'}
    )
    assert ok(replaced)["item"]["version"] == 2 and replaced.headers["ETag"] == '"2"'
    # No id in the body: the path names the item.
    no_id = {k: v for k, v in distant_flight("x").items() if k != "id"}
    assert ok(blue.put("/v1/items/b2", json=no_id), 201)["item"]["id"] == "b2"

    listed = ok(blue.get("/v1/items"))["items"]
    assert [(i["id"], i["version"]) for i in listed] == [("b1", 2), ("b2", 1)]

    gone = blue.delete("/v1/items/b1", headers={"If-Match": '"2"'})
    assert ok(gone) == {"item": {"id": "b1", "version": 3, "status": "withdrawn"}, "resolved": []}
    assert gone.headers["ETag"] == '"3"'
    assert [i["id"] for i in ok(blue.get("/v1/items"))["items"]] == ["b2"]
    withdrawn = ok(blue.get("/v1/items", params={"status": "withdrawn"}))["items"]
    assert [(i["id"], i["status"]) for i in withdrawn] == [("b1", "withdrawn")]
    assert len(ok(blue.get("/v1/items", params={"status": "all"}))["items"]) == 2
    assert ok(blue.get("/v1/items", params={"status": "expired"}))["items"] == []
    # Written again after withdrawal, it goes on from its last version.
    again = blue.put("/v1/items/b1", json=flight("b1"))
    assert ok(again)["item"]["version"] == 4


@pytest.mark.parametrize("if_match", ['"1"', 'W/"1"', "1"])
def test_if_match_forms(blue: httpx.Client, if_match: str) -> None:
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    answer = blue.put("/v1/items/b1", json=flight("b1"), headers={"If-Match": if_match})
    assert ok(answer)["item"]["version"] == 2


def test_version_problems(blue: httpx.Client) -> None:
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    body = problem(blue.put("/v1/items/b1", json=flight("b1")), 428, "b1", "If-Match")
    assert body["current_version"] == 1
    body = problem(
        blue.put("/v1/items/b1", json=flight("b1"), headers={"If-Match": '"5"'}), 409, "b1"
    )
    assert body["current_version"] == 1
    problem(
        blue.put("/v1/items/b1", json=flight("b1"), headers={"If-Match": '"v1"'}), 400, "If-Match"
    )
    problem(blue.put("/v1/items/b1", json=flight("b1"), headers={"If-Match": "*"}), 400, "If-Match")
    assert problem(blue.delete("/v1/items/b1"), 428, "If-Match")["current_version"] == 1
    problem(blue.delete("/v1/items/b1", headers={"If-Match": '"2"'}), 409, "b1")
    problem(blue.delete("/v1/items/nope", headers={"If-Match": '"1"'}), 404, "nope")
    problem(blue.get("/v1/items/nope"), 404, "nope")
    assert ok(blue.get("/v1/items/b1"))["version"] == 1


def test_feature_problems(live: Live, blue: httpx.Client) -> None:
    body = problem(blue.put("/v1/items/b1", json=flight("b1", party="red")), 422, "party")
    assert [(e["field"], e["item"]) for e in body["errors"]] == [("party", "b1")]
    body = problem(blue.put("/v1/items/b1", json=flight("other")), 422, "other")
    assert [e["field"] for e in body["errors"]] == ["id"]
    no_times = flight("b1")
    del no_times["properties"]["coordTimes"]
    body = problem(blue.put("/v1/items/b1", json=no_times), 422, "coordTimes")
    assert body["errors"][0]["field"] == "coordTimes"
    problem(blue.put("/v1/items/b1", json=[flight("b1")]), 422, "Feature")
    problem(blue.put("/v1/items/b1", content=b'{"type": "Feature",'), 422, "JSON")
    problem(blue.put("/v1/items/b1", content=b""), 422, "JSON")
    problem(blue.put("/v1/items/" + "x" * 129, json=flight("x" * 129)), 422, "item_id")

    live.store.clock.set(END + 1)
    body = problem(blue.put("/v1/items/b1", json=flight("b1")), 422, "ended")
    assert body["errors"][0]["field"] == "end"
    assert ok(blue.get("/v1/items", params={"status": "all"}))["items"] == []
    problem(blue.get("/v1/items", params={"status": "bogus"}), 422, "status")


def test_vertex_bound(monkeypatch: pytest.MonkeyPatch, blue: httpx.Client) -> None:
    monkeypatch.setattr(plans, "MAX_VERTICES_PER_ITEM", 3)
    coords = [(36.0 + k / 4, 36.0, 6000.0) for k in range(4)]
    times = [f"2015-10-01T06:{10 * k:02d}:00Z" for k in range(4)]
    body = problem(blue.put("/v1/items/b1", json=flight("b1", coords, times)), 422, "vertices")
    assert body["errors"][0]["field"] == "geometry"
    square = area("b2", "airspace", 36, 36, 0)
    square["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[36, 36], [36.1, 36], [36.1, 36.1], [36, 36.1], [36, 36]]],
    }
    del square["properties"]["radius_m"]
    problem(blue.put("/v1/items/b2", json=square), 422, "vertices")
    ok(blue.put("/v1/items/b3", json=flight("b3", coords[:3], times[:3])), 201)


@pytest.mark.parametrize("chunked", [False, True])
def test_body_bound(
    monkeypatch: pytest.MonkeyPatch, blue: httpx.Client, admin: httpx.Client, chunked: bool
) -> None:
    monkeypatch.setattr(app, "MAX_BODY_BYTES", 2000)
    monkeypatch.setattr(api, "MAX_BODY_BYTES", 2000)
    big = json.dumps(flight("b1", remarks="x" * 3000)).encode()
    small = json.dumps(flight("b1")).encode()

    def body(raw: bytes) -> Any:
        return iter([raw[:1000], raw[1000:]]) if chunked else raw

    problem(blue.put("/v1/items/b1", content=body(big)), 413, "2000")
    problem(blue.post("/v1/plans", content=body(json.dumps(plan(json.loads(big))).encode())), 413)
    problem(admin.put("/v1/admin/agreement", content=body(b"{" + b" " * 3000 + b"}")), 413)
    assert ok(blue.get("/v1/items", params={"status": "all"}))["items"] == []
    ok(blue.put("/v1/items/b1", content=body(small)), 201)


# -- plans -----------------------------------------------------------------------------------


def test_plans(blue: httpx.Client, red: httpx.Client) -> None:
    ok(red.put("/v1/items/r1", json=crossing_flight("r1")), 201)
    answer = ok(blue.post("/v1/plans", json=plan(flight("b1"), distant_flight("b2"))))
    assert answer["dry_run"] is False
    assert [(i["id"], i["version"]) for i in answer["items"]] == [("b1", 1), ("b2", 1)]
    [notice] = answer["conflicts"]
    assert notice["own"]["id"] == "b1" and notice["other"]["party"] == "red"
    assert answer["resolved"] == []

    moved = {**distant_flight("b1"), "version": 1}
    dry = ok(blue.post("/v1/plans", params={"dry_run": "true"}, json=plan(moved)))
    assert dry["dry_run"] is True and dry["resolved"] == [notice["id"]]
    assert ok(blue.get("/v1/items/b1"))["version"] == 1
    would = ok(blue.post("/v1/plans?dry_run=true", json=plan(flight("b3"))))["conflicts"]
    assert [w["status"] for w in would] == ["would-raise"]
    assert [i["id"] for i in ok(blue.get("/v1/items"))["items"]] == ["b1", "b2"]

    done = ok(blue.post("/v1/plans", json=plan(moved)))
    assert done["items"][0]["version"] == 2 and done["resolved"] == [notice["id"]]


def test_plan_problems(blue: httpx.Client) -> None:
    ok(blue.put("/v1/items/b0", json=distant_flight("b0")), 201)
    no_id = {k: v for k, v in flight("x").items() if k != "id"}
    body = problem(blue.post("/v1/plans", json=plan(flight("b1"), no_id)), 422, "id")
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "id")]
    bad_version = {**flight("b1"), "version": "2"}
    body = problem(blue.post("/v1/plans", json=plan(bad_version)), 422, "version")
    assert body["errors"][0]["field"] == "version"
    mixed = plan(flight("b1"), flight("b2", party="red"), distant_flight("b3"), flight("b1"))
    body = problem(blue.post("/v1/plans", json=mixed), 422, "nothing was stored")
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "party"), (3, "id")]
    problem(blue.post("/v1/plans", json=flight("b1")), 422, "FeatureCollection")
    problem(blue.post("/v1/plans", json={"type": "FeatureCollection"}), 422, "features")
    problem(blue.post("/v1/plans", content=b"[1, 2"), 422, "JSON")
    body = problem(blue.post("/v1/plans", json=plan(distant_flight("b0"))), 428, "b0")
    assert body["current_version"] == 1
    stale = {**distant_flight("b0"), "version": 3}
    problem(blue.post("/v1/plans", json=plan(flight("b5"), stale)), 409, "b0")
    problem(blue.post("/v1/plans", params={"dry_run": "maybe"}, json=plan()), 422, "dry_run")
    assert [i["id"] for i in ok(blue.get("/v1/items"))["items"]] == ["b0"]


# -- conflicts -------------------------------------------------------------------------------


def test_conflicts(blue: httpx.Client, red: httpx.Client) -> None:
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    [notice] = ok(red.put("/v1/items/r1", json=crossing_flight("r1")), 201)["conflicts"]
    assert set(notice) >= {
        "id", "status", "kind", "start", "end", "worst", "intervals", "own", "other",
        "raised_at", "changed_at",
    }  # fmt: skip
    assert notice["other"]["kind"] == "flight" and notice["other"]["band"] is None
    assert notice["other"]["geometry"]["type"] == "LineString"

    [listed] = ok(blue.get("/v1/conflicts"))["conflicts"]
    assert listed["id"] == notice["id"] and listed["own"] == {
        "id": "b1",
        "kind": "flight",
        "version": 1,
    }
    one = ok(blue.get(f"/v1/conflicts/{notice['id']}"))
    assert one["own"]["feature"]["id"] == "b1" and one["own"]["feature"]["version"] == 1
    assert ok(blue.get("/v1/conflicts", params={"status": "resolved"}))["conflicts"] == []
    problem(blue.get("/v1/conflicts", params={"status": "closed"}), 422, "status")
    problem(blue.get("/v1/conflicts/0123456789abcdef"), 404, "0123456789abcdef")

    gone = ok(red.delete("/v1/items/r1", headers={"If-Match": '"1"'}))
    assert gone["resolved"] == [notice["id"]]
    assert ok(blue.get("/v1/conflicts", params={"status": "open"}))["conflicts"] == []
    [resolved] = ok(blue.get("/v1/conflicts", params={"status": "resolved"}))["conflicts"]
    assert resolved["status"] == "resolved"


# -- the hotline -----------------------------------------------------------------------------


def test_query_answered_closes_its_deadline(
    live: Live, blue: httpx.Client, red: httpx.Client
) -> None:
    due = iso(live.store.clock() + 600)
    query = ok(
        blue.post(
            "/v1/messages", json={"type": "query", "to": "red", "text": "FL?", "respond_by": due}
        ),
        201,
    )
    assert query["from"] == "blue" and query["to"] == "red" and query["deadline"] == "open"
    assert query["respond_by"] == due and query["conflict"] is None
    # The sender's own follow-up does not answer it.
    ok(
        blue.post("/v1/messages", json={"type": "reply", "in_reply_to": query["id"], "text": "?"}),
        201,
    )
    assert ok(red.get(f"/v1/messages/{query['id']}"))["deadline"] == "open"

    reply = ok(
        red.post(
            "/v1/messages", json={"type": "reply", "in_reply_to": query["id"], "text": "FL210"}
        ),
        201,
    )
    assert reply["to"] == "blue" and reply["thread"] == query["thread"]
    assert reply["in_reply_to"] == query["id"] and reply["deadline"] is None
    assert ok(blue.get(f"/v1/messages/{query['id']}"))["deadline"] == "answered"

    live.store.clock.set(live.store.clock() + 3600)
    live.store.sweep()
    assert ok(blue.get(f"/v1/messages/{query['id']}"))["deadline"] == "answered"
    assert "message.overdue" not in [e["event"] for e in events(blue)]

    thread = ok(blue.get("/v1/messages", params={"thread": query["thread"]}))["messages"]
    assert [m["type"] for m in thread] == ["query", "reply", "reply"]
    assert thread == ok(red.get("/v1/messages", params={"thread": query["thread"]}))["messages"]
    other = ok(red.post("/v1/messages", json={"type": "notice", "to": "blue", "text": "hi"}), 201)
    assert other["thread"] != query["thread"]
    assert len(ok(blue.get("/v1/messages"))["messages"]) == 4
    assert ok(blue.get("/v1/messages", params={"thread": "nope"}))["messages"] == []


def test_unanswered_query_becomes_overdue(
    live: Live, blue: httpx.Client, red: httpx.Client
) -> None:
    due = live.store.clock() + 60
    query = ok(
        blue.post("/v1/messages", json={"type": "query", "to": "red", "respond_by": iso(due)}), 201
    )
    live.store.clock.set(due + 1)
    live.store.sweep()
    for client in (blue, red):
        assert ok(client.get(f"/v1/messages/{query['id']}"))["deadline"] == "overdue"
        overdue = [e for e in events(client) if e["event"] == "message.overdue"]
        assert [e["message"]["id"] for e in overdue] == [query["id"]]
        assert overdue[0]["message"]["deadline"] == "overdue"
    # A late answer still closes it.
    ok(red.post("/v1/messages", json={"type": "ack", "in_reply_to": query["id"]}), 201)
    assert ok(blue.get(f"/v1/messages/{query['id']}"))["deadline"] == "answered"


def test_messages_about_a_conflict(blue: httpx.Client, red: httpx.Client) -> None:
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    [notice] = ok(red.put("/v1/items/r1", json=crossing_flight("r1")), 201)["conflicts"]
    sent = ok(blue.post("/v1/messages", json={"type": "wilco", "conflict": notice["id"]}), 201)
    assert (
        sent["to"] == "red" and sent["thread"] == notice["id"] and sent["conflict"] == notice["id"]
    )
    answer = ok(red.post("/v1/messages", json={"type": "ack", "in_reply_to": sent["id"]}), 201)
    assert answer["conflict"] == notice["id"]
    about = ok(red.get("/v1/messages", params={"conflict": notice["id"]}))["messages"]
    assert [m["id"] for m in about] == [sent["id"], answer["id"]]
    problem(
        blue.post("/v1/messages", json={"type": "notice", "conflict": notice["id"], "to": "green"}),
        422,
        "green",
    )


@pytest.mark.parametrize(
    ("message", "status", "mention"),
    [
        ({"type": "shout", "to": "red"}, 422, "type"),
        ({"to": "red"}, 422, "type"),
        ({"type": "notice"}, 422, "to"),
        ({"type": "notice", "to": "nobody"}, 422, "nobody"),
        ({"type": "notice", "to": "blue"}, 422, "yourself"),
        ({"type": "notice", "to": "red", "text": "x" * 4001}, 422, "text"),
        ({"type": "notice", "to": "red", "colour": "red"}, 422, "colour"),
        ({"type": "notice", "to": "red", "respond_by": "tomorrow"}, 422, "respond_by"),
        ({"type": "notice", "to": "red", "respond_by": "2015-09-30T00:00:00Z"}, 422, "respond_by"),
        ({"type": "wilco", "to": "red"}, 422, "in_reply_to"),
        ({"type": "reply", "in_reply_to": "nope"}, 404, "nope"),
        ({"type": "ack", "conflict": "nope"}, 404, "nope"),
    ],
)
def test_message_problems(blue: httpx.Client, message: dict, status: int, mention: str) -> None:
    problem(blue.post("/v1/messages", json=message), status, mention)
    assert ok(blue.get("/v1/messages"))["messages"] == []


def test_response_with_a_deadline_is_refused(
    blue: httpx.Client, red: httpx.Client, live: Live
) -> None:
    first = ok(blue.post("/v1/messages", json={"type": "notice", "to": "red"}), 201)
    late = iso(live.store.clock() + 60)
    reply = {"type": "reply", "in_reply_to": first["id"], "respond_by": late}
    problem(red.post("/v1/messages", json=reply), 422, "respond_by")
    problem(blue.post("/v1/messages", content=b"{"), 422)


def test_messages_are_immutable(blue: httpx.Client) -> None:
    sent = ok(blue.post("/v1/messages", json={"type": "notice", "to": "red", "text": "hi"}), 201)
    path = f"/v1/messages/{sent['id']}"
    for method in ("PUT", "PATCH", "DELETE"):
        problem(blue.request(method, path, json={"text": "changed"}), 405)
    problem(blue.request("DELETE", "/v1/messages"), 405)
    assert ok(blue.get(path))["text"] == "hi"
    problem(blue.get("/v1/nowhere"), 404)


# -- events ----------------------------------------------------------------------------------


def test_events_paging(blue: httpx.Client, red: httpx.Client) -> None:
    assert ok(blue.get("/v1/events", params={"after": 0})) == {"events": [], "last": 0}
    for n in range(5):
        ok(blue.put(f"/v1/items/b{n}", json=distant_flight(f"b{n}")), 201)
    seen: list[dict] = []
    after = 0
    while True:
        page = ok(blue.get("/v1/events", params={"after": after, "limit": 2}))
        if not page["events"]:
            assert page["last"] == after
            break
        assert len(page["events"]) <= 2
        seen += page["events"]
        after = page["last"]
    assert [e["id"] for e in seen] == [1, 2, 3, 4, 5]
    assert [e["event"] for e in seen] == ["item.written"] * 5
    assert [e["item"]["id"] for e in seen] == [f"b{n}" for n in range(5)]
    assert all(e["at"] >= DAY for e in seen)
    assert ok(red.get("/v1/events", params={"after": 0}))["events"] == []
    problem(blue.get("/v1/events", params={"after": -1}), 422, "after")
    problem(blue.get("/v1/events", params={"after": 0, "limit": 0}), 422, "limit")


def test_event_stream_resumes_exactly_once(
    live: Live, blue: httpx.Client, red: httpx.Client
) -> None:
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    ok(red.put("/v1/items/r1", json=crossing_flight("r1")), 201)
    ok(red.post("/v1/messages", json={"type": "notice", "to": "blue"}), 201)

    client, request = stream(live, "blue")
    with client, request as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        got = sse(response)
        first = [next(got) for _ in range(3)]
    assert [(e["id"], e["kind"]) for e in first] == [
        (1, "item.written"),
        (2, "conflict.raised"),
        (3, "message.sent"),
    ]
    assert all(e["event"] == e["kind"] for e in first)

    # Missed while away.
    ok(red.put("/v1/items/r1", json=distant_flight("r1"), headers={"If-Match": '"1"'}))
    ok(red.post("/v1/messages", json={"type": "notice", "to": "blue", "text": "moved"}), 201)

    client, request = stream(live, "blue", last_event_id=3)
    with client, request as response:
        got = sse(response)
        missed = [next(got), next(got)]
        assert [(e["id"], e["kind"]) for e in missed] == [
            (4, "conflict.resolved"),
            (5, "message.sent"),
        ]
        assert missed[1]["message"]["text"] == "moved"
        # Then live, once each, in order.
        ok(blue.put("/v1/items/b2", json=along("b2", 33.0)), 201)
        ok(red.post("/v1/messages", json={"type": "notice", "to": "blue", "text": "again"}), 201)
        live_ones = [next(got), next(got)]
        assert [(e["id"], e["kind"]) for e in live_ones] == [
            (6, "item.written"),
            (7, "message.sent"),
        ]

    client, request = stream(live, "blue", last_event_id=7)
    with client, request as response:
        got = sse(response)
        ok(blue.put("/v1/items/b3", json=along("b3", 32.0)), 201)
        assert next(got)["id"] == 8

    bad = httpx.get(
        f"{live.url}/v1/events",
        headers={"Authorization": f"Bearer {live.keys['blue']}", "Last-Event-ID": "x"},
    )
    problem(bad, 400, "Last-Event-ID")


# -- administration --------------------------------------------------------------------------


def test_admin_parties(live: Live, admin: httpx.Client) -> None:
    listed = ok(admin.get("/v1/admin/parties"))["parties"]
    assert listed == [{"name": n, "revoked": False} for n in ("blue", "red", "green")]
    made = ok(admin.post("/v1/admin/parties", json={"name": "white"}), 201)
    assert made["name"] == "white" and made["key"]
    white = {"Authorization": f"Bearer {made['key']}"}
    assert ok(httpx.get(f"{live.url}/v1/me", headers=white)) == {"party": "white"}
    problem(admin.post("/v1/admin/parties", json={"name": "white"}), 409, "white")
    problem(admin.post("/v1/admin/parties", json={"name": "-bad name"}), 422, "bad name")
    problem(admin.post("/v1/admin/parties", json={}), 422, "name")

    rotated = ok(admin.post("/v1/admin/parties/white/rotate-key"))
    assert rotated["name"] == "white" and rotated["key"] != made["key"]
    problem(httpx.get(f"{live.url}/v1/me", headers=white), 401)
    new = {"Authorization": f"Bearer {rotated['key']}"}
    assert ok(httpx.get(f"{live.url}/v1/me", headers=new)) == {"party": "white"}

    assert ok(admin.post("/v1/admin/parties/white/revoke")) == {"name": "white", "revoked": True}
    problem(httpx.get(f"{live.url}/v1/me", headers=new), 401)
    assert {"name": "white", "revoked": True} in ok(admin.get("/v1/admin/parties"))["parties"]
    problem(admin.post("/v1/admin/parties/nobody/rotate-key"), 404, "nobody")
    problem(admin.post("/v1/admin/parties/nobody/revoke"), 404, "nobody")


def test_admin_agreement(admin: httpx.Client, blue: httpx.Client, red: httpx.Client) -> None:
    agreement = ok(admin.get("/v1/admin/agreement"))
    assert agreement["horizontal_m"] == 9260.0 and agreement["include_own"] is False
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    parallel = flight("r1", [(36.0, 36.1, 6000.0), (37.0, 36.1, 6000.0)])  # 11 km north
    assert ok(red.put("/v1/items/r1", json=parallel), 201)["conflicts"] == []

    wider = ok(admin.put("/v1/admin/agreement", json={"horizontal_m": 15000}))
    assert wider["horizontal_m"] == 15000 and wider["conflicts"] == 1
    assert wider["vertical_m"] == 304.8
    assert len(ok(blue.get("/v1/conflicts", params={"status": "open"}))["conflicts"]) == 1
    assert ok(admin.get("/v1/admin/agreement"))["horizontal_m"] == 15000

    body = problem(
        admin.put("/v1/admin/agreement", json={"horizontal_nm": 5}), 422, "horizontal_nm"
    )
    assert body["errors"][0]["field"] == "horizontal_nm"
    problem(admin.put("/v1/admin/agreement", json={"horizontal_m": -1}), 422, "horizontal_m")
    problem(admin.put("/v1/admin/agreement", json=[1]), 422, "object")
    problem(admin.put("/v1/admin/agreement", content=b"{"), 422, "JSON")

    back = ok(admin.put("/v1/admin/agreement", json={}))
    assert back["horizontal_m"] == 9260.0 and back["conflicts"] == 0
    assert ok(red.get("/v1/conflicts", params={"status": "open"}))["conflicts"] == []
    kinds = [e["event"] for e in events(red)]
    assert [k for k in kinds if k.startswith("conflict.")][-2:] == [
        "conflict.raised",
        "conflict.resolved",
    ]
    # Every party hears of each agreement adopted, before the conflicts it changes.
    adopted = [e for e in events(blue) if e["event"] == "agreement.adopted"]
    assert [e["agreement"]["horizontal_m"] for e in adopted] == [15000.0, 9260.0]
    assert kinds.index("agreement.adopted") < kinds.index("conflict.raised")


def test_expiry_over_http(live: Live, blue: httpx.Client) -> None:
    ok(blue.put("/v1/items/b1", json=flight("b1")), 201)
    live.store.clock.set(END + 1)
    live.store.sweep()
    assert ok(blue.get("/v1/items"))["items"] == []
    assert ok(blue.get("/v1/items/b1"))["status"] == "expired"
    expired = [e for e in events(blue) if e["event"] == "item.expired"]
    expected = {"party": "blue", "id": "b1", "version": 1, "status": "expired"}
    assert [e["item"] for e in expired] == [expected]
    problem(blue.delete("/v1/items/b1", headers={"If-Match": '"1"'}), 404, "b1")


def test_listings_page_with_limit_and_after(blue: httpx.Client, red: httpx.Client) -> None:
    ok(blue.post("/v1/plans", json=plan(*(flight(f"b{k}") for k in range(5)))))
    ok(red.post("/v1/plans", json=plan(crossing_flight("r1"), crossing_flight("r2"))))
    every = [i["id"] for i in ok(blue.get("/v1/items"))["items"]]
    pages, after = [], None
    while True:
        page = ok(blue.get("/v1/items", params={"limit": 2, **({"after": after} if after else {})}))
        pages.append([i["id"] for i in page["items"]])
        after = page["next"]
        if after is None:
            break
    assert [i for p in pages for i in p] == every and max(len(p) for p in pages) == 2
    notices = [c["id"] for c in ok(blue.get("/v1/conflicts"))["conflicts"]]
    assert len(notices) == 10
    seen, after = [], None
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        page = ok(blue.get("/v1/conflicts", params=params))
        seen += [c["id"] for c in page["conflicts"]]
        after = page["next"]
        if after is None:
            break
    assert seen == notices
    problem(blue.get("/v1/conflicts", params={"after": "nonsense"}), 400, "cursor")
    problem(blue.get("/v1/items", params={"limit": 0}), 422, "limit")
