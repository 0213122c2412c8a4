"""Group commit: the engine's pass made on a snapshot, and caught up at commit with what was
written since; passes made in a process of their own give the answers of passes in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detente.server.clock import Clock
from detente.server.db import driver
from detente.server.groups import _Pending
from detente.server.parties import Party
from detente.server.plans import Change
from detente.server.store import Store

from .conftest import DAY
from .plans import crossing_flight, distant_flight, flight

NOW = DAY


def _write(store: Store, party: Party, *features: dict[str, Any], if_match: int | None = None):
    changes = [Change(f["id"], f, if_match) for f in features]
    return store.write(party, changes, source="t")


def _pending(
    store: Store, party: Party, *features: dict[str, Any], if_match: int | None = None
) -> _Pending:
    changes = [Change(f["id"], f, if_match) for f in features]
    parsed = store.writer.parse(party, changes, NOW, "t")
    return _Pending(party, changes, [i for i in parsed if i is not None], NOW)


def _prepared(store: Store, party: Party, feature: dict[str, Any]):
    """A one-request group of `party` filing `feature`, and its pass on the store as it is."""
    pending = _pending(store, party, feature)
    with store.db.reading() as conn:
        found = store.writer.groups.prepare(conn, [pending])
    assert found is not None
    return pending, found


def _open_pairs(store: Store, party: Party) -> set[tuple[str, str]]:
    """(own id, other party) of a party's open notices."""
    return {(n["own"]["id"], n["other"]["party"]) for n in store.list_conflicts(party, "open")}


def _open_by_other(store: Store, party: Party) -> list[str]:
    """The other items of a party's open conflicts, by the store's rows (ids are not shown)."""
    from sqlalchemy import select

    from detente.server.schema import conflicts, items

    with store.db.reading() as conn:
        rows = conn.execute(
            select(conflicts.c.a_pk, conflicts.c.b_pk, conflicts.c.a_party).where(
                conflicts.c.status == "open"
            )
        ).all()
        other = [r.b_pk if r.a_party == party.id else r.a_pk for r in rows]
        ids = dict(conn.execute(select(items.c.pk, items.c.item_id)).all())
    return sorted(ids[pk] for pk in other)


@pytest.fixture
def parties(store: Store) -> tuple[Party, Party]:
    return store.add_party("blue")[0], store.add_party("red")[0]


def test_a_pass_catches_up_with_what_was_written_meanwhile(
    store: Store, parties: tuple[Party, Party]
) -> None:
    """Between the pass and its commit: a clashing item is filed, a candidate the pass met is
    withdrawn, another is moved away. The commit answers as if it had come after them."""
    blue, red = parties
    _write(store, red, crossing_flight("r-withdrawn"), crossing_flight("r-moved"))
    _write(store, red, crossing_flight("r-kept"))
    groups = store.writer.groups
    pending = _pending(store, blue, flight("b-1"))
    with store.db.reading() as conn:
        found = groups.prepare(conn, [pending])
    assert found is not None
    assert len(found.conflicts) == 3  # the three red flights, as the snapshot has them

    _write(store, red, crossing_flight("r-new"))
    store.write(red, [Change("r-withdrawn", None, 1)], source="t")
    _write(store, red, distant_flight("r-moved"), if_match=1)
    groups.commit(found, [pending])

    assert pending.result is not None
    told = pending.result.conflicts
    assert len(told) == 2
    assert _open_by_other(store, blue) == ["r-kept", "r-new"]
    assert _open_pairs(store, red) == {("r-kept", "blue"), ("r-new", "blue")}


def test_a_read_that_ends_its_transaction_reads_what_the_transaction_would(
    store: Store, parties: tuple[Party, Party]
) -> None:
    """A pass's read whose transaction ends with it (`last`) finds the same members,
    candidates and conflicts; on PostgreSQL the transaction has ended in the read's round trip
    (nothing is left open for the commit to end), and the connection is used again as usual."""
    blue, red = parties
    _write(store, red, crossing_flight("r-1"), distant_flight("r-far"))
    stored = _write(store, blue, flight("b-1"))
    groups = store.writer.groups
    passes = []
    for last in (False, True):
        group = [
            _pending(store, blue, flight("b-1"), if_match=stored.items[0]["version"]),
            _pending(store, blue, flight("b-2")),
        ]
        with store.db.reading() as conn:
            found = groups.read(conn, group, last=last)
            if conn.dialect.name == "postgresql":
                from psycopg.pq import TransactionStatus

                status = driver(conn).pgconn.transaction_status
                assert (status == TransactionStatus.IDLE) is last
        assert found is not None
        groups.detect(found)
        passes.append(found)
    plain, ended = passes
    assert [p.changes[0].item_id for p in ended.members] == ["b-1", "b-2"]
    assert ended.replaced == plain.replaced and len(ended.replaced) == 1
    assert sorted(ended.rows) == sorted(plain.rows) and ended.since == plain.since
    assert [(c.a, c.b) for c in ended.conflicts] == [(c.a, c.b) for c in plain.conflicts]
    assert len(ended.conflicts) == 2
    # The connection serves the next transaction.
    with store.db.reading() as conn:
        assert groups.read(conn, [_pending(store, blue, flight("b-3"))], last=True) is not None


def test_groups_committed_meanwhile_are_caught_up_from_memory(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """New items committed meanwhile by this process's groups are known without reading them
    back, and give the answer a read would."""
    blue, red = parties
    _write(store, red, crossing_flight("r-old"))
    groups = store.writer.groups
    pending, found = _prepared(store, blue, flight("b-1"))
    assert len(found.conflicts) == 1

    _write(store, red, crossing_flight("r-new"), distant_flight("r-far"))
    _write(store, blue, crossing_flight("b-own"))  # blue's own: never a candidate of blue's

    def read_back(*_args):
        raise AssertionError("the cells of groups committed here were read back")

    monkeypatch.setattr(groups, "_cells_of", read_back)
    monkeypatch.setattr(groups, "_written_since", read_back)
    groups.commit(found, [pending])
    assert pending.result is not None
    assert [c["other"]["party"] for c in pending.result.conflicts] == ["red", "red"]
    # b-1's two conflicts, and b-own's with the same red flights.
    assert _open_by_other(store, blue) == ["r-new", "r-new", "r-old", "r-old"]


def test_a_group_replacing_items_reads_their_open_conflicts_with_its_locks(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the open conflicts of the items a group replaces come in the round trip
    that takes its locks (SQLite reads them in the transaction); either way one is resolved
    and the other kept, as a write alone would."""
    blue, red = parties
    _write(store, red, crossing_flight("r-1"))
    b1 = _write(store, blue, flight("b-1")).items[0]["version"]
    b2 = _write(store, blue, flight("b-2")).items[0]["version"]
    assert _open_by_other(store, blue) == ["r-1", "r-1"]
    groups = store.writer.groups
    away = _pending(store, blue, distant_flight("b-1"), if_match=b1)
    same = _pending(store, blue, flight("b-2"), if_match=b2)
    with store.db.reading() as conn:
        found = groups.read(conn, [away, same], last=True)
    assert found is not None and len(found.replaced) == 2
    groups.detect(found)
    calls: list[list[int]] = []
    open_conflicts = store.writer._open_conflicts

    def counted(conn, pks):
        calls.append(sorted(pks))
        return open_conflicts(conn, pks)

    monkeypatch.setattr(store.writer, "_open_conflicts", counted)
    groups.commit(found, [away, same])
    assert away.result is not None and same.result is not None
    assert len(away.result.resolved) == 1 and away.result.conflicts == []
    assert same.result.resolved == [] and len(same.result.conflicts) == 1
    assert _open_by_other(store, blue) == ["r-1"]
    replaced = sorted(pk for pk, _ in found.replaced.values())
    assert calls == ([] if not store.db.is_sqlite else [replaced])


def test_replacements_committed_meanwhile_are_caught_up_from_memory(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate replaced meanwhile by a group of this process leaves the pass, and its new
    version joins it where it is under the pass's cells, without reading either back."""
    blue, red = parties
    _write(store, red, crossing_flight("r-moved"), crossing_flight("r-stays"))
    _write(store, red, distant_flight("r-comes"))
    groups = store.writer.groups
    pending, found = _prepared(store, blue, flight("b-1"))
    assert len(found.conflicts) == 2

    def read_back(*_args):
        raise AssertionError("the groups committed here were read back")

    monkeypatch.setattr(groups, "_cells_of", read_back)
    monkeypatch.setattr(groups, "_written_since", read_back)
    _write(store, red, distant_flight("r-moved"), if_match=1)
    _write(store, red, crossing_flight("r-comes"), if_match=1)
    groups.commit(found, [pending])
    assert pending.result is not None
    assert len(pending.result.conflicts) == 2
    assert _open_by_other(store, blue) == ["r-comes", "r-stays"]


@pytest.mark.parametrize("meanwhile", ["withdrawal", "new item"])
def test_a_replacement_caught_up_from_the_store_never_meets_the_version_it_replaces(
    store: Store, parties: tuple[Party, Party], meanwhile: str
) -> None:
    """Writes this process does not keep (a withdrawal; another process's new item) are read
    back at the catch-up. The item a group replaces, under the cells of another party's
    request of the group, is still no candidate there: its new version is stored, with the
    conflicts of the pass."""
    blue, red = parties
    _write(store, blue, flight("b-1"))
    _write(store, red, crossing_flight("r-1"), crossing_flight("r-gone"))
    groups = store.writer.groups
    group = [
        _pending(store, blue, flight("b-1", callsign="MOVED"), if_match=1),
        _pending(store, red, crossing_flight("r-x")),
    ]
    with store.db.reading() as conn:
        found = groups.prepare(conn, group)
    assert found is not None and len(found.conflicts) == 3
    if meanwhile == "withdrawal":
        store.write(red, [Change("r-gone", None, 1)], source="t")
    else:
        # A new item written by a group this process no longer keeps (as by another process).
        _write(store, red, distant_flight("r-new"))
        groups.recent.clear()
    groups.commit(found, group)
    replaced, new = (p.result for p in group)
    assert replaced is not None and new is not None
    assert replaced.items == [{"id": "b-1", "version": 2, "status": "active"}]
    assert len(new.conflicts) == 1
    expected = ["r-1", "r-x"] if meanwhile == "withdrawal" else ["r-1", "r-gone", "r-x"]
    assert _open_by_other(store, blue) == expected


def _deconflicted(store: Store, results: list[Any]) -> tuple[Any, ...]:
    """What a series of writes told and left: each answer's items, notices (own id, other
    party) and number of conflicts resolved; each party's open notices and events."""
    told = [
        (
            r.items,
            sorted((c["own"]["id"], c["other"]["party"]) for c in r.conflicts),
            len(r.resolved),
        )
        for r in results
    ]
    parties = {party.name: party for party in store.parties()}
    return (
        told,
        {name: _open_pairs(store, party) for name, party in parties.items()},
        {
            name: [kind for _, kind, _ in store.events_after(party, 0)]
            for name, party in parties.items()
        },
    )


def test_a_group_of_replacements_answers_as_writes_one_by_one(
    twin_stores: tuple[Store, Store],
) -> None:
    """New versions in a group keep, resolve and raise conflicts as one write after another
    would; a request replacing an item that an earlier request of the group may meet is
    written alone after the group, as one after it."""

    def across(item_id: str, alt: float, lat: float = 36.0, **props: Any) -> dict[str, Any]:
        return flight(item_id, [(36.5, lat - 0.5, alt), (36.5, lat + 0.5, alt)], **props)

    def along(item_id: str, alt: float, lat: float = 36.0) -> dict[str, Any]:
        return flight(item_id, [(36.0, lat, alt), (37.0, lat, alt)])

    stored = [
        ("red", [along("r-mid", 6000.0), along("r-high", 9000.0)]),
        ("blue", [across("b-keep", 6000.0), across("b-go", 9000.0), distant_flight("b-new")]),
        ("blue", [across("b-low", 3000.0, lat=34.0)]),
    ]
    requests = [
        ("red", [along("r-3", 3000.0, lat=34.0)], None),  # meets b-low, replaced below
        ("blue", [across("b-keep", 6000.0, callsign="KEEP")], 1),  # still meets r-mid
        ("blue", [distant_flight("b-go")], 1),  # away from r-high: resolved
        ("blue", [across("b-new", 9000.0)], 1),  # onto r-high: raised
        ("blue", [distant_flight("b-low")], 1),  # away from r-3
    ]
    answers = []
    for grouped, store in zip((False, True), twin_stores, strict=True):
        parties = {name: store.add_party(name)[0] for name in ("blue", "red")}
        for name, features in stored:
            _write(store, parties[name], *features)
        if grouped:
            group = [
                _pending(store, parties[name], *features, if_match=version)
                for name, features, version in requests
            ]
            with store.db.reading() as conn:
                found = store.writer.groups.prepare(conn, group)
            assert found is not None
            assert [p.changes[0].item_id for p in found.members] == [
                "r-3",
                "b-keep",
                "b-go",
                "b-new",
            ]
            store.writer.groups.commit(found, group)
            # The last one is left out of the group: written alone, as `PlanWriter` does.
            assert group[-1].result is None
            results = [p.result for p in group[:-1]]
            name, features, version = requests[-1]
            results.append(_write(store, parties[name], *features, if_match=version))
        else:
            results = [
                _write(store, parties[name], *features, if_match=version)
                for name, features, version in requests
            ]
        answers.append(_deconflicted(store, results))
    assert answers[0] == answers[1]
    told = answers[1][0]
    assert [(t[1], t[2]) for t in told] == [
        ([("r-3", "blue")], 0),
        ([("b-keep", "red")], 0),
        ([], 1),
        ([("b-new", "red")], 0),
        ([], 1),
    ]
    assert [t[0][0]["version"] for t in told] == [1, 2, 2, 2, 2]


def test_a_replacement_of_a_stale_version_is_not_grouped(
    store: Store, parties: tuple[Party, Party]
) -> None:
    """A request naming a version that is not the current one, or replacing a withdrawn
    item, is left out of the group (it is written alone, and answered 409 there)."""
    blue, _ = parties
    _write(store, blue, distant_flight("b-1"), distant_flight("b-2"))
    store.write(blue, [Change("b-2", None, 1)], source="t")
    group = [
        _pending(store, blue, flight("b-1"), if_match=2),
        _pending(store, blue, flight("b-2"), if_match=1),
        _pending(store, blue, flight("b-3")),
    ]
    with store.db.reading() as conn:
        found = store.writer.groups.prepare(conn, group)
    assert found is not None and found.members == group[2:]


def _hold_commit_of_b1(
    groups: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event, list[set[str]]]:
    """Hold the commit of the group that files b-1 (`committing` is set once it is held,
    until `release` is), and record the ids of each group read."""
    commit, read = groups.commit, groups.read
    committing, release = threading.Event(), threading.Event()
    read_ids: list[set[str]] = []

    def held_commit(found, group, then=None):
        if any(c.item_id == "b-1" for p in group for c in p.changes):
            committing.set()
            assert release.wait(30)
        return commit(found, group, then)

    def recorded_read(conn, group, last=False):
        read_ids.append({c.item_id for p in group for c in p.changes})
        return read(conn, group, last)

    monkeypatch.setattr(groups, "commit", held_commit)
    monkeypatch.setattr(groups, "read", recorded_read)
    return committing, release, read_ids


def test_the_next_group_is_read_while_the_one_before_commits(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group hands the lead on once its pass is made: the next group's pass is made while
    the first has not committed, and whichever commits second catches up with the first."""
    blue, red = parties
    groups = store.writer.groups
    committing, release, read_ids = _hold_commit_of_b1(groups, monkeypatch)
    answers: dict[str, Any] = {}

    def submit(party: Party, feature: dict[str, Any]) -> None:
        answers[feature["id"]] = _write(store, party, feature)

    first = threading.Thread(target=submit, args=(blue, flight("b-1")))
    first.start()
    assert committing.wait(30)
    second = threading.Thread(target=submit, args=(red, crossing_flight("r-1")))
    second.start()
    deadline = time.monotonic() + 5
    while {"r-1"} not in read_ids and time.monotonic() < deadline:
        time.sleep(0.01)
    # The second group's pass was made with the first group still waiting to commit.
    assert {"r-1"} in read_ids and not release.is_set()
    release.set()
    first.join(30)
    second.join(30)
    assert sorted(len(a.conflicts) for a in answers.values()) == [0, 1]
    assert _open_pairs(store, blue) == {("b-1", "red")}
    assert _open_pairs(store, red) == {("r-1", "blue")}


def test_a_group_made_waits_for_its_turn_and_the_requests_meanwhile_form_one_group(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a group commits, the next one's pass is made, and then it waits for its turn:
    no third group is taken meanwhile, so the requests that came form one group after it
    (rather than many small groups, each stale by all the commits queued before it)."""
    blue, red = parties
    groups = store.writer.groups
    committing, release, read_ids = _hold_commit_of_b1(groups, monkeypatch)
    answers: dict[str, Any] = {}

    def submit(party: Party, feature: dict[str, Any]) -> threading.Thread:
        def run() -> None:
            answers[feature["id"]] = _write(store, party, feature)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    threads = [submit(blue, flight("b-1"))]
    assert committing.wait(30)
    threads.append(submit(red, crossing_flight("r-1")))
    deadline = time.monotonic() + 5
    while {"r-1"} not in read_ids and time.monotonic() < deadline:
        time.sleep(0.01)
    assert {"r-1"} in read_ids
    threads += [submit(blue, distant_flight("b-2")), submit(red, distant_flight("r-2"))]
    deadline = time.monotonic() + 5
    while len(groups._queue) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    # The group of r-1 waits for its turn; b-2 and r-2 wait for a leader, unread.
    assert read_ids == [{"b-1"}, {"r-1"}]
    release.set()
    for thread in threads:
        thread.join(30)
    assert read_ids == [{"b-1"}, {"r-1"}, {"b-2", "r-2"}]
    # b-2 and r-2 (the same distant route) clash: the later request of their group is told.
    assert {key: len(a.conflicts) for key, a in answers.items()} == {
        "b-1": 0,
        "r-1": 1,
        "b-2": 0,
        "r-2": 1,
    }
    assert _open_pairs(store, blue) == {("b-1", "red"), ("b-2", "red")}


def test_a_request_left_out_of_a_group_is_written_by_the_next_group(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request replacing an item that an earlier request of its group meets is left out of
    that group's pass and put back at the head of the queue: the next group writes it (it is
    not written alone), and the answers are those of one write after another."""
    blue, red = parties
    _write(store, red, flight("r-x"))
    groups = store.writer.groups
    committing, release, read_ids = _hold_commit_of_b1(groups, monkeypatch)
    write = groups.write
    alone: list[str] = []

    def recorded_write(party, changes, items_, now):
        result = write(party, changes, items_, now)
        if result is None:
            alone.append(changes[0].item_id)
        return result

    monkeypatch.setattr(groups, "write", recorded_write)
    answers: dict[str, Any] = {}

    def submit(party: Party, feature: dict[str, Any], if_match: int | None = None) -> None:
        def run() -> None:
            answers[feature["id"]] = _write(store, party, feature, if_match=if_match)

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)

    threads: list[threading.Thread] = []
    submit(blue, distant_flight("b-1"))
    assert committing.wait(30)
    # Read while b-1's group commits: held back until its turn, with what came meanwhile.
    submit(blue, distant_flight("b-2"))
    deadline = time.monotonic() + 5
    while {"b-2"} not in read_ids and time.monotonic() < deadline:
        time.sleep(0.01)
    submit(blue, crossing_flight("b-a"))
    while len(groups._queue) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    submit(red, flight("r-x", [(36.0, 28.0, 6000.0), (37.0, 28.0, 6000.0)]), if_match=1)
    while len(groups._queue) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    assert read_ids == [{"b-1"}, {"b-2"}, {"b-a", "r-x"}, {"r-x"}]
    assert alone == []
    # b-a met r-x's first version; r-x's second, written after it, resolved that conflict.
    assert len(answers["b-a"].conflicts) == 1
    assert answers["r-x"].items[0]["version"] == 2 and len(answers["r-x"].resolved) == 1
    assert _open_pairs(store, blue) == set()


def test_recent_writes_know_only_whole_commits() -> None:
    import numpy as np

    from detente.server.passes import Candidate
    from detente.server.recent import RecentWrites

    recent = RecentWrites(size=3)
    cells = np.array([7, 8], np.int64), np.zeros(2, np.int64), np.array([70, 80], np.int64)
    rows = [
        (Candidate(7, 1, 2, "active", 0.0, 1.0), "a"),
        (Candidate(8, 1, 2, "active", 0.0, 1.0), "b"),
    ]
    recent.add([10, 12], rows, *cells)
    filed = recent.filed([12])
    assert filed is not None and set(filed.rows) == {7, 8} and filed.ids == {2: {"a", "b"}}
    assert recent.filed([12, 13]) is None  # 13: written elsewhere, or by another path
    recent.add([20, 21], rows[:1] * 2, *cells)  # the oldest entry (10) is forgotten
    assert recent.filed([10]) is None and recent.filed([12, 20]) is not None


def test_a_pass_whose_id_was_taken_meanwhile_is_not_stored(
    store: Store, parties: tuple[Party, Party]
) -> None:
    blue, red = parties
    _write(store, red, crossing_flight("r-1"))
    groups = store.writer.groups
    pending, found = _prepared(store, blue, flight("b-1"))
    _write(store, blue, distant_flight("b-1"))
    groups.commit(found, [pending])
    # The request goes alone after that (and is told the id exists): nothing of it was stored.
    assert pending.result is None
    assert [i["feature"]["geometry"] for i in store.list_items(blue)] == [
        distant_flight("b-1")["geometry"]
    ]
    assert _open_by_other(store, blue) == []


def test_a_new_agreement_meanwhile_makes_the_pass_again(
    store: Store, parties: tuple[Party, Party]
) -> None:
    from dataclasses import replace

    blue, red = parties
    # 20 km apart: no conflict under the default 5 NM, one under 20 NM.
    _write(store, red, flight("r-1", [(36.0, 36.2, 6000.0), (37.0, 36.2, 6000.0)]))
    groups = store.writer.groups
    pending = _pending(store, blue, flight("b-1"))
    with store.db.reading() as conn:
        found = groups.prepare(conn, [pending])
    assert found is not None and found.conflicts == []
    store.set_agreement(replace(store.agreement(), horizontal_m=20 * 1852.0))
    groups.commit(found, [pending])
    assert pending.result is not None and len(pending.result.conflicts) == 1
    assert _open_by_other(store, blue) == ["r-1"]


def test_a_pass_reads_under_the_agreement_adopted_since_the_pass_before(
    store: Store, parties: tuple[Party, Party]
) -> None:
    """A pass files the group's cells under the agreement the pass before read, and again
    once it reads a new one: the candidates the new margins reach are met."""
    from dataclasses import replace

    blue, red = parties
    # 267 km apart: a conflict under 150 NM, met only through the cells its margins reach.
    _write(store, red, flight("r-1", [(36.0, 38.4, 6000.0), (37.0, 38.4, 6000.0)]))
    _write(store, blue, distant_flight("b-0"))
    store.set_agreement(replace(store.agreement(), horizontal_m=150 * 1852.0))
    pending, found = _prepared(store, blue, flight("b-1"))
    assert len(found.conflicts) == 1
    store.writer.groups.commit(found, [pending])
    assert pending.result is not None and len(pending.result.conflicts) == 1
    assert _open_by_other(store, blue) == ["r-1"]


@pytest.fixture
def twin_stores(store_url: str, tmp_path) -> Iterator[tuple[Store, Store]]:
    """Two empty stores on the backend; the second makes its passes in a process."""
    if store_url.startswith("postgresql"):
        import uuid

        import psycopg

        base = store_url.rsplit("/", 1)[0]
        name = f"detente_twin_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(store_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        other_url = f"{base}/{name}"
    else:
        other_url = str(tmp_path / "twin.db")
        name = ""
    a = Store(store_url, clock=Clock(start=DAY)).migrate()
    b = Store(other_url, clock=Clock(start=DAY)).migrate()
    b.start_pass_process()
    assert b.writer.groups.process is not None
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        if name:
            import psycopg

            with psycopg.connect(store_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_passes_in_a_process_answer_as_passes_in_a_thread(
    twin_stores: tuple[Store, Store],
) -> None:
    answers = []
    for store in twin_stores:
        blue, _ = store.add_party("blue")
        red, _ = store.add_party("red")
        got = []
        got.append(_write(store, red, crossing_flight("r-1"), distant_flight("r-2")))
        got.append(
            _write(
                store,
                blue,
                flight("b-1"),
                flight("b-2", [(36.0, 36.01, 6000.0), (37.0, 36.01, 6000.0)]),
            )
        )
        got.append(_write(store, blue, crossing_flight("b-3")))
        got.append(_write(store, red, flight("r-3"), distant_flight("r-4")))
        # A new version, from the pass process too: b-3 moves away from r-1.
        got.append(_write(store, blue, distant_flight("b-3"), if_match=1))
        answers.append(
            (
                [
                    (
                        r.items,
                        [(c["kind"], c["own"]["id"], c["start"], c["end"]) for c in r.conflicts],
                        len(r.resolved),
                    )
                    for r in got
                ],
                _open_pairs(store, blue),
                _open_pairs(store, red),
            )
        )
    assert answers[0] == answers[1]
    assert len(answers[1][1]) == 3
    # b-3's new version left r-1 and r-3 behind, and met r-2 and r-4 (distant too).
    assert answers[1][0][-1][2] == 2 and len(answers[1][0][-1][1]) == 2
    # The process made the passes (it did not stop and leave them to the server's process).
    assert twin_stores[1].writer.groups.process is not None


def test_a_group_of_several_parties_answers_as_writes_one_by_one(
    twin_stores: tuple[Store, Store],
) -> None:
    """The group looks its candidates up once for every party: a stored item that is one
    party's candidate and another's own item is met only where it should be."""
    stored = {
        "blue": [crossing_flight("b-s")],
        "red": [flight("r-s", [(36.0, 36.01, 6000.0), (37.0, 36.01, 6000.0)])],
    }
    requests = [
        ("blue", [flight("b-1")]),
        ("red", [crossing_flight("r-1")]),
        ("green", [distant_flight("g-1")]),
    ]
    answers = []
    for grouped, store in zip((True, False), twin_stores, strict=True):
        parties = {name: store.add_party(name)[0] for name in ("blue", "red", "green")}
        for name, features in stored.items():
            _write(store, parties[name], *features)
        if grouped:
            group = [_pending(store, parties[name], *features) for name, features in requests]
            with store.db.reading() as conn:
                found = store.writer.groups.prepare(conn, group)
            assert found is not None and len(found.members) == 3
            store.writer.groups.commit(found, group)
            results = [p.result for p in group]
        else:
            results = [_write(store, parties[name], *features) for name, features in requests]
        answers.append(
            (
                [
                    sorted((c["own"]["id"], c["other"]["party"]) for c in r.conflicts)
                    for r in results
                ],
                {name: _open_pairs(store, party) for name, party in parties.items()},
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][0] == [[("b-1", "red")], [("r-1", "blue"), ("r-1", "blue")], []]


def test_passes_go_back_into_the_server_when_the_pass_process_dies(
    store: Store, parties: tuple[Party, Party], caplog: pytest.LogCaptureFixture
) -> None:
    import os
    import signal

    blue, red = parties
    _write(store, red, crossing_flight("r-1"))
    store.start_pass_process()
    process = store.writer.groups.process
    assert process is not None and process.pid is not None
    assert len(_write(store, blue, flight("b-1")).conflicts) == 1
    os.kill(process.pid, signal.SIGKILL)
    with caplog.at_level("ERROR", logger="detente.server"):
        answer = _write(store, blue, flight("b-2"))
    assert len(answer.conflicts) == 1
    assert store.writer.groups.process is None
    assert "the pass process stopped" in caplog.text
    assert _open_by_other(store, blue) == ["r-1", "r-1"]


def test_the_server_warms_its_cache_while_the_pass_process_starts(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's cache is warmed while the pass process comes up; if that fails, no pass
    process is left behind."""
    import multiprocessing

    blue, red = parties
    _write(store, red, crossing_flight("r-1"))
    children = {p.pid for p in multiprocessing.active_children()}

    def fails() -> int:
        raise RuntimeError("warm")

    with monkeypatch.context() as patch:
        patch.setattr(store, "warm", fails)
        with pytest.raises(RuntimeError, match="warm"):
            store.start_pass_process(warm=True)
    assert store.writer.groups.process is None
    assert {p.pid for p in multiprocessing.active_children()} <= children

    assert store.start_pass_process(warm=True) == 1
    process = store.writer.groups.process
    assert process is not None and process.pid is not None
    assert len(_write(store, blue, flight("b-1")).conflicts) == 1


def _may_raise_priority() -> bool:
    """Whether a process started here may lower its nice value (CAP_SYS_NICE)."""
    import subprocess
    import sys

    lower = "import os; os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) - 1)"
    return subprocess.run([sys.executable, "-c", lower], capture_output=True).returncode == 0


def test_the_pass_process_runs_above_the_servers_priority_where_allowed(
    store: Store, parties: tuple[Party, Party]
) -> None:
    """The passes every write waits for come first where the system allows it; elsewhere the
    process runs at the server's priority, and says so."""
    import os

    from detente.server.passes import PASS_PRIORITY, PassProcess

    process = PassProcess(store.db.url)
    try:
        raised = process.wait_ready()
        assert process.pid is not None
        ours, its = os.getpriority(os.PRIO_PROCESS, 0), os.getpriority(os.PRIO_PROCESS, process.pid)
        assert raised == _may_raise_priority()
        assert its == (ours - PASS_PRIORITY if raised else ours)
        # Its threads too (the one that watches for the server's end).
        threads = [int(t) for t in os.listdir(f"/proc/{process.pid}/task")]
        assert len(threads) > 1
        assert {os.getpriority(os.PRIO_PROCESS, t) for t in threads} == {its}
    finally:
        process.close()


def test_the_pass_process_ends_when_the_server_is_killed(tmp_path) -> None:
    """A server killed outright (no time to stop anything) leaves no pass process behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys, time\n"
        "from detente.server.store import Store\n"
        f"store = Store({str(tmp_path / 'k.db')!r}).migrate()\n"
        "store.start_pass_process()\n"
        "print(store.writer.groups.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    children = [int(pid) for pid in server.stdout.readline().split()]
    assert len(children) == 1
    os.kill(children[0], 0)  # running
    server.send_signal(signal.SIGKILL)
    server.wait()
    server.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            # Gone, or ended and not yet reaped (a zombie: state Z).
            state = Path(f"/proc/{children[0]}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.1)
    os.kill(children[0], signal.SIGKILL)
    raise AssertionError("the pass process outlived its server")


class _PassesHere:
    """A pass process's stand-in that makes the passes in this process and records what the
    commits tell it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.told: list[tuple[int, int, int, int]] = []

    def prepare(self, group: list[_Pending]):
        with self.store.db.reading() as conn:
            return self.store.writer.groups.prepare(conn, group)

    def committed(self, items: list[tuple[int, int, int, int]]) -> None:
        self.told += items

    def close(self) -> None:
        pass


def _pk(store: Store, item_id: str) -> int:
    from sqlalchemy import select

    from detente.server.schema import items

    with store.db.reading() as conn:
        return int(conn.execute(select(items.c.pk).where(items.c.item_id == item_id)).scalar_one())


def test_a_commit_tells_the_pass_process_the_keys_of_its_items(
    store: Store, parties: tuple[Party, Party]
) -> None:
    blue, red = parties
    here = _PassesHere(store)
    store.writer.groups.process = here  # type: ignore[assignment]
    _write(store, red, crossing_flight("r-1"), distant_flight("r-2"))
    _write(store, blue, flight("b-1"))
    _write(store, blue, distant_flight("b-1"), if_match=1)
    (first, _, pk_r1, v_r1), (same, position, pk_r2, _), (second, _, pk_b1, v_b1) = here.told[:3]
    assert (same, position) == (first, 1) and second > first
    assert (pk_r1, pk_r2, pk_b1) == (_pk(store, "r-1"), _pk(store, "r-2"), _pk(store, "b-1"))
    assert (v_r1, v_b1) == (1, 1)
    # A new version is told under the same key.
    assert here.told[3][1:] == (0, pk_b1, 2)


def test_the_pass_process_keeps_the_items_of_stored_groups_as_candidates(
    store: Store, store_url: str, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item a pass was sent joins the pass process's cache under its key once its group is
    stored: later passes meet that very object (its pieces split once) without reading it."""
    from detente.server import passes

    blue, red = parties
    process_side = Store(store_url, clock=Clock(start=DAY))
    monkeypatch.setattr(passes, "_groups", process_side.writer.groups)
    monkeypatch.setattr(passes, "_made", {})
    try:
        red_flight = _pending(store, red, crossing_flight("r-1"))
        found, members = passes._prepare(
            [(red, ["r-1"], [None], red_flight.items, NOW, red_flight.number)], []
        )
        assert found is not None and members == [0]
        found.members = [red_flight]
        store.writer.groups.commit(found, [red_flight])
        pk = _pk(store, "r-1")
        assert process_side.writer.cache.get((pk, 1)) is None

        blue_flight = _pending(store, blue, flight("b-1"))
        found, _ = passes._prepare(
            [(blue, ["b-1"], [None], blue_flight.items, NOW, blue_flight.number)],
            [(red_flight.number, 0, pk, 1), (red_flight.number + 10_000, 0, pk + 1, 1)],
        )
        kept = process_side.writer.cache.get((pk, 1))
        assert kept is red_flight.items[0]
        assert found is not None and [(c.a.id, c.b.id) for c in found.conflicts] in (
            [("b-1", "r-1")],
            [("r-1", "b-1")],
        )
        assert passes._made.keys() == {(blue_flight.number, 0)}
    finally:
        process_side.close()


def test_a_warm_start_files_the_stored_flights_as_a_pass_would(
    store: Store, store_url: str, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warmed with `file_pieces`, a store's passes meet their candidates split and filed in
    the engine's grid already: a pass splits and files only the new flights, and finds what a
    cold store finds."""
    from detente.detect import trajectories

    blue, red = parties
    _write(store, red, crossing_flight("r-1"), distant_flight("r-2"))
    warm = Store(store_url, clock=Clock(start=DAY))
    cold = Store(store_url, clock=Clock(start=DAY))
    try:
        assert warm.warm(file_pieces=True) == 2
        split: list[str] = []
        filed: list[str] = []
        real_split, real_file = trajectories.flight_pieces, trajectories.PieceCache._file

        def recorded_split(flights: Any, *args: Any) -> Any:
            split.extend(f.id for f in flights)
            return real_split(flights, *args)

        def recorded_file(self: Any, flights: Any, *args: Any) -> Any:
            filed.extend(f.id for f in flights)
            return real_file(self, flights, *args)

        monkeypatch.setattr(trajectories, "flight_pieces", recorded_split)
        monkeypatch.setattr(trajectories.PieceCache, "_file", recorded_file)
        _, found = _prepared(warm, blue, flight("b-1"))
        assert (split, filed) == (["b-1"], ["b-1"])
        _, again = _prepared(cold, blue, flight("b-1"))
        assert "r-1" in split and "r-1" in filed  # the cold store split its candidate
        assert found.conflicts == again.conflicts
        assert [(c.a.id, c.b.id) for c in found.conflicts] in ([("b-1", "r-1")], [("r-1", "b-1")])
    finally:
        warm.close()
        cold.close()


def test_a_group_is_kept_for_the_catch_up_once_committed_and_answered_once_on_disk(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's transaction does not wait for the log's flush; what it wrote is kept for
    the next groups' catch-up before the flush, and its requests are answered after it."""
    blue, red = parties
    groups = store.writer.groups
    steps: list[tuple[str, list[object]]] = []
    remember, flushed = groups._remember, store.db.flushed

    def spy_remember(*args) -> None:
        steps.append(("kept", [p.result for p in group]))
        remember(*args)

    def spy_flushed(conn) -> None:
        steps.append(("flushed", [p.result for p in group]))
        flushed(conn)

    monkeypatch.setattr(groups, "_remember", spy_remember)
    monkeypatch.setattr(store.db, "flushed", spy_flushed)
    group = [_pending(store, red, crossing_flight("r-1")), _pending(store, blue, flight("b-1"))]
    with store.db.reading() as conn:
        found = groups.prepare(conn, group)
    assert found is not None
    groups.commit(found, group)
    unanswered = [None, None]
    assert steps == [("kept", unanswered), ("flushed", unanswered)]
    assert [len(p.result.conflicts) for p in group if p.result is not None] == [0, 1]


def test_a_group_whose_flush_fails_is_not_kept_for_the_catch_up(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed, and perhaps lost in a crash: its log numbers may be given again."""
    _, red = parties
    groups = store.writer.groups

    def broken(conn) -> None:
        raise OSError("the server went away")

    monkeypatch.setattr(store.db, "flushed", broken)
    group = [_pending(store, red, crossing_flight("r-1"))]
    with store.db.reading() as conn:
        found = groups.prepare(conn, group)
    assert found is not None
    with pytest.raises(OSError):
        groups.commit(found, group)
    assert group[0].result is None
    assert groups.recent.filed([1]) is None and groups.recent._commits == {}


def test_events_are_handed_out_once_on_disk(
    store: Store, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    blue, red = parties
    made_durable: list[object] = []
    durable = store.db.durable

    def spy(conn) -> None:
        made_durable.append(conn)
        durable(conn)

    monkeypatch.setattr(store.db, "durable", spy)
    assert store.events_after(blue, 0) == []
    assert made_durable == []
    _write(store, red, crossing_flight("r-1"))
    _write(store, blue, flight("b-1"))
    made_durable.clear()  # (the writes' own flushes)
    assert [kind for _, kind, _ in store.events_after(blue, 0)][-1] == "conflict.raised"
    assert len(made_durable) == 1


def test_the_pass_process_begins_a_pass_while_the_one_before_waits_for_its_reads(
    store: Store, store_url: str, parties: tuple[Party, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a pass pauses once its reads are sent: the next one is begun then, and
    each, finished, is the pass made at once. On SQLite a pass is made as soon as begun."""
    from detente.server import passes

    blue, red = parties
    _write(store, red, crossing_flight("r-1"))
    process_side = Store(store_url, clock=Clock(start=DAY))
    monkeypatch.setattr(passes, "_groups", process_side.writer.groups)
    monkeypatch.setattr(passes, "_made", {})
    try:
        blue_flight = _pending(store, blue, flight("b-1"))
        red_flight = _pending(store, red, flight("r-2"))
        sent = [
            ([(blue, ["b-1"], [None], blue_flight.items, NOW, blue_flight.number)], []),
            ([(red, ["r-2"], [None], red_flight.items, NOW, red_flight.number)], []),
        ]
        first = passes._Begun.of(sent[0])
        assert first.ready is store.db.is_sqlite
        second = passes._Begun.of(sent[1])
        outcomes = [first.finish(), second.finish()]
        assert first.ready and second.ready
        conflicts = [[(c.a.id, c.b.id) for c in found.conflicts] for found, _ in outcomes]
        assert [members for _, members in outcomes] == [[0], [0]]
        assert conflicts[0] in ([("b-1", "r-1")], [("r-1", "b-1")]) and conflicts[1] == []
        for message, (found, _) in zip(sent, outcomes, strict=True):
            again, _ = passes._prepare(*message)
            assert again is not None and again.rows == found.rows
        # A pass that fails is an outcome too, given in its turn.
        failing = passes._Begun.of(([(blue, ["b-9"], [None], [object()], NOW, 99)], []))
        assert isinstance(failing.finish(), Exception)
    finally:
        process_side.close()


def test_concurrent_groups_commit_in_the_order_they_were_taken_with_passes_in_flight(
    twin_stores: tuple[Store, Store],
) -> None:
    """Writers at once on a store whose passes are made in a process (two sent at a time on
    PostgreSQL): every clash between their flights is found once, none is lost, and every
    answer names the conflicts its write raised."""
    from detente.server.passes import PASSES_IN_FLIGHT

    store = twin_stores[1]
    assert store.writer.groups.leaders == (1 if store.db.is_sqlite else PASSES_IN_FLIGHT)
    blue, _ = store.add_party("blue")
    red, _ = store.add_party("red")
    raised: list[int] = []
    errors: list[BaseException] = []

    def submit(party: Party, feature: dict[str, Any]) -> None:
        try:
            raised.append(len(_write(store, party, feature).conflicts))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [
        threading.Thread(target=submit, args=(party, make(f"{party.name}-{k}")))
        for k in range(12)
        for party, make in ((blue, flight), (red, crossing_flight))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Each of the 12 blue flights meets each of the 12 red ones: 144 conflicts, each raised
    # by the later of its two writes and shown to both parties.
    assert sum(raised) == 144
    assert len(store.list_conflicts(blue, "open")) == 144
    assert len(store.list_conflicts(red, "open")) == 144
