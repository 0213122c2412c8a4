"""Writes at the same moment, over HTTP and on the store, on each backend.

Clashing writes must never both go through unseen; a version is won by exactly one writer; a new
item id is created once; writers in different places never block each other for good. Threads
are released together by a barrier; where timing alone would rarely hit a race, the race is
forced by making writers wait for each other at the point where it would happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from threading import Barrier, BrokenBarrierError, Event
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select

from detente.server.plans import Change
from detente.server.problems import Problem
from detente.server.schema import conflicts, feed, item_versions, items
from detente.server.store import Store

from .conftest import DAY, Live
from .plans import area, distant_flight, flight, plan

T = TypeVar("T")

ROUNDS = 20
#: The pairs of kinds written against each other, in turn; every pair clashes when placed
#: together (see `_feature`).
PAIRS = [
    ("flight", "flight"),
    ("flight", "airspace"),
    ("airspace", "flight"),
    ("zone", "flight"),
    ("flight", "strike"),
    ("airspace", "airspace"),
]


def _lat(round_: int) -> float:
    """Each round in a place of its own, 3 degrees of latitude from the last."""
    return -30.0 + 3.0 * round_


def _feature(item_id: str, kind: str, lat: float, across: bool = False) -> dict[str, Any]:
    """An item of `kind` centred on (36.5E, `lat`); flights `across` fly north, others east."""
    if kind == "flight":
        if across:
            return flight(item_id, [(36.5, lat - 0.5, 6000.0), (36.5, lat + 0.5, 6000.0)])
        return flight(item_id, [(36.0, lat, 6000.0), (37.0, lat, 6000.0)])
    if kind == "airspace":
        return area(item_id, kind, 36.5, lat, 20_000, alt_lower_m=5000, alt_upper_m=7000)
    return area(item_id, kind, 36.5, lat, 20_000)


def _at_once(calls: list[Callable[..., T]], timeout_s: float = 120, **kwargs: Any) -> list[T]:
    """Run `calls` (with `kwargs`) in threads released together; their results in order, or
    the first error raised."""
    barrier = Barrier(len(calls))

    def run(call: Callable[..., T]) -> T:
        barrier.wait(timeout_s)
        return call(**kwargs)

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout=timeout_s) for f in futures]


def _events(client: httpx.Client, after: int) -> tuple[list[dict[str, Any]], int]:
    answer = client.get("/v1/events", params={"after": after, "limit": 5000})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["events"], body["last"]


def _feeds_are_numbered_without_gaps(store: Store) -> None:
    with store.db.reading() as conn:
        rows = conn.execute(
            select(feed.c.party_id, func.count(), func.min(feed.c.n), func.max(feed.c.n)).group_by(
                feed.c.party_id
            )
        ).all()
    for party_id, count, first, last in rows:
        assert (first, last) == (1, count), f"party {party_id}: feed numbers {first}..{last}"


def _open_conflicts_between(store: Store, pk_a: int, pk_b: int) -> int:
    pair = ((conflicts.c.a_pk == pk_a) & (conflicts.c.b_pk == pk_b)) | (
        (conflicts.c.a_pk == pk_b) & (conflicts.c.b_pk == pk_a)
    )
    with store.db.reading() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(conflicts)
                .where(pair, conflicts.c.status == "open")
            ).scalar_one()
        )


def _pk(store: Store, party: str, item_id: str) -> int:
    [owner] = [p for p in store.parties() if p.name == party]
    with store.db.reading() as conn:
        return int(
            conn.execute(
                select(items.c.pk).where(items.c.party_id == owner.id, items.c.item_id == item_id)
            ).scalar_one()
        )


def _history(store: Store, pk: int) -> list[int]:
    with store.db.reading() as conn:
        return list(
            conn.execute(
                select(item_versions.c.version)
                .where(item_versions.c.item_pk == pk)
                .order_by(item_versions.c.version)
            ).scalars()
        )


# -- clashing writes ---------------------------------------------------------------------------


def test_clashing_writes_at_the_same_moment_are_always_seen(live: Live) -> None:
    with live.client("blue") as blue, live.client("red") as red:
        cursors = {"blue": 0, "red": 0}
        for client in (blue, red):
            assert client.get("/v1/me").status_code == 200  # connections open before the race
        for r in range(ROUNDS):
            kind_b, kind_r = PAIRS[r % len(PAIRS)]
            lat = _lat(r)
            ids = {"blue": f"b-{r}", "red": f"r-{r}"}
            features = {
                "blue": _feature(ids["blue"], kind_b, lat),
                "red": _feature(ids["red"], kind_r, lat, across=True),
            }
            answers = _at_once(
                [
                    partial(client.put, f"/v1/items/{ids[party]}", json=features[party])
                    for party, client in (("blue", blue), ("red", red))
                ]
            )
            for answer in answers:
                assert answer.status_code == 201, answer.text
            told = [n["id"] for a in answers for n in a.json()["conflicts"]]
            assert len(told) == 1, f"round {r} ({kind_b} x {kind_r}): writers told of {told}"
            [cid] = told

            pks = [_pk(live.store, p, ids[p]) for p in ("blue", "red")]
            assert _open_conflicts_between(live.store, *pks) == 1
            for party, client in (("blue", blue), ("red", red)):
                mine = [
                    n
                    for n in client.get("/v1/conflicts").json()["conflicts"]
                    if n["own"]["id"] == ids[party]
                ]
                assert [n["id"] for n in mine] == [cid], f"round {r}: {party} sees {mine}"
                events, cursors[party] = _events(client, cursors[party])
                raised = [e for e in events if e["event"] == "conflict.raised"]
                assert [e["conflict"]["id"] for e in raised] == [cid], f"round {r}: {party}"
                written = [e["item"]["id"] for e in events if e["event"] == "item.written"]
                assert written == [ids[party]]
    _feeds_are_numbered_without_gaps(live.store)


def test_clashing_writes_on_the_store_from_threads(store: Store) -> None:
    blue, _ = store.add_party("blue")
    red, _ = store.add_party("red")
    for r in range(ROUNDS):
        kind_b, kind_r = PAIRS[r % len(PAIRS)]
        lat = _lat(r)
        results = _at_once(
            [
                partial(store.write, blue, [Change(f"b-{r}", _feature(f"b-{r}", kind_b, lat))]),
                partial(
                    store.write, red, [Change(f"r-{r}", _feature(f"r-{r}", kind_r, lat, True))]
                ),
            ],
            source="t",
        )
        told = [n["id"] for result in results for n in result.conflicts]
        assert len(told) == 1, f"round {r} ({kind_b} x {kind_r}): writers told of {told}"
        pks = [_pk(store, "blue", f"b-{r}"), _pk(store, "red", f"r-{r}")]
        assert _open_conflicts_between(store, *pks) == 1
        for party, own in ((blue, f"b-{r}"), (red, f"r-{r}")):
            seen = [c["id"] for c in store.list_conflicts(party, "open") if c["own"]["id"] == own]
            assert seen == told, (r, party.name, seen)
    assert len(store.list_conflicts(blue, "open")) == ROUNDS
    _feeds_are_numbered_without_gaps(store)


def test_three_parties_clash_at_once(live: Live) -> None:
    """Three items over one point, written at once: three pairs, each recorded once."""
    parties = ("blue", "red", "green")
    clients = {p: live.client(p) for p in parties}
    try:
        for r in range(ROUNDS // 2):
            lat = _lat(r)
            features = {
                "blue": _feature(f"b-{r}", "flight", lat),
                "red": _feature(f"r-{r}", "flight", lat, across=True),
                "green": _feature(f"g-{r}", "airspace", lat),
            }
            answers = _at_once(
                [
                    partial(clients[p].put, f"/v1/items/{features[p]['id']}", json=features[p])
                    for p in parties
                ]
            )
            assert [a.status_code for a in answers] == [201, 201, 201]
            told = sorted(n["id"] for a in answers for n in a.json()["conflicts"])
            assert len(told) == len(set(told)) == 3, f"round {r}: {told}"
            pks = {p: _pk(live.store, p, features[p]["id"]) for p in parties}
            for x, y in (("blue", "red"), ("blue", "green"), ("red", "green")):
                assert _open_conflicts_between(live.store, pks[x], pks[y]) == 1, (r, x, y)
    finally:
        for client in clients.values():
            client.close()
    _feeds_are_numbered_without_gaps(live.store)


@pytest.mark.parametrize("moves_away", [False, True], ids=["stays", "moves-away"])
@pytest.mark.parametrize("kinds", [("flight", "flight"), ("airspace", "flight")], ids="-x-".join)
def test_replace_while_the_other_party_writes_a_clash(
    live: Live, kinds: tuple[str, str], moves_away: bool
) -> None:
    """Blue replaces its item while red writes one across it: the conflicts end up as if the two
    writes had come one after the other, whichever came first."""
    kind_b, kind_r = kinds
    with live.client("blue") as blue, live.client("red") as red:
        for r in range(ROUNDS // 2):
            lat = _lat(r)
            first = blue.put(f"/v1/items/b-{r}", json=_feature(f"b-{r}", kind_b, lat))
            assert first.status_code == 201, first.text
            replacement = _feature(f"b-{r}", kind_b, lat + 1.5 if moves_away else lat)
            replacement["properties"]["name"] = "replaced"
            answers = _at_once(
                [
                    partial(
                        blue.put, f"/v1/items/b-{r}", json=replacement, headers={"If-Match": '"1"'}
                    ),
                    partial(
                        red.put,
                        f"/v1/items/r-{r}",
                        json=_feature(f"r-{r}", kind_r, lat, across=True),
                    ),
                ]
            )
            assert [a.status_code for a in answers] == [200, 201], [a.text for a in answers]
            pks = (_pk(live.store, "blue", f"b-{r}"), _pk(live.store, "red", f"r-{r}"))
            assert _open_conflicts_between(live.store, *pks) == (0 if moves_away else 1), r
            open_red = red.get("/v1/conflicts", params={"status": "open"}).json()["conflicts"]
            mine = [n for n in open_red if n["own"]["id"] == f"r-{r}"]
            assert len(mine) == (0 if moves_away else 1), (r, mine)
    _feeds_are_numbered_without_gaps(live.store)


# -- one item, many writers ---------------------------------------------------------------------


@pytest.mark.parametrize("withdrawals", [False, True], ids=["replaces", "replaces-and-deletes"])
def test_one_version_is_won_by_exactly_one_writer(live: Live, withdrawals: bool) -> None:
    n = 8
    with live.client("blue") as blue:
        assert blue.put("/v1/items/x", json=flight("x")).status_code == 201
    clients = [live.client("blue") for _ in range(n)]
    try:

        def write(k: int) -> httpx.Response:
            headers = {"If-Match": '"1"'}
            if withdrawals and k % 2:
                return clients[k].delete("/v1/items/x", headers=headers)
            return clients[k].put(
                "/v1/items/x", json=flight("x", callsign=f"C{k}"), headers=headers
            )

        for client in clients:
            assert client.get("/v1/me").status_code == 200
        answers = _at_once([lambda k=k: write(k) for k in range(n)])
    finally:
        for client in clients:
            client.close()
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 1, [a.text for a in answers]
    winner = codes.index(200)
    withdrawn = withdrawals and winner % 2 == 1
    for k, answer in enumerate(answers):
        if k == winner:
            continue
        assert answer.headers["content-type"].startswith("application/problem+json")
        if withdrawn and k % 2 == 1:
            # A withdrawal after the winning withdrawal finds no active item.
            assert answer.status_code == 404, answer.text
        else:
            assert answer.status_code == 409, answer.text
            assert answer.json()["current_version"] == 2
    assert answers[winner].json()["item"]["version"] == 2
    assert _history(live.store, _pk(live.store, "blue", "x")) == [1, 2]
    with live.client("blue") as blue:
        now = blue.get("/v1/items/x")
        assert now.status_code == 200 and now.headers["ETag"] == '"2"'
        record = now.json()
        if record["status"] == "active":
            assert record["feature"]["properties"]["callsign"] == f"C{winner}"
        else:
            assert withdrawn and record["status"] == "withdrawn"
        events, _ = _events(blue, 0)
    assert [e["item"]["version"] for e in events if e["event"].startswith("item.")] == [1, 2]


@pytest.mark.parametrize("same_place", [True, False], ids=["same-place", "different-places"])
def test_one_new_id_is_created_once(live: Live, same_place: bool) -> None:
    n = 8
    clients = [live.client("blue") for _ in range(n)]
    try:
        for client in clients:
            assert client.get("/v1/me").status_code == 200

        def create(k: int) -> httpx.Response:
            lat = 36.0 if same_place else _lat(k)
            return clients[k].put("/v1/items/new", json=_feature("new", "flight", lat))

        answers = _at_once([lambda k=k: create(k) for k in range(n)])
        bodies = [a.text for a in answers]
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 201 and all(c in (409, 428) for c in codes[1:]), (codes, bodies)
        # Every refusal is a problem that says what to do: the item now exists at version 1.
        for answer in answers:
            if answer.status_code != 201:
                assert answer.headers["content-type"].startswith("application/problem+json")
            if answer.status_code == 428:
                assert answer.json()["current_version"] == 1
    finally:
        for client in clients:
            client.close()
    [owner] = [p for p in live.store.parties() if p.name == "blue"]
    with live.store.db.reading() as conn:
        rows = conn.execute(
            select(items.c.pk, items.c.version).where(
                items.c.party_id == owner.id, items.c.item_id == "new"
            )
        ).all()
    assert len(rows) == 1 and rows[0].version == 1
    assert _history(live.store, rows[0].pk) == [1]
    with live.client("blue") as blue:
        events, _ = _events(blue, 0)
    assert [(e["event"], e["item"]["version"]) for e in events] == [("item.written", 1)]


# -- writers in different places ----------------------------------------------------------------


def test_writers_in_different_places_all_go_through(live: Live) -> None:
    """Six writers (two per party), each in its own place: creates, replaces, withdrawals and
    plans interleave, and the agreement is adopted again meanwhile (a whole-store write); none
    waits for ever, none fails, nothing clashes."""
    writers = [(party, w) for party in ("blue", "red", "green") for w in range(2)]
    steps = 8

    def work(party: str, w: int) -> list[int]:
        lat = _lat(writers.index((party, w)))
        codes: list[int] = []
        with live.client(party) as client:
            for s in range(steps):
                item_id = f"{party}-{w}-{s}"
                own_lat = lat + 0.1 * s  # a little apart: a writer's own items do not clash
                created = client.put(
                    f"/v1/items/{item_id}", json=_feature(item_id, "flight", own_lat)
                )
                codes.append(created.status_code)
                replaced = client.put(
                    f"/v1/items/{item_id}",
                    json=_feature(item_id, "flight", own_lat, across=True),
                    headers={"If-Match": '"1"'},
                )
                codes.append(replaced.status_code)
                batch = plan(
                    _feature(f"{item_id}-p", "airspace", own_lat),
                    {**_feature(item_id, "flight", own_lat), "version": 2},
                )
                codes.append(client.post("/v1/plans", json=batch).status_code)
                if s % 2:
                    gone = client.delete(f"/v1/items/{item_id}", headers={"If-Match": '"3"'})
                    codes.append(gone.status_code)
        return codes

    def adopt() -> list[int]:
        with live.client() as admin:
            agreement = admin.get("/v1/admin/agreement").json()
            terms = {k: v for k, v in agreement.items() if v is not None}
            return [admin.put("/v1/admin/agreement", json=terms).status_code for _ in range(3)]

    calls = [partial(work, p, w) for p, w in writers] + [adopt]
    *results, adopted = _at_once(calls, timeout_s=300)
    for (party, w), codes in zip(writers, results, strict=True):
        assert set(codes) <= {200, 201}, (party, w, codes)
    assert adopted == [200, 200, 200]
    with live.store.db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(conflicts)).scalar_one() == 0
    for party in ("blue", "red", "green"):
        with live.client(party) as client:
            listed = client.get("/v1/items", params={"status": "all"}).json()["items"]
        assert len(listed) == 2 * steps * 2
        withdrawn = [i for i in listed if i["status"] == "withdrawn"]
        assert len(withdrawn) == 2 * (steps // 2)
    _feeds_are_numbered_without_gaps(live.store)


def test_the_store_refuses_a_stale_version_under_contention(store: Store) -> None:
    """The store-level race of one version: threads on separate connections, same If-Match."""
    blue, _ = store.add_party("blue")
    store.write(blue, [Change("x", flight("x"))], source="t")
    n = 6

    def replace(k: int) -> int | str:
        try:
            store.write(blue, [Change("x", flight("x", callsign=f"C{k}"), 1)], source="t")
        except Problem as exc:
            return exc.status
        return "ok"

    outcomes = _at_once([lambda k=k: replace(k) for k in range(n)])
    assert sorted(outcomes, key=str) == [409] * (n - 1) + ["ok"]
    assert _history(store, _pk(store, "blue", "x")) == [1, 2]


# -- forced interleavings -----------------------------------------------------------------------


class _MeetAfterLocking:
    """Makes writers wait for each other just after taking their cell locks: two writers whose
    locks do not exclude each other meet there and go on together (the race made certain);
    otherwise the first gives up waiting after `wait_s` and goes on alone."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch, wait_s: float) -> None:
        self.barrier = Barrier(2)
        self.met: list[bool] = []
        take = store.db.lock_cells

        def lock_cells(conn: Any, keys: Any) -> None:
            take(conn, keys)
            try:
                self.barrier.wait(wait_s)
                self.met.append(True)
            except BrokenBarrierError:
                self.met.append(False)

        monkeypatch.setattr(store.db, "lock_cells", lock_cells)

    def reset(self) -> None:
        self.barrier.reset()
        self.met.clear()


@pytest.mark.parametrize("replacing", [False, True], ids=["new-items", "replacements"])
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_clashing_writers_exclude_each_other_at_the_cell_locks(
    store: Store, monkeypatch: pytest.MonkeyPatch, replacing: bool
) -> None:
    """On PostgreSQL, writers run side by side unless their cell locks meet: every pair of kinds
    that can clash must meet there, or each writer would miss the other's item. With
    `replacing`, both items move into the clash from far apart (If-Match writes). Each request
    is written alone, in a transaction of its own (a group's requests would share one)."""
    blue, _ = store.add_party("blue")
    red, _ = store.add_party("red")
    monkeypatch.setattr(store.writer.groups, "write", lambda *_args: None)
    meeting = _MeetAfterLocking(store, monkeypatch, wait_s=0.5)
    for r, (kind_b, kind_r) in enumerate(PAIRS):
        lat = _lat(r)
        ids = (f"b-{r}", f"r-{r}")
        if replacing:  # first filed 1.2 degrees north and south of the clash, apart
            store.write(blue, [Change(ids[0], _feature(ids[0], kind_b, lat - 1.2))], source="t")
            store.write(red, [Change(ids[1], _feature(ids[1], kind_r, lat + 1.2))], source="t")
        version = 1 if replacing else None
        features = (_feature(ids[0], kind_b, lat), _feature(ids[1], kind_r, lat, across=True))
        meeting.reset()
        results = _at_once(
            [
                partial(store.write, blue, [Change(ids[0], features[0], version)]),
                partial(store.write, red, [Change(ids[1], features[1], version)]),
            ],
            source="t",
        )
        told = [n["id"] for result in results for n in result.conflicts]
        assert len(told) == 1, f"{kind_b} x {kind_r}: writers told of {told}"
        assert meeting.met == [False, False], (
            f"{kind_b} x {kind_r}: clashing writers ran side by side ({meeting.met})"
        )


def test_the_sweeper_never_expires_a_version_written_meanwhile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item whose window has ended is replaced by one in the future while the sweeper runs:
    the new version stays active."""
    blue, _ = store.add_party("blue")
    store.write(blue, [Change("x", flight("x"))], source="t")
    store.clock.set(DAY + 7.5 * 3600)  # 07:30: the item's window (06:00-07:00) has ended
    later = flight("x", times=["2015-10-01T08:00:00Z", "2015-10-01T09:00:00Z"])
    locked, release = Event(), Event()
    take = store.db.writing

    @contextmanager
    def writing(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with take(*args, **kwargs) as conn:
            if not locked.is_set():  # the writer's transaction (it comes first)
                locked.set()
                release.wait(1.0)  # it is held open while the sweeper runs
            yield conn

    monkeypatch.setattr(store.db, "writing", writing)
    with ThreadPoolExecutor(2) as pool:
        written = pool.submit(store.write, blue, [Change("x", later, 1)], source="t")
        assert locked.wait(30)
        swept = pool.submit(store.sweep)
        swept.add_done_callback(lambda _: release.set())
        assert written.result(60).items[0]["version"] == 2
        swept.result(60)
    assert store.sweep() == 0
    record = store.get_item(blue, "x")
    assert (record["version"], record["status"]) == (2, "active")
    kinds = [kind for _, kind, _ in store.events_after(blue, 0)]
    assert kinds == ["item.written", "item.written"]


def test_writes_waiting_for_their_group_hold_no_thread_other_calls_need(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a group's commit is held, more writes than the shared pool's 40 threads wait for
    the next group at once, and other calls are still answered meanwhile."""
    groups = live.store.writer.groups
    commit, write = groups.commit, groups.write
    committing, release = Event(), Event()
    waiting: list[str] = []

    def held_commit(found: Any, group: Any, then: Any = None) -> None:
        if any(c.item_id == "held" for p in group for c in p.changes):
            committing.set()
            assert release.wait(60)
        commit(found, group, then)

    def counted_write(party: Any, changes: Any, items_: Any, now: float) -> Any:
        waiting.append(changes[0].item_id)
        return write(party, changes, items_, now)

    monkeypatch.setattr(groups, "commit", held_commit)
    monkeypatch.setattr(groups, "write", counted_write)
    many = 60

    def put(item_id: str) -> int:
        with live.client("blue") as client:
            feature = flight(item_id) if item_id == "held" else distant_flight(item_id)
            return client.put(f"/v1/items/{item_id}", json=feature).status_code

    with ThreadPoolExecutor(many + 1) as pool:
        held = pool.submit(put, "held")
        assert committing.wait(30)
        others = [pool.submit(put, f"w-{k}") for k in range(many)]
        deadline = time.monotonic() + 20
        while len(waiting) < many + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            assert len(waiting) == many + 1
            with live.client("red") as client:
                assert client.get("/v1/me").json() == {"party": "red"}
                assert client.get("/v1/items").status_code == 200
        finally:
            release.set()
        assert held.result(60) == 201
        assert [f.result(60) for f in others] == [201] * many
