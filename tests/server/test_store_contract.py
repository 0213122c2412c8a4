"""The store's contract, through `Store` directly, on each backend.

Items and their versions, atomic plans, dry runs, conflicts raised, updated and resolved as
items change, expiry, a new agreement, the append-only log and each party's feed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from detente.model import Agreement
from detente.server.hotline import NewMessage
from detente.server.parties import Party
from detente.server.plans import Change, WriteResult
from detente.server.problems import (
    Conflict,
    Invalid,
    NotFound,
    PreconditionRequired,
    Problem,
)
from detente.server.schema import cells, conflicts, deadlines, feed, item_versions, items, log
from detente.server.store import Store

from .conftest import DAY
from .plans import T0, area, crossing_flight, distant_flight, flight

END = DAY + 7 * 3600  # the end of the test plans' window (07:00)


@pytest.fixture
def parties(store: Store) -> dict[str, Party]:
    return {name: store.add_party(name)[0] for name in ("blue", "red", "green")}


def put(store: Store, party: Party, feature: dict[str, Any], if_match: int | None = None):
    return store.write(party, [Change(feature["id"], feature, if_match)], source="body")


def withdraw(store: Store, party: Party, item_id: str, if_match: int | None) -> WriteResult:
    return store.write(party, [Change(item_id, None, if_match)], source="request")


def plan(store: Store, party: Party, *features: Any, dry_run: bool = False) -> WriteResult:
    changes = [Change(f["id"], f, f.get("version"), n) for n, f in enumerate(features)]
    return store.write(party, changes, dry_run=dry_run, source="plan")


def count(store: Store, table: Any) -> int:
    with store.db.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def log_rows(store: Store) -> list[tuple[int, str, str]]:
    with store.db.reading() as conn:
        query = select(log.c.seq, log.c.kind, log.c.body).order_by(log.c.seq)
        return [(int(s), k, b) for s, k, b in conn.execute(query)]


def feed_kinds(store: Store, party: Party) -> list[str]:
    return [kind for _n, kind, _body in store.events_after(party, 0)]


def item_pk(store: Store, party: Party, item_id: str) -> int:
    with store.db.reading() as conn:
        return int(
            conn.execute(
                select(items.c.pk).where(items.c.party_id == party.id, items.c.item_id == item_id)
            ).scalar_one()
        )


def cell_count(store: Store, pk: int) -> int:
    with store.db.reading() as conn:
        query = select(func.count()).select_from(cells).where(cells.c.item_pk == pk)
        return int(conn.execute(query).scalar_one())


def parallel_flight(item_id: str, lat: float) -> dict[str, Any]:
    """The default flight's twin, `lat` degrees north of 36N."""
    return flight(item_id, [(36.0, 36.0 + lat, 6000.0), (37.0, 36.0 + lat, 6000.0)])


def raises(kind: type[Problem], call: Any, *args: Any, **kwargs: Any) -> Problem:
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    return caught.value


# -- items and versions ----------------------------------------------------------------------


def test_create_replace_withdraw_keeps_history(store: Store, parties: dict[str, Party]) -> None:
    blue = parties["blue"]
    created = put(store, blue, flight("b1", callsign="ONE"))
    assert created.items == [{"id": "b1", "version": 1, "status": "active"}]
    replaced = put(store, blue, flight("b1", callsign="TWO"), if_match=1)
    assert replaced.items == [{"id": "b1", "version": 2, "status": "active"}]
    record = store.get_item(blue, "b1")
    assert record["version"] == 2 and record["feature"]["properties"]["callsign"] == "TWO"
    assert record["feature"]["version"] == 2 and record["feature"]["properties"]["party"] == "blue"
    gone = withdraw(store, blue, "b1", 2)
    assert gone.items == [{"id": "b1", "version": 3, "status": "withdrawn"}]
    assert store.list_items(blue) == []
    assert [r["status"] for r in store.list_items(blue, "withdrawn")] == ["withdrawn"]
    assert cell_count(store, item_pk(store, blue, "b1")) == 0

    again = put(store, blue, flight("b1", callsign="THREE"))
    assert again.items == [{"id": "b1", "version": 4, "status": "active"}]
    with store.db.reading() as conn:
        history = list(
            conn.execute(
                select(item_versions.c.version, item_versions.c.feature)
                .where(item_versions.c.item_pk == item_pk(store, blue, "b1"))
                .order_by(item_versions.c.version)
            )
        )
    assert [v for v, _ in history] == [1, 2, 3, 4]
    callsigns = [
        None if f is None else orjson.loads(f)["properties"]["callsign"] for _, f in history
    ]
    assert callsigns == ["ONE", "TWO", None, "THREE"]


def test_version_preconditions(store: Store, parties: dict[str, Party]) -> None:
    blue = parties["blue"]
    put(store, blue, flight("b1"))
    put(store, blue, flight("b1"), if_match=1)

    missing = raises(PreconditionRequired, put, store, blue, flight("b1"))
    assert missing.status == 428 and missing.extra["current_version"] == 2
    stale = raises(Conflict, put, store, blue, flight("b1"), if_match=1)
    assert stale.status == 409 and stale.extra["current_version"] == 2
    assert raises(PreconditionRequired, withdraw, store, blue, "b1", None).status == 428
    assert raises(Conflict, withdraw, store, blue, "b1", 7).extra["current_version"] == 2
    # A new item given a version it cannot have is stale too.
    assert raises(Conflict, put, store, blue, flight("b2"), if_match=1).status == 409
    unknown = raises(NotFound, withdraw, store, blue, "nope", 1)
    assert unknown.status == 404 and "nope" in unknown.detail
    assert store.get_item(blue, "b1")["version"] == 2
    assert count(store, item_versions) == 2


def test_withdrawing_twice_or_another_partys_item_is_not_found(
    store: Store, parties: dict[str, Party]
) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, red, flight("r1"))
    assert raises(NotFound, withdraw, store, blue, "r1", 1).status == 404
    assert raises(NotFound, store.get_item, blue, "r1").status == 404
    withdraw(store, red, "r1", 1)
    assert raises(NotFound, withdraw, store, red, "r1", 2).status == 404


def test_item_ids_are_per_party(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, distant_flight("same"))
    put(store, red, flight("same"))
    assert store.get_item(blue, "same")["feature"]["properties"]["party"] == "blue"
    assert store.get_item(red, "same")["feature"]["properties"]["party"] == "red"


# -- whole plans -----------------------------------------------------------------------------


def test_a_plan_is_atomic_and_lists_every_error(store: Store, parties: dict[str, Party]) -> None:
    blue = parties["blue"]
    bad_party = flight("b2", party="red")
    no_times = flight("b4")
    del no_times["properties"]["coordTimes"]
    before = count(store, log)
    error = raises(
        Invalid,
        plan,
        store,
        blue,
        flight("b1"),
        bad_party,
        distant_flight("b3"),
        no_times,
        flight("b1"),
    )
    assert error.status == 422
    found = [(e["index"], e["item"], e["field"]) for e in error.extra["errors"]]
    assert found == [(1, "b2", "party"), (3, "b4", "coordTimes"), (4, "b1", "id")]
    assert "nothing was stored" in error.detail
    assert store.list_items(blue, None) == []
    assert count(store, items) == 0 and count(store, cells) == 0
    assert count(store, log) == before and feed_kinds(store, blue) == []


def test_a_plan_with_a_stale_version_stores_nothing(
    store: Store, parties: dict[str, Party]
) -> None:
    blue = parties["blue"]
    put(store, blue, flight("b1"))
    before = log_rows(store)
    stale = {**distant_flight("b1"), "version": 9}
    raises(Conflict, plan, store, blue, distant_flight("b2"), stale)
    assert [r["id"] for r in store.list_items(blue)] == ["b1"]
    assert log_rows(store) == before


def test_a_plan_writes_all_its_items(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, red, crossing_flight("r1"))
    result = plan(store, blue, flight("b1"), distant_flight("b2"), area("b3", "ground", 30, 30, 50))
    assert [i["id"] for i in result.items] == ["b1", "b2", "b3"]
    assert all(i["version"] == 1 for i in result.items)
    [notice] = result.conflicts
    assert notice["own"]["id"] == "b1" and notice["other"]["party"] == "red"
    replaced = plan(store, blue, {**distant_flight("b1"), "version": 1})
    assert replaced.items == [{"id": "b1", "version": 2, "status": "active"}]
    assert replaced.resolved == [notice["id"]]


def test_dry_run_stores_nothing_but_reports(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, red, crossing_flight("r1"))
    put(store, blue, parallel_flight("b0", 0.05))
    [open_one] = store.list_conflicts(blue)
    tables = (items, item_versions, cells, conflicts, log, feed)
    before = {t.name: count(store, t) for t in tables}
    replace = {**distant_flight("b0"), "version": 1}
    result = plan(store, blue, flight("b1"), replace, dry_run=True)
    assert result.dry_run
    [would] = result.conflicts
    assert would["status"] == "would-raise" and would["own"]["id"] == "b1"
    assert would["other"]["party"] == "red" and would["kind"] == "air"
    assert result.resolved == [open_one["id"]]
    assert {t.name: count(store, t) for t in tables} == before
    assert [c["status"] for c in store.list_conflicts(blue)] == ["open"]
    assert store.get_item(blue, "b0")["version"] == 1


def test_a_dry_run_answers_while_a_write_holds_the_lock(
    store: Store, parties: dict[str, Party]
) -> None:
    """A dry run reads a snapshot: it neither waits for a writer nor sees its uncommitted rows."""
    blue, red = parties["blue"], parties["red"]
    put(store, red, crossing_flight("r1"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with pytest.raises(RuntimeError), store.db.writing(whole_store=True) as conn:
            conn.execute(text("DELETE FROM cells"))  # undone: the transaction fails
            holding.set()
            release.wait(10)
            raise RuntimeError("rolled back")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        result = plan(store, blue, flight("b1"), dry_run=True)
        assert time.monotonic() - started < 5
        assert [c["other"]["party"] for c in result.conflicts] == ["red"]
    finally:
        release.set()
        thread.join(10)


def test_dry_run_still_checks_versions(store: Store, parties: dict[str, Party]) -> None:
    blue = parties["blue"]
    put(store, blue, flight("b1"))
    raises(PreconditionRequired, plan, store, blue, flight("b1"), dry_run=True)


# -- conflicts as items change ---------------------------------------------------------------


def test_conflicts_raised_updated_resolved(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    [raised] = put(store, red, crossing_flight("r1")).conflicts
    assert raised["status"] == "open" and raised["kind"] == "air"
    assert raised["own"] == {"id": "r1", "kind": "flight", "version": 1}
    [blue_view] = store.list_conflicts(blue)
    assert blue_view["id"] == raised["id"] and blue_view["own"]["id"] == "b1"

    # Still clashing, a little further east: the same conflict, updated.
    moved = flight("r1", [(36.55, 35.5, 6000.0), (36.55, 36.5, 6000.0)])
    kept = put(store, red, moved, if_match=1)
    [updated] = kept.conflicts
    assert updated["id"] == raised["id"] and kept.resolved == []
    assert updated["own"]["version"] == 2 and updated["worst"] != raised["worst"]
    assert feed_kinds(store, blue)[-1] == "conflict.updated"
    assert store.get_conflict(blue, raised["id"])["worst"] == updated["worst"]

    # Moved away: resolved.
    away = put(store, red, distant_flight("r1"), if_match=2)
    assert away.conflicts == [] and away.resolved == [raised["id"]]
    assert store.get_conflict(blue, raised["id"])["status"] == "resolved"
    assert store.list_conflicts(blue, "open") == []
    assert feed_kinds(store, blue) == [
        "item.written",
        "conflict.raised",
        "conflict.updated",
        "conflict.resolved",
    ]
    assert feed_kinds(store, red) == [
        "item.written",
        "conflict.raised",
        "item.written",
        "conflict.updated",
        "item.written",
        "conflict.resolved",
    ]

    # Coming back raises a new conflict, not the old one again.
    [again] = put(store, red, crossing_flight("r1"), if_match=3).conflicts
    assert again["id"] != raised["id"]
    assert {c["status"] for c in store.list_conflicts(red)} == {"open", "resolved"}


def test_an_identical_replace_keeps_the_conflict(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    [raised] = put(store, red, crossing_flight("r1")).conflicts
    blue_events = feed_kinds(store, blue)
    [kept] = put(store, red, crossing_flight("r1"), if_match=1).conflicts
    assert kept["id"] == raised["id"] and kept["own"]["version"] == 2
    assert kept["worst"] == raised["worst"] and kept["other"] == raised["other"]
    # Nothing moved: blue is told nothing, and its notice does not show a change either.
    assert feed_kinds(store, blue) == blue_events
    [notice] = store.list_conflicts(blue)
    assert notice["changed_at"] == raised["changed_at"]
    assert store.get_conflict(red, raised["id"])["own"]["version"] == 2


def test_withdrawing_resolves(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    put(store, blue, area("b2", "airspace", 36.5, 36.0, 2000, alt_lower_m=5000, alt_upper_m=7000))
    result = put(store, red, crossing_flight("r1"))
    assert len(result.conflicts) == 2
    gone = withdraw(store, red, "r1", 1)
    assert sorted(gone.resolved) == sorted(c["id"] for c in result.conflicts)
    assert store.list_conflicts(blue, "open") == []


def test_conflicts_involve_only_their_two_parties(store: Store, parties: dict[str, Party]) -> None:
    blue, red, green = parties["blue"], parties["red"], parties["green"]
    put(store, blue, flight("b1"))
    [notice] = put(store, red, crossing_flight("r1")).conflicts
    assert store.list_conflicts(green) == []
    assert raises(NotFound, store.get_conflict, green, notice["id"]).status == 404
    assert feed_kinds(store, green) == []
    own = store.get_conflict(red, notice["id"])["own"]
    assert own["feature"]["id"] == "r1" and own["feature"]["version"] == 1


def misfiled(store: Store) -> list[tuple[int, int, int, str]]:
    """Cell rows `(item_pk, version filed, item's version, item's status)` that do not file an
    active item at its version."""
    query = select(cells.c.item_pk, cells.c.version, items.c.version, items.c.status).join(
        items, items.c.pk == cells.c.item_pk, isouter=True
    )
    with store.db.reading() as conn:
        rows = [(int(pk), int(v), w, status) for pk, v, w, status in conn.execute(query)]
    return [row for row in rows if row[1] != row[2] or row[3] != "active"]


def filed_versions(store: Store) -> set[int]:
    with store.db.reading() as conn:
        return {int(v) for v in conn.execute(select(cells.c.version).distinct()).scalars()}


def test_cells_file_each_active_item_at_its_version(
    store: Store, parties: dict[str, Party]
) -> None:
    """Whatever writes an item (alone, in a group, in a plan; replaced, withdrawn, judged under
    a new agreement, expired), its cells carry its version, and only while it is active."""
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    put(store, blue, flight("b1"), if_match=1)
    plan(store, red, crossing_flight("r1"), crossing_flight("r2"))
    plan(store, red, {**crossing_flight("r1"), "version": 1}, crossing_flight("r3"))
    assert misfiled(store) == [] and filed_versions(store) == {1, 2}
    withdraw(store, red, "r3", 1)
    put(store, blue, flight("b1"), if_match=2)
    assert misfiled(store) == [] and filed_versions(store) == {1, 2, 3}
    assert cell_count(store, item_pk(store, red, "r3")) == 0
    store.set_agreement(Agreement(horizontal_m=15_000.0))
    assert misfiled(store) == [] and filed_versions(store) == {1, 2, 3}
    late = flight("b2", times=[T0, "2015-10-01T09:00:00Z"])
    put(store, blue, late)
    store.clock.set(END + 1)
    assert store.sweep() == 3
    assert misfiled(store) == [] and filed_versions(store) == {1}
    # The item left is found through its cells at its version.
    crossing = flight(
        "r9", [(36.5, 35.5, 6000.0), (36.5, 36.5, 6000.0)], times=[T0, "2015-10-01T09:00:00Z"]
    )
    [conflict] = put(store, red, crossing).conflicts
    assert conflict["other"]["party"] == "blue"


# -- expiry ----------------------------------------------------------------------------------


def test_expiry(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    late = flight("b2", times=[T0, "2015-10-01T09:00:00Z"])
    put(store, blue, late)
    pk = item_pk(store, blue, "b1")
    assert cell_count(store, pk) > 0
    assert store.sweep() == 0

    store.clock.set(END + 1)
    assert store.sweep() == 1
    assert store.sweep() == 0
    assert [r["id"] for r in store.list_items(blue)] == ["b2"]
    [expired] = store.list_items(blue, "expired")
    assert expired["id"] == "b1" and expired["version"] == 1
    assert cell_count(store, pk) == 0
    assert cell_count(store, item_pk(store, blue, "b2")) > 0
    _n, kind, body = store.events_after(blue, 0)[-1]
    assert kind == "item.expired"
    expected = {"party": "blue", "id": "b1", "version": 1, "status": "expired"}
    assert orjson.loads(body)["item"] == expected
    assert feed_kinds(store, red) == []
    # The record names whose item expired: ids are each party's own.
    [(_seq, _kind, logged)] = [row for row in log_rows(store) if row[1] == "item.expired"]
    assert orjson.loads(logged) == expected

    # The expired item is not a candidate: an item crossing its old path meets nothing.
    crossing = flight(
        "r1", [(36.5, 35.5, 6000.0), (36.5, 36.5, 6000.0)], times=[T0, "2015-10-01T08:00:00Z"]
    )
    assert put(store, red, crossing).conflicts == []
    # And it cannot be withdrawn, but it can be written again (with a later window).
    assert raises(NotFound, withdraw, store, blue, "b1", 1).status == 404
    later = flight("b1", times=["2015-10-01T08:00:00Z", "2015-10-01T10:00:00Z"])
    assert put(store, blue, later).items == [{"id": "b1", "version": 2, "status": "active"}]


def test_expiry_waits_for_the_time_buffer(store: Store, parties: dict[str, Party]) -> None:
    blue = parties["blue"]
    store.set_agreement(Agreement(time_buffer_s=600.0))
    put(store, blue, flight("b1"))
    store.clock.set(END + 300)
    assert store.sweep() == 0
    store.clock.set(END + 601)
    assert store.sweep() == 1


def test_an_item_whose_window_ended_is_refused(store: Store, parties: dict[str, Party]) -> None:
    store.clock.set(END + 1)
    error = raises(Invalid, put, store, parties["blue"], flight("b1"))
    assert [e["field"] for e in error.extra["errors"]] == ["end"]


# -- the agreement ---------------------------------------------------------------------------


def test_a_new_agreement_judges_again(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    assert put(store, red, parallel_flight("r1", 0.1)).conflicts == []  # 11 km apart
    put(store, red, parallel_flight("r2", -0.05))  # 5.6 km apart
    [near] = store.list_conflicts(blue, "open")

    assert store.set_agreement(Agreement(horizontal_m=15_000.0)) == 2
    assert store.agreement().horizontal_m == 15_000.0
    opened = store.list_conflicts(blue, "open")
    assert len(opened) == 2 and near["id"] in {c["id"] for c in opened}
    assert feed_kinds(store, red)[-1] == "conflict.raised"

    assert store.set_agreement(Agreement(horizontal_m=3_000.0)) == 0
    assert store.list_conflicts(blue, "open") == []
    assert {c["status"] for c in store.list_conflicts(red)} == {"resolved"}
    assert feed_kinds(store, blue)[-2:] == ["conflict.resolved", "conflict.resolved"]
    # Later writes are judged under the agreement in force.
    assert put(store, red, parallel_flight("r3", 0.04)).conflicts == []  # 4.4 km apart


def test_include_own(store: Store, parties: dict[str, Party]) -> None:
    blue = parties["blue"]
    put(store, blue, flight("b1"))
    assert put(store, blue, crossing_flight("b2")).conflicts == []
    assert store.set_agreement(Agreement(include_own=True)) == 1
    [own] = store.list_conflicts(blue)
    assert own["other"]["party"] == "blue"
    raised = put(store, blue, crossing_flight("b3")).conflicts  # crosses b1, overlays b2
    assert sorted(c["other"]["party"] for c in raised) == ["blue", "blue"]
    store.set_agreement(Agreement(include_own=False))
    assert store.list_conflicts(blue, "open") == []


# -- the log and the feeds -------------------------------------------------------------------


def test_the_log_is_append_only(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    seen: list[tuple[int, str, str]] = []

    def step(expected: list[str]) -> None:
        nonlocal seen
        rows = log_rows(store)
        assert rows[: len(seen)] == seen, "a log row changed or went away"
        added = rows[len(seen) :]
        assert [kind for _, kind, _ in added] == expected
        seqs = [s for s, _, _ in rows]
        assert seqs == sorted(set(seqs))
        seen = rows

    step(["party.added"] * len(parties))
    put(store, blue, flight("b1"))
    step(["item.written"])
    notice = put(store, red, crossing_flight("r1")).conflicts[0]
    step(["item.written", "conflict.raised"])
    moved = flight("r1", [(36.55, 35.5, 6000.0), (36.55, 36.5, 6000.0)])
    put(store, red, moved, if_match=1)
    step(["item.written", "conflict.updated"])
    query = store.send(
        blue,
        NewMessage("query", "climb?", conflict=notice["id"], respond_by=store.clock() + 60),
    )
    step(["message.sent"])
    store.send(red, NewMessage("wilco", "FL210", in_reply_to=query["id"]))
    step(["message.sent"])
    raises(Conflict, put, store, red, moved, if_match=1)
    plan(store, red, distant_flight("r2"), dry_run=True)
    step([])
    store.send(blue, NewMessage("query", "?", to="red", respond_by=store.clock() + 60))
    step(["message.sent"])
    store.clock.set(store.clock() + 120)
    store.sweep()
    step(["message.overdue"])
    withdraw(store, red, "r1", 2)
    step(["item.withdrawn", "conflict.resolved"])
    store.set_agreement(Agreement(horizontal_m=20_000.0))
    step(["agreement.adopted"])
    put(store, red, parallel_flight("r3", 0.15))
    step(["item.written", "conflict.raised"])
    store.set_agreement(Agreement())
    step(["agreement.adopted", "conflict.resolved"])
    store.clock.set(END + 1)
    store.sweep()
    step(["item.expired", "item.expired"])


def test_every_feed_event_has_its_log_row(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    put(store, blue, flight("b1"))
    put(store, red, crossing_flight("r1"))
    withdraw(store, red, "r1", 1)
    with store.db.reading() as conn:
        pairs = list(
            conn.execute(
                select(feed.c.kind, log.c.kind).select_from(feed.join(log, log.c.seq == feed.c.seq))
            )
        )
        total = conn.execute(select(func.count()).select_from(feed)).scalar_one()
    assert len(pairs) == total > 0
    assert all(f == g for f, g in pairs)


def test_feeds_are_numbered_from_one_without_gaps(store: Store, parties: dict[str, Party]) -> None:
    blue, red, green = parties["blue"], parties["red"], parties["green"]
    put(store, blue, flight("b1"))
    put(store, red, crossing_flight("r1"))
    put(store, green, parallel_flight("g1", -3.0))
    plan(store, red, parallel_flight("r2", -4.0), parallel_flight("r3", -5.0))
    put(store, red, parallel_flight("r1", -6.0), if_match=1)
    store.send(green, NewMessage("notice", "hello", to="blue"))
    for party in (blue, red, green):
        numbers = [n for n, _, _ in store.events_after(party, 0)]
        assert numbers == list(range(1, len(numbers) + 1))
    assert len(store.events_after(red, 0)) == 6
    assert [n for n, _, _ in store.events_after(red, 3, limit=2)] == [4, 5]
    bodies = [orjson.loads(body) for _, _, body in store.events_after(blue, 0)]
    assert [b["event"] for b in bodies] == [
        "item.written",
        "conflict.raised",
        "conflict.resolved",
        "message.sent",
    ]
    assert all(b["at"] >= DAY for b in bodies)


# -- sweeps racing each other and writers (PostgreSQL runs them side by side) ---------------


def _race(store: Store, blocked: Any, *calls: Any) -> list[Any]:
    """Run `calls` in threads while a row of `blocked` (a select) is locked elsewhere.

    On PostgreSQL each call reads first and then waits on the row; once all of them wait, the
    row is let go. SQLite runs writers one at a time, so there the calls simply run.
    """
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(call: Any) -> None:
        try:
            results.append(call())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    if store.db.is_sqlite:
        for t in threads:
            t.start()
    else:
        with store.db.engine.connect() as holder, holder.begin():
            holder.execute(blocked.with_for_update())
            for t in threads:
                t.start()
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            deadline = time.monotonic() + 10
            with store.db.engine.connect() as probe:
                # pg_stat_activity holds still within a transaction: one per look.
                while probe.execute(waiting).scalar_one() < len(calls):
                    probe.rollback()
                    assert time.monotonic() < deadline, "the racers never waited on the row"
                    time.sleep(0.01)
    for t in threads:
        t.join(20)
    assert not errors, errors
    return results


def test_sweeps_side_by_side_expire_once(
    store_url: str, store: Store, parties: dict[str, Party]
) -> None:
    blue = parties["blue"]
    put(store, blue, flight("b1"))
    store.clock.set(END + 1)
    other = Store(store_url, clock=store.clock)
    try:
        blocked = select(items.c.pk).where(items.c.item_id == "b1")
        results = _race(store, blocked, store.sweep, other.sweep)
    finally:
        other.close()
    assert sorted(results) == [0, 1]
    assert feed_kinds(store, blue).count("item.expired") == 1
    assert [kind for _, kind, _ in log_rows(store)].count("item.expired") == 1


def test_sweeps_side_by_side_mark_overdue_once(
    store_url: str, store: Store, parties: dict[str, Party]
) -> None:
    blue, red = parties["blue"], parties["red"]
    sent = store.send(blue, NewMessage("query", "?", to="red", respond_by=store.clock() + 60))
    store.clock.set(store.clock() + 120)
    other = Store(store_url, clock=store.clock)
    try:
        blocked = select(deadlines.c.message_id).where(deadlines.c.message_id == sent["id"])
        results = _race(store, blocked, store.sweep, other.sweep)
    finally:
        other.close()
    assert sorted(results) == [0, 1]
    for party in (blue, red):
        assert feed_kinds(store, party).count("message.overdue") == 1


def test_an_answer_beside_the_sweep_stays_answered(store: Store, parties: dict[str, Party]) -> None:
    blue, red = parties["blue"], parties["red"]
    sent = store.send(blue, NewMessage("query", "?", to="red", respond_by=store.clock() + 60))
    store.clock.set(store.clock() + 120)
    blocked = select(deadlines.c.message_id).where(deadlines.c.message_id == sent["id"])
    answer = NewMessage("reply", "late", in_reply_to=sent["id"])
    _race(store, blocked, store.sweep, lambda: store.send(red, answer))
    # Either the answer came first (and nothing is overdue) or the sweep did (and the answer
    # then closed the deadline); never an answered deadline marked overdue after the fact.
    assert store.message(blue, sent["id"])["deadline"] == "answered"
    assert feed_kinds(store, blue).count("message.overdue") <= 1


def test_a_replace_beside_the_sweep_is_not_expired(
    store_url: str, store: Store, parties: dict[str, Party]
) -> None:
    blue = parties["blue"]
    put(store, blue, flight("b1"))
    store.clock.set(END + 1)
    later = flight("b1", times=["2015-10-01T08:00:00Z", "2015-10-01T09:00:00Z"])
    blocked = select(items.c.pk).where(items.c.item_id == "b1")
    _race(store, blocked, store.sweep, lambda: put(store, blue, later, if_match=1))
    # Whichever went first, the item ends up replaced, active and filed in its cells.
    record = store.get_item(blue, "b1")
    assert (record["status"], record["version"]) == ("active", 2)
    assert cell_count(store, item_pk(store, blue, "b1")) > 0
    assert [r["id"] for r in store.list_items(blue)] == ["b1"]


def test_party_changes_are_logged_without_keys(store: Store) -> None:
    _, key = store.add_party("white")
    new_key = store.rotate_key("white")
    store.revoke("white")
    with store.db.reading() as conn:
        rows = list(conn.execute(select(log.c.kind, log.c.body).order_by(log.c.seq)))
    assert [kind for kind, _ in rows] == ["party.added", "party.key_rotated", "party.revoked"]
    assert all(orjson.loads(body) == {"party": "white"} for _, body in rows)
    assert not any(secret in body for _, body in rows for secret in (key, new_key))
