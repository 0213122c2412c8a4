"""`PlanFastPath`: plain plan submissions answered beside the framework's routing, exactly as
the route answers them; everything else left to the route, body intact."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from anyio import CapacityLimiter

from detente.server import fast_plans
from detente.server.fast_plans import PLANS_PATH, PlanFastPath
from detente.server.store import Store

from .conftest import Live
from .plans import crossing_flight, flight, plan


class Downstream:
    """The application behind the fast path: records what reaches it and answers 299."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(
    store: Store,
    body: bytes,
    *,
    key: str | None,
    authorization: bytes | None = None,
    method: str = "POST",
    path: str = PLANS_PATH,
    query: bytes = b"",
    chunk: int | None = None,
    gone: bool = False,
) -> tuple[int | None, dict[str, str], bytes, Downstream]:
    """One request through a `PlanFastPath` over `store`: status (None: no answer), headers,
    body, and what reached the application behind. `gone`: the client leaves at once."""
    downstream = Downstream()
    fast = PlanFastPath(downstream, store)
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        authorization = f"Bearer {key}".encode()
    if authorization is not None:
        headers.append((b"authorization", authorization))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers,
        "app": SimpleNamespace(state=SimpleNamespace(writers=CapacityLimiter(4))),
    }
    size = chunk or max(len(body), 1)
    messages = [
        {"type": "http.request", "body": body[k : k + size], "more_body": k + size < len(body)}
        for k in range(0, max(len(body), 1), size)
    ]
    if gone:
        messages = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(fast(scope, receive, send))
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is None:
        return None, {}, b"", downstream
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], names, answer, downstream


def known(store: Store, name: str) -> str:
    """A new party's key, remembered by the store as valid (as after a first request)."""
    key = store.add_party(name)[1]
    assert store.party_for_key(key) is not None
    return key


def test_a_plan_of_a_known_party_is_written_without_the_route(store: Store) -> None:
    blue = known(store, "blue")
    body = orjson.dumps(plan(flight("f1", callsign="BLUE1")))
    status, headers, answer, downstream = call(store, body, key=blue)
    assert downstream.bodies == []
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(answer)
    assert orjson.loads(answer) == {
        "dry_run": False,
        "items": [{"id": "f1", "version": 1, "status": "active"}],
        "conflicts": [],
        "resolved": [],
    }
    party = store.cached_party(blue)
    assert party is not None
    assert store.get_item(party, "f1")["version"] == 1


def test_its_notices_are_those_stored(store: Store) -> None:
    blue, red = known(store, "blue"), known(store, "red")
    call(store, orjson.dumps(plan(flight("b1"))), key=blue)
    status, _, answer, downstream = call(store, orjson.dumps(plan(crossing_flight("r1"))), key=red)
    assert (status, downstream.bodies) == (200, [])
    notices = orjson.loads(answer)["conflicts"]
    assert len(notices) == 1
    red_party = store.cached_party(red)
    assert red_party is not None
    stored = store.list_conflicts(red_party, "open")
    assert [n["id"] for n in notices] == [c["id"] for c in stored]


def test_a_body_in_pieces_is_read_whole(store: Store) -> None:
    blue = known(store, "blue")
    body = orjson.dumps(plan(flight("f1"), flight("f2")))
    status, _, answer, _ = call(store, body, key=blue, chunk=17)
    assert status == 200
    assert [i["id"] for i in orjson.loads(answer)["items"]] == ["f1", "f2"]


@pytest.mark.parametrize(
    "case",
    [
        *("dry run", "any query", "unknown key", "no key", "not a bearer", "method", "path"),
        *("not json", "not a plan", "an id missing"),
    ],
)
def test_the_rest_goes_to_the_route_with_its_body(store: Store, case: str) -> None:
    blue = known(store, "blue")
    body = orjson.dumps(plan(flight("f1")))
    kwargs: dict[str, Any] = {"key": blue}
    if case == "dry run":
        kwargs["query"] = b"dry_run=true"
    elif case == "any query":
        kwargs["query"] = b"x=1"
    elif case == "unknown key":
        kwargs["key"] = "not-a-key"
    elif case == "no key":
        kwargs["key"] = None
    elif case == "not a bearer":
        kwargs.update(key=None, authorization=b"Basic abc")
    elif case == "method":
        kwargs["method"] = "PUT"
    elif case == "path":
        kwargs["path"] = "/v1/plans/"
    elif case == "not json":
        body = b'{"type": "FeatureCollection", '
    elif case == "not a plan":
        body = orjson.dumps({"type": "Feature"})
    elif case == "an id missing":
        body = orjson.dumps(plan({**flight("f1"), "id": ""}))
    status, _, _, downstream = call(store, body, **kwargs)
    assert status == 299
    assert downstream.bodies == [body]
    party = store.cached_party(blue)
    assert party is not None
    assert store.list_items(party, None) == []


def test_a_refused_write_is_a_problem_and_changes_nothing(store: Store) -> None:
    blue = known(store, "blue")
    broken = flight("f2")
    del broken["properties"]["coordTimes"]
    body = orjson.dumps(plan(flight("f1"), broken))
    status, headers, answer, downstream = call(store, body, key=blue)
    assert downstream.bodies == []
    assert status == 422
    assert headers["content-type"] == "application/problem+json"
    problem = orjson.loads(answer)
    assert problem["instance"] == PLANS_PATH
    assert "f2" in problem["detail"]
    party = store.cached_party(blue)
    assert party is not None
    assert store.list_items(party, None) == []


def test_a_stale_version_is_a_conflict(store: Store) -> None:
    blue = known(store, "blue")
    call(store, orjson.dumps(plan(flight("f1"))), key=blue)
    stale = {**flight("f1"), "version": 7}
    status, headers, answer, _ = call(store, orjson.dumps(plan(stale)), key=blue)
    assert status == 409
    assert headers["content-type"] == "application/problem+json"
    assert orjson.loads(answer)["current_version"] == 1


def test_a_body_over_the_limit_is_refused(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    blue = known(store, "blue")
    monkeypatch.setattr(fast_plans, "MAX_BODY_BYTES", 100)
    status, _, answer, downstream = call(
        store, orjson.dumps(plan(flight("f1"))), key=blue, chunk=40
    )
    assert (status, downstream.bodies) == (413, [])
    assert orjson.loads(answer)["status"] == 413


def test_a_client_gone_before_its_body_is_not_answered(store: Store) -> None:
    blue = known(store, "blue")
    status, _, _, downstream = call(store, orjson.dumps(plan(flight("f1"))), key=blue, gone=True)
    assert (status, downstream.bodies) == (None, [])
    party = store.cached_party(blue)
    assert party is not None
    assert store.list_items(party, None) == []


def test_through_http_the_answer_is_the_routes(live: Live) -> None:
    """The first plan of a key goes through the route (the key is not yet remembered), the
    next through the fast path: the two answers are alike."""
    with live.client("blue") as blue, live.client("red") as red:
        first = blue.post("/v1/plans", json=plan(flight("b1")))
        second = red.post("/v1/plans", json=plan(crossing_flight("r0")))
        third = red.post("/v1/plans", json=plan(crossing_flight("r1")))
        dry = red.post("/v1/plans", params={"dry_run": "true"}, json=plan(crossing_flight("r2")))
    assert [r.status_code for r in (first, second, third, dry)] == [200] * 4
    assert {r.headers["content-type"] for r in (first, third)} == {"application/json"}
    via_route, via_fast_path = second.json(), third.json()
    assert via_fast_path["items"] == [{"id": "r1", "version": 1, "status": "active"}]
    assert len(via_route["conflicts"]) == len(via_fast_path["conflicts"]) == 1
    shown_route, shown_fast = via_route["conflicts"][0], via_fast_path["conflicts"][0]
    assert shown_route.keys() == shown_fast.keys()
    # The same clash but for the ids and times of the two notices.
    differ = ("id", "own", "raised_at", "changed_at")
    assert {k: v for k, v in shown_route.items() if k not in differ} == {
        k: v for k, v in shown_fast.items() if k not in differ
    }
    assert dry.json()["dry_run"] is True
