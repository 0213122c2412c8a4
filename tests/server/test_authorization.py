"""Who may call what, and what a party never learns of the others, on each backend.

Every route refuses a missing, unknown, revoked or replaced key (401) and the admin routes a
party's key (403). Another party's item, notice or message is `404`, answered exactly like one
that does not exist. No answer or event a party gets names another party's item, callsign,
aircraft or area, or shows its route away from the conflict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .conftest import Live
from .plans import T0, area, flight, plan

PROBLEM = "application/problem+json"
PARTIES = ("blue", "red", "green")

# What red files: none of it may reach blue or green.
RED_FLIGHT = "r-SECRET-flight-4411"
RED_AREA = "r-SECRET-area-5522"
RED_HIDDEN = "r-SECRET-hidden-6633"
SECRETS = (
    RED_FLIGHT,
    RED_AREA,
    RED_HIDDEN,
    "SECRET",  # every id above, and the callsign, aircraft and name below
    "CALL77",
    "JET88",
    "NAME99",
    "39.111111",  # the flight's first and last vertices, far from any conflict
    "33.222222",
    "34.333333",
    "38.444444",
    "33.123456",  # the area's far corner
    "05:00:00",  # the flight's window
    "08:00:00",
)


def red_flight(item_id: str = RED_FLIGHT, lon: float = 36.5) -> dict[str, Any]:
    """Red's flight: from far away, north across blue's track at 06:30, then far away again."""
    return flight(
        item_id,
        [
            (39.111111, 33.222222, 6000.0),
            (lon, 35.5, 6000.0),
            (lon, 36.5, 6000.0),
            (34.333333, 38.444444, 6000.0),
        ],
        ["2015-10-01T05:00:00Z", T0, "2015-10-01T07:00:00Z", "2015-10-01T08:00:00Z"],
        callsign="SECRETCALL77",
        aircraft="SECRETJET88",
    )


def red_area() -> dict[str, Any]:
    """Red's airspace over blue's track, with a long spike far to the south."""
    feature = area(RED_AREA, "airspace", 0, 0, 0, name="SECRETNAME99")
    del feature["properties"]["radius_m"]
    feature["properties"].update(alt_lower_m=5000.0, alt_upper_m=7000.0)
    ring = [(36.8, 36.05), (36.9, 36.05), (36.9, 35.95), (36.85, 33.123456), (36.8, 35.95)]
    feature["geometry"] = {"type": "Polygon", "coordinates": [[list(p) for p in ring + ring[:1]]]}
    return feature


@dataclass
class World:
    """Blue and red in conflict and talking; green on its own; every answer kept."""

    live: Live
    conflict: str = ""
    message: str = ""
    thread: str = ""
    seen: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in PARTIES})
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def call(self, party: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if party not in self.clients:
            self.clients[party] = self.live.client(party)
        answer = self.clients[party].request(method, path, **kwargs)
        self.seen[party].append(answer.text)
        return answer


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture
def world(live: Live) -> Iterator[World]:
    w = World(live)
    try:
        yield populated(w)
    finally:
        for client in w.clients.values():
            client.close()


def populated(w: World) -> World:
    ok(w.call("blue", "PUT", "/v1/items/b1", json=flight("b1", callsign="BLUE1")), 201)
    ok(
        w.call("green", "PUT", "/v1/items/g1", json=flight("g1", [(36, 30, 9e3), (37, 30, 9e3)])),
        201,
    )
    answer = ok(w.call("red", "POST", "/v1/plans", json=plan(red_flight(), red_area())))
    assert len(answer["conflicts"]) == 2
    hidden = flight(RED_HIDDEN, [(40.0, 33.0, 500.0), (40.5, 33.0, 500.0)], callsign="SECRETCALL77")
    ok(w.call("red", "PUT", f"/v1/items/{RED_HIDDEN}", json=hidden), 201)
    notices = ok(w.call("blue", "GET", "/v1/conflicts"))["conflicts"]
    assert {n["other"]["kind"] for n in notices} == {"flight", "airspace"}
    w.conflict = next(n["id"] for n in notices if n["other"]["kind"] == "flight")
    query = {
        "type": "query",
        "conflict": w.conflict,
        "text": "yours?",
        "respond_by": "2015-10-01T04:00:00Z",
    }
    sent = ok(w.call("blue", "POST", "/v1/messages", json=query), 201)
    w.message, w.thread = sent["id"], sent["thread"]
    ok(w.call("red", "POST", "/v1/messages", json={"type": "reply", "in_reply_to": w.message}), 201)
    return w


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def routes(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route, with ids that exist (blue's item, blue and red's conflict and message)."""
    return [
        ("GET", "/v1/me", {}),
        ("GET", "/v1/items", {}),
        ("GET", "/v1/items/b1", {}),
        ("PUT", "/v1/items/b1", {"json": flight("b1"), "headers": {"If-Match": '"1"'}}),
        ("DELETE", "/v1/items/b1", {"headers": {"If-Match": '"1"'}}),
        ("POST", "/v1/plans", {"json": plan(flight("b9"))}),
        ("GET", "/v1/conflicts", {}),
        ("GET", f"/v1/conflicts/{w.conflict}", {}),
        ("GET", "/v1/messages", {}),
        ("GET", f"/v1/messages/{w.message}", {}),
        ("POST", "/v1/messages", {"json": {"type": "notice", "to": "red"}}),
        ("GET", "/v1/events", {"params": {"after": 0}}),
        ("GET", "/v1/events", {}),
        (
            "POST",
            "/v1/tracks",
            {"json": {"tracks": [{"uid": "t", "time": T0, "lon": 36, "lat": 36, "alt_m": 1}]}},
        ),
        ("GET", "/v1/tracks", {}),
        ("GET", "/v1/alerts", {}),
        *ADMIN_ROUTES,
    ]


ADMIN_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/admin/parties", {}),
    ("POST", "/v1/admin/parties", {"json": {"name": "white"}}),
    ("POST", "/v1/admin/parties/green/rotate-key", {}),
    ("POST", "/v1/admin/parties/green/revoke", {}),
    ("GET", "/v1/admin/agreement", {}),
    ("GET", "/v1/admin/feeds", {}),
    ("PUT", "/v1/admin/agreement", {"json": {"horizontal_m": 1.0}}),
]


def refused(live: Live, headers: dict[str, str], route: tuple[str, str, dict]) -> tuple[int, Any]:
    method, path, kwargs = route
    extra = {**kwargs.get("headers", {}), **headers}
    with httpx.Client(base_url=live.url, timeout=10) as client:
        answer = client.request(method, path, **{**kwargs, "headers": extra})
    assert answer.headers["content-type"].startswith(PROBLEM), (route, answer.text)
    if answer.status_code == 401:
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    return answer.status_code, answer.json()


def unchanged(w: World) -> None:
    """Nothing the refused calls could have done was done."""
    store = w.live.store
    names = [p.name for p in store.parties() if not p.revoked]
    assert names[:3] == list(PARTIES) and "white" not in names
    with w.live.client("green") as green:
        assert green.get("/v1/me").status_code == 200
    with w.live.client("blue") as blue:
        assert [i["version"] for i in blue.get("/v1/items").json()["items"]] == [1]
        assert len(blue.get("/v1/messages").json()["messages"]) == 2
    assert store.agreement().horizontal_m == 9260.0


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["none", "not-bearer", "unknown", "revoked", "rotated"])
def test_bad_keys_are_refused_everywhere(world: World, credential: str) -> None:
    store = world.live.store
    revoked = store.add_party("grey")[1]
    store.revoke("grey")
    rotated = store.add_party("amber")[1]
    store.rotate_key("amber")  # amber's new key works; the old one is under test
    headers = {
        "none": {},
        "not-bearer": {"Authorization": f"Basic {world.live.keys['blue']}"},
        "unknown": bearer("dtk_" + "A" * 43),
        "revoked": bearer(revoked),
        "rotated": bearer(rotated),
    }[credential]
    answers = [(route[:2], *refused(world.live, headers, route)) for route in routes(world)]
    assert [(route, status) for route, status, _ in answers if status != 401] == []
    assert all("key" in body["detail"].lower() for _, _, body in answers)
    unchanged(world)


def test_a_rotated_key_replaces_the_old_one(world: World) -> None:
    live = world.live
    old = live.keys["green"]
    new = live.store.rotate_key("green")
    me = ("GET", "/v1/me", {})
    assert refused(live, bearer(old), me)[0] == 401
    with httpx.Client(base_url=live.url, headers=bearer(new)) as green:
        assert green.get("/v1/me").json() == {"party": "green"}
        assert [i["id"] for i in green.get("/v1/items").json()["items"]] == ["g1"]


@pytest.mark.parametrize("party", PARTIES)
def test_a_partys_key_cannot_administer(world: World, party: str) -> None:
    for route in ADMIN_ROUTES:
        status, body = refused(world.live, bearer(world.live.keys[party]), route)
        assert status == 403, (route, body)
        assert "admin" in body["detail"]
    unchanged(world)


def test_the_admin_key_is_not_a_party(world: World) -> None:
    party_routes = [r for r in routes(world) if "/admin/" not in r[1]]
    for route in party_routes:
        assert refused(world.live, bearer(world.live.admin_key), route)[0] == 401, route
    unchanged(world)


# -- other parties' things are not found ---------------------------------------------------


def same_shape(answer: httpx.Response, missing: httpx.Response, real: str, fake: str) -> None:
    """`answer` (about `real`) is `missing` (about `fake`) with the one id swapped."""
    assert answer.status_code == missing.status_code == 404
    assert answer.headers["content-type"] == missing.headers["content-type"]
    assert json.loads(answer.text.replace(real, fake)) == missing.json()


@pytest.mark.parametrize("viewer", ["blue", "green"])
def test_another_partys_item_is_not_found(world: World, viewer: str) -> None:
    fake = "r-NOPE-flight-4411"
    for method, kwargs in [("GET", {}), ("DELETE", {"headers": {"If-Match": '"1"'}})]:
        real = world.call(viewer, method, f"/v1/items/{RED_FLIGHT}", **kwargs)
        missing = world.call(viewer, method, f"/v1/items/{fake}", **kwargs)
        same_shape(real, missing, RED_FLIGHT, fake)
    # Giving a version for it is as stale as for any id the caller does not have.
    put = {"json": flight("x"), "headers": {"If-Match": '"1"'}}
    put["json"].pop("id")
    real = world.call(viewer, "PUT", f"/v1/items/{RED_FLIGHT}", **put)
    missing = world.call(viewer, "PUT", f"/v1/items/{fake}", **put)
    assert real.status_code == missing.status_code == 409
    assert json.loads(real.text.replace(RED_FLIGHT, fake)) == missing.json()
    # Its own item of that id is its own affair.
    ok(world.call(viewer, "PUT", f"/v1/items/{RED_FLIGHT}", json=put["json"]), 201)
    with world.live.client("red") as red:
        assert red.get(f"/v1/items/{RED_FLIGHT}").json()["feature"]["properties"]["party"] == "red"


def test_an_uninvolved_party_sees_nothing_of_a_conflict(world: World) -> None:
    fake = "0" * 32
    for path in ("/v1/conflicts/{}", "/v1/messages/{}"):
        real_id = world.conflict if "conflicts" in path else world.message
        real = world.call("green", "GET", path.format(real_id))
        missing = world.call("green", "GET", path.format(fake))
        same_shape(real, missing, real_id, fake)
    for message, real_id in [
        ({"type": "ack", "conflict": world.conflict}, world.conflict),
        ({"type": "ack", "in_reply_to": world.message}, world.message),
        ({"type": "notice", "conflict": world.conflict, "to": "blue"}, world.conflict),
    ]:
        real = world.call("green", "POST", "/v1/messages", json=message)
        fake_message = json.loads(json.dumps(message).replace(real_id, fake))
        missing = world.call("green", "POST", "/v1/messages", json=fake_message)
        same_shape(real, missing, real_id, fake)
    assert ok(world.call("green", "GET", "/v1/conflicts"))["conflicts"] == []
    assert ok(world.call("green", "GET", "/v1/messages"))["messages"] == []
    for params in ({"thread": world.thread}, {"conflict": world.conflict}):
        assert ok(world.call("green", "GET", "/v1/messages", params=params))["messages"] == []
    green_events = ok(world.call("green", "GET", "/v1/events", params={"after": 0}))["events"]
    assert [(e["event"], e["item"]["id"]) for e in green_events] == [("item.written", "g1")]
    # Blue and red's exchange went on regardless.
    assert ok(world.call("red", "GET", f"/v1/messages/{world.message}"))["deadline"] == "answered"


# -- nothing of red's reaches the others ---------------------------------------------------


def sse_texts(live: Live, party: str, count: int) -> list[str]:
    """The first `count` events of the party's stream, as sent."""
    out: list[str] = []
    with (
        httpx.Client(base_url=live.url, headers=bearer(live.keys[party]), timeout=10) as client,
        client.stream("GET", "/v1/events") as response,
    ):
        for line in response.iter_lines():
            if line.startswith(("data:", "event:", "id:")):
                out.append(line)
                if line.startswith("data:") and len([x for x in out if x[:5] == "data:"]) == count:
                    break
    return out


def test_no_answer_or_event_tells_of_red(world: World) -> None:
    live = world.live
    # Red moves its flight (the conflict moves), withdraws its area and writes to green.
    with live.client("red") as red:
        ok(
            red.put(
                f"/v1/items/{RED_FLIGHT}", json=red_flight(lon=36.55), headers={"If-Match": '"1"'}
            )
        )
        ok(red.delete(f"/v1/items/{RED_AREA}", headers={"If-Match": '"1"'}))
        ok(red.post("/v1/messages", json={"type": "notice", "to": "green", "text": "hello"}), 201)
    # Blue writes into red's flight and asks what would clash: both answers speak of red.
    clash = flight("b2", [(36.0, 36.01, 6000.0), (37.0, 36.01, 6000.0)])
    assert ok(world.call("blue", "PUT", "/v1/items/b2", json=clash), 201)["conflicts"]
    dry = world.call(
        "blue", "POST", "/v1/plans", params={"dry_run": "true"}, json=plan(flight("b3"))
    )
    assert ok(dry)["conflicts"]
    replace = world.call(
        "blue", "PUT", "/v1/items/b1", json=flight("b1"), headers={"If-Match": '"1"'}
    )
    assert ok(replace)["conflicts"]

    for party in ("blue", "green"):
        for method, path, kwargs in [
            ("GET", "/v1/me", {}),
            ("GET", "/v1/items", {"params": {"status": "all"}}),
            ("GET", f"/v1/items/{party[0]}1", {}),
            ("GET", "/v1/conflicts", {}),
            ("GET", "/v1/messages", {}),
            ("GET", "/v1/events", {"params": {"after": 0}}),
        ]:
            ok(world.call(party, method, path, **kwargs))
        notices = ok(world.call(party, "GET", "/v1/conflicts"))["conflicts"]
        for notice in notices:
            ok(world.call(party, "GET", f"/v1/conflicts/{notice['id']}"))
        for message in ok(world.call(party, "GET", "/v1/messages"))["messages"]:
            ok(world.call(party, "GET", f"/v1/messages/{message['id']}"))
            ok(world.call(party, "GET", "/v1/messages", params={"thread": message["thread"]}))
        count = len(ok(world.call(party, "GET", "/v1/events", params={"after": 0}))["events"])
        world.seen[party] += sse_texts(live, party, count)

    blue_events = [json.loads(t[5:]) for t in world.seen["blue"] if t.startswith("data:")]
    kinds = {e["event"] for e in blue_events}
    assert {"conflict.raised", "conflict.updated", "conflict.resolved", "message.sent"} <= kinds
    for party in ("blue", "green"):
        text = "\n".join(world.seen[party])
        leaked = [s for s in SECRETS if s in text]
        assert leaked == [], (party, leaked)
    # Red's own answers do carry its ids: the search above would have found them.
    with live.client("red") as red:
        assert RED_FLIGHT in red.get("/v1/items").text
