"""Concurrent plans, written together in one transaction (group commit).

Requests that only file items, new ones or new versions of active ones (`If-Match`; no
withdrawal, not a dry run), wait in a queue; the first one in it leads and writes every request
waiting (up to a limit), in arrival order, in one transaction: one cell lookup, one pass of the
engine, one set of inserts and one commit (one fsync on SQLite) for all of them. The others wait
for the commit. Once a group's pass is made, the first request waiting leads the next group,
whose pass is made while the group before commits: a group takes every request that came
during the pass before.

The outcome is that of writing the requests one after the other in that order: each request's
conflicts are those the engine finds between its items and the stored items it would have
fetched as candidates (the earlier requests' items included), a replaced item's open conflicts
are kept or resolved as they would have been, each is stored, numbered, logged and announced as
it would have been, and its answer comes after the commit. A request that cannot go this way
is left out of its group's pass: one of its new ids is stored already, an item it replaces is
not active at the version it names, an earlier request of the group gives one of its ids too,
or an item it replaces is a candidate of an earlier request (whose conflicts with the version
replaced would then have to be raised and resolved in one commit). It is put back at the head
of the queue, for the next group (it then comes after this group, as it would alone); left
out again, it is written on its own. So is every request of a group whose transaction fails.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from detente.detect import PlanIndex
from detente.detect.cells import CellKeys, item_cells, query_keys
from detente.model import Agreement, Conflict, Item, ItemRef

from . import timings
from .candidates import filed_versions, send_filed_under
from .db import driver, pg_array
from .journal import Entry, append
from .notices import group_pairs
from .parties import Party, agreement_of
from .passes import Candidate
from .recent import Filed, RecentWrites
from .schema import cells, item_versions, items, log

if TYPE_CHECKING:
    from .passes import PassProcess
    from .plans import Change, PlanWriter, WriteResult

__all__ = ["Groups", "groupable"]

IntArray = NDArray[np.int64]

logger = logging.getLogger("detente.server")

#: A group takes requests until it holds this many items or requests (a larger request goes alone).
MAX_GROUP_ITEMS = 2_000
MAX_GROUP_REQUESTS = 128
#: Changes written between a group's pass and its commit that are caught up with; beyond, the
#: pass is made again under the write lock.
MAX_CATCH_UP = 2_000
# The columns of an item's row a new version sets.
_REPLACED_COLUMNS = ("version", "kind", "status", "start_s", "end_s", "feature", "written_at")
# The statements of every group's commit, made once (SQLAlchemy caches their compiled form).
_UPDATE_REPLACED = (
    update(items)
    .where(items.c.pk == bindparam("b_pk"))
    .values({name: bindparam(f"b_{name}") for name in _REPLACED_COLUMNS})
)
_INSERT_NEW = insert(items).returning(items.c.pk, sort_by_parameter_order=True)
_INSERT_VERSIONS = insert(item_versions)
_DELETE_CELLS = delete(cells).where(cells.c.item_pk.in_(bindparam("pks", expanding=True)))
# Log entries that change the candidates of a pass.
_CHANGES = ("item.written", "item.withdrawn", "item.expired", "agreement.adopted")


_numbers = itertools.count(1)


def groupable(changes: Sequence[Change], parsed: Sequence[Item | None]) -> bool:
    """Whether a request only files items, new or replacing (no withdrawal)."""
    return bool(changes) and all(
        c.feature is not None and item is not None for c, item in zip(changes, parsed, strict=True)
    )


@dataclass(slots=True, eq=False)
class _Pending:
    party: Party
    changes: Sequence[Change]
    items: list[Item]
    now: float
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: WriteResult | None = None
    #: Names the request to the pass process (which keeps its items until told their keys).
    number: int = field(default_factory=_numbers.__next__)
    #: Left out of a group's pass once, and put back in the queue for the next group.
    put_back: bool = False


@dataclass(slots=True, eq=False)
class _Stored:
    """What a group's transaction wrote: its requests, their items' keys and versions (in
    order) and cells, the log entries and their numbers, and each request's notices as it sees
    them and the conflicts it resolved."""

    members: list[_Pending]
    pks: list[int]
    versions: list[int]
    cell_rows: CellKeys
    entries: list[Entry]
    seqs: list[int]
    views: list[list[dict[str, Any]]]
    resolved: list[list[str]]


#: A stored item a group replaces, by `(party id, item id)`: its key and current version.
Replaced = dict[tuple[int, str], tuple[int, int]]
#: The stored rows of ids a group gives, by `(party id, item id)`: key, version, status.
StoredRows = dict[tuple[int, str], tuple[int, int, str]]


@dataclass(slots=True, eq=False)
class _Pass:
    """The engine's pass over a group as read at log entry `since`: the group's cells and
    query keys, the candidates' rows and items by pk (those met, at least), the conflicts;
    the stored items the group replaces (never candidates) and, on PostgreSQL, the cells they
    are filed under (locked with the group's)."""

    since: int
    agreement: Agreement
    members: list[_Pending]
    cell_rows: CellKeys
    queries: CellKeys
    rows: dict[int, Any]
    stored: dict[int, Item]
    conflicts: list[Conflict]
    replaced: Replaced = field(default_factory=dict)
    old_cells: IntArray = field(default_factory=lambda: np.empty((0, 2), np.int64))


class Groups:
    """The queue of groupable requests of one `PlanWriter`: up to `leaders` groups have their
    pass made at once; a group whose pass is made commits (under the store's write lock), in
    the order the groups were taken.

    One group commits at a time, and the next group's pass is made while it does: the next
    group is taken only once this one's turn to commit has come. A group never waits behind
    groups already made (stale by all their writes), and while commits are the slower step
    the groups grow instead of queueing."""

    def __init__(self, writer: PlanWriter, leaders: int = 1) -> None:
        self.writer = writer
        self.leaders = leaders
        #: Where passes are made when not in this process (`PassProcess`).
        self.process: PassProcess | None = None
        #: The last groups committed here, for the catch-up of the next ones.
        self.recent = RecentWrites(2 * MAX_CATCH_UP)
        #: The agreement the last pass read (the first guess of the next one's).
        self._agreement = Agreement()
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = 0
        # Groups commit one at a time, in the order they were taken (numbered from 0): the
        # number of the group whose turn it is, and the number of the next group taken.
        self._turn = threading.Condition()
        self._turn_of = self._taken = 0

    def write(
        self, party: Party, changes: Sequence[Change], items_: Sequence[Item], now: float
    ) -> WriteResult | None:
        """The answer to a request, written with the others waiting; None: write it alone."""
        pending = _Pending(party, changes, list(items_), now)
        with self._lock:
            self._queue.append(pending)
            if self._leading < self.leaders:
                self._leading += 1
                pending.lead = True
        if not pending.lead:
            # Woken with the answer, or to lead the next group.
            pending.done.wait()
        if pending.lead:
            self._lead(pending)
        return pending.result

    def _lead(self, leader: _Pending) -> None:
        with self._lock:
            self._queue.remove(leader)
            group, count = [leader], len(leader.items)
            for pending in list(self._queue):
                if len(group) == MAX_GROUP_REQUESTS or count + len(pending.items) > MAX_GROUP_ITEMS:
                    break
                if not pending.lead:
                    self._queue.remove(pending)
                    group.append(pending)
                    count += len(pending.items)
            number, self._taken = self._taken, self._taken + 1
        # The engine's pass runs on a snapshot, outside the write lock (in the pass process
        # when there is one). Once this group's turn to commit comes, the next group is taken
        # and its pass made while this one commits; under the lock only what was written
        # since is checked.
        found: _Pass | None = None
        failed: Exception | None = None
        # When the pass began and ended, the turn came, the commit ended (`timings`).
        marks = [time.perf_counter()]
        try:
            found = self._prepare_outside(group)
        except Exception as error:
            failed = error
        marks.append(time.perf_counter())
        waiting: set[int] = set()
        held = given = False

        def let_go() -> None:
            nonlocal held, given
            if held:
                held, given = False, True
                with self._turn:
                    self._turn_of += 1
                    self._turn.notify_all()
                marks.append(time.perf_counter())

        try:
            if found is None:
                self._hand_over()
            else:
                # The turn is let go once the group has committed: the next group commits
                # while this one's commit is written out to disk.
                self._take_turn(number)
                marks.append(time.perf_counter())
                held = True

                try:
                    waiting = self._put_back(group, found.members)
                    self._hand_over()
                    self.commit(found, [p for p in group if id(p) not in waiting], let_go)
                finally:
                    let_go()
                if timings.enabled():
                    began, prepared, turn, committed = marks
                    timings.log_group(
                        len(group) - len(waiting),
                        prepared - began,
                        turn - prepared,
                        committed - turn,
                        time.perf_counter() - committed,
                    )
        except Exception as error:
            failed = error
        finally:
            if not given:
                # A group that does not commit gives its turn to the next one.
                if not held:
                    self._take_turn(number)
                    held = True
                let_go()
            if failed is not None:
                # Each request is written again on its own, and meets its own error there.
                logger.warning(
                    "a group of %d requests was not written; each is written alone",
                    len(group),
                    exc_info=failed,
                )
                for pending in group:
                    if id(pending) not in waiting:
                        pending.result = None
            for pending in group[1:]:
                if id(pending) not in waiting:
                    pending.done.set()

    def _take_turn(self, number: int) -> None:
        """Wait for the turn of group `number` to commit (the groups before have let theirs go)."""
        with self._turn:
            self._turn.wait_for(lambda: self._turn_of == number)

    def _put_back(self, group: list[_Pending], members: list[_Pending]) -> set[int]:
        """Put the requests of `group` its pass left out back at the head of the queue, once
        each, for the next group (which its first one then leads); the `id`s of those put back.
        Written alone instead, each would be a write of its own, and the groups committed
        after it would read back what it wrote. The leader's own request is written alone
        (only an error, met there, leaves out the first request)."""
        kept = {id(p) for p in members}
        again = [p for p in group[1:] if id(p) not in kept and not p.put_back]
        if again:
            with self._lock:
                for pending in again:
                    pending.put_back = True
                self._queue[:0] = again
        return {id(p) for p in again}

    def _hand_over(self) -> None:
        """Let the first request waiting lead the next group (or free a leader's place)."""
        with self._lock:
            following = next((p for p in self._queue if not p.lead), None)
            if following is None:
                self._leading -= 1
            else:
                following.lead = True
        if following is not None:
            following.done.set()

    def _prepare_outside(self, group: list[_Pending]) -> _Pass | None:
        if self.process is not None:
            try:
                return self.process.prepare(group)
            except BrokenProcessPool:
                logger.exception("the pass process stopped; passes run in the server's process")
                process, self.process = self.process, None
                process.close()
                # Passes in flight were the process's (it overlaps their reads): one at a time.
                self.leaders = 1
        with self.writer.db.reading() as conn:
            found = self.read(conn, group, last=True)
        if found is not None:
            self.detect(found)
        return found

    def prepare(self, conn: Connection, group: list[_Pending]) -> _Pass | None:
        """The engine's pass over the group on what `conn` sees; None when no request is left."""
        found = self.read(conn, group)
        if found is not None:
            self.detect(found)
        return found

    def read(self, conn: Connection, group: list[_Pending], last: bool = False) -> _Pass | None:
        """What the group's pass reads from the store, its conflicts not yet found (`detect`
        finds them once the read has ended: SQLite restarts its log only when no reader is in
        it); None when no request is left. `last`: `conn`'s transaction only reads, and ends
        with this read (PostgreSQL ends it in the read's round trip)."""
        steps = self.read_in_steps(conn, group, last)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                found: _Pass | None = done.value
                return found

    def read_in_steps(
        self, conn: Connection, group: list[_Pending], last: bool = False
    ) -> Generator[None, None, _Pass | None]:
        """`read` as a generator that returns its outcome. On PostgreSQL it pauses once, its
        statements sent and not yet answered: another pass (on another connection) can be
        made meanwhile, while PostgreSQL runs them. On SQLite it reads at once."""
        if conn.dialect.name == "postgresql":
            return (yield from self._read_at_once(conn, group, last))
        return self._read_sqlite(conn, group)

    def _read_sqlite(self, conn: Connection, group: list[_Pending]) -> _Pass | None:
        since, agreement_text = driver(conn).execute(_HEAD).fetchone()
        agreement = agreement_of(agreement_text)
        members, replaced = _admitted(group, self._stored_rows(conn, group))
        if not members:
            return None
        cell_rows, queries = self._filing(members, agreement)
        rows = self._filed_near(conn, members, queries, agreement)
        kept, replaced, rows = _unmet_replacements(
            members,
            replaced,
            rows,
            agreement,
            (members, queries),
            lambda pks: _cells_by_item(np.column_stack(self._cells_of(conn, pks)).tolist()),
        )
        if len(kept) < len(members):
            members = kept
            cell_rows, queries = self._filing(members, agreement)
        stored = self.writer.load_items(conn, {pk: r.version for pk, r in rows.items()})
        return _Pass(
            int(since), agreement, members, cell_rows, queries, rows, dict(stored), [], replaced
        )

    def _read_at_once(
        self, conn: Connection, group: list[_Pending], last: bool
    ) -> Generator[None, None, _Pass | None]:
        """`read` on PostgreSQL in one round trip: the log's end, the agreement, the group's
        ids already stored and the items filed under the cells of every request, under the
        agreement last seen (read again in the rare case it changed). A request left out
        only adds candidates, which the members' windows filter as usual."""
        raw = driver(conn)
        agreement = self._agreement
        cell_rows, queries = self._filing(group, agreement)
        asked = {(pending.party.id, c.item_id) for pending in group for c in pending.changes}
        ids = (
            pg_array(sorted({party for party, _ in asked})),
            sorted({item_id for _, item_id in asked}),
        )
        replacing = any(c.if_match is not None for p in group for c in p.changes)
        with self.writer.db.pipeline(conn):
            head = raw.execute(_HEAD)
            stored_ids = raw.execute(_STORED_IDS, ids)
            # The cells of the items replaced (of every pair of party and id asked: a few
            # more locks at most), locked at commit with the group's own.
            old = raw.execute(_STORED_CELLS, ids) if replacing else None
            filed = send_filed_under(raw, queries)
            if last:
                # Each statement reads what was committed before it (read committed), so
                # ending the transaction here changes no answer; it saves the commit's trip.
                raw.execute("COMMIT")
            # The statements are on their way: the engine's filing of the group's flights,
            # which needs no answer, is done while PostgreSQL runs them.
            PlanIndex(agreement, workers=1).prefile(
                [item for pending in group for item in pending.items], self.writer.pieces
            )
            # Paused here by a caller with other work (`read_in_steps`).
            yield
            since, agreement_text = head.fetchone()
            stored_rows = {
                (int(party), item_id): (int(pk), int(version), status)
                for party, item_id, pk, version, status in stored_ids.fetchall()
            }
            old_pk, old_grid, old_key = (
                [np.asarray(column, np.int64) for column in old.fetchone()]
                if old is not None
                else [np.empty(0, np.int64)] * 3
            )
            filed_at = {} if filed is None else filed_versions(filed)
        rows = self.writer.candidate_rows(conn, filed_at)
        seen = agreement_of(agreement_text)
        members, replaced = _admitted(group, stored_rows)
        if not members:
            return None
        # The requests the cells and queries are of: those written, once known.
        filed_for = group
        if seen != agreement:
            self._agreement = agreement = seen
            filed_for = members
            cell_rows, queries = self._filing(members, agreement)
            rows = self.writer.filed_under(conn, queries)
        rows = _near(rows, members, agreement)
        members, replaced, rows = _unmet_replacements(
            members,
            replaced,
            rows,
            agreement,
            (filed_for, queries),
            lambda pks: _cells_by_item(
                np.column_stack([old_pk, old_grid, old_key])[np.isin(old_pk, pks)].tolist()
            ),
        )
        if len(members) < len(filed_for):
            cell_rows, queries = self._filing(members, agreement)
        stored = self.writer.load_items(conn, {pk: r.version for pk, r in rows.items()})
        return _Pass(
            int(since),
            agreement,
            members,
            cell_rows,
            queries,
            rows,
            dict(stored),
            [],
            replaced,
            np.column_stack([old_grid, old_key]),
        )

    def _filing(self, requests: list[_Pending], agreement: Agreement) -> tuple[CellKeys, CellKeys]:
        """The cells the requests' items are filed under, and the keys their candidates are
        filed under (`query_keys`)."""
        new_items = [item for p in requests for item in p.items]
        cell_rows = item_cells(new_items, agreement, self.writer.pieces)
        return cell_rows, query_keys(cell_rows, new_items)

    def detect(self, found: _Pass) -> None:
        """The conflicts of a pass read by `read`: the engine on the candidates it read (in
        order of pk) and the group's items."""
        # The new flights' pieces were split for their cells (`read`) and are kept: once
        # stored, the same objects come back as candidates of later passes.
        kept = self.writer.pieces
        index = PlanIndex(found.agreement, workers=1)
        index.add(list(found.stored.values()), check=False, kept=kept)
        found.conflicts = index.add([item for p in found.members for item in p.items], kept=kept)

    def commit(
        self, found: _Pass, group: list[_Pending], then: Callable[[], None] | None = None
    ) -> None:
        """Store a prepared pass, brought up to date with what was written since it was read;
        `then()` is called once it has committed (before it is on disk and answered)."""
        db = self.writer.db
        cell_rows = found.cell_rows
        locked = np.concatenate([np.column_stack([cell_rows.grid, cell_rows.key]), found.old_cells])
        # PostgreSQL: the log since the pass and the open conflicts of the items replaced are
        # read in the round trip that takes the locks.
        since: list[Any] = []
        replaced_pks = [pk for pk, _ in found.replaced.values()]
        stored: _Stored | None = None

        def read_when_locked(raw: Any) -> None:
            since.append(raw.execute(_LOG_SINCE, _log_since(found)))
            if replaced_pks:
                since.append(self.writer.send_open_conflicts(raw, replaced_pks))

        def committed() -> None:
            # Kept for the next groups' catch-up as soon as others can see it (they need not
            # wait for the flush); answered once on disk (when `writing` ends).
            if stored is not None:
                self._remember(stored)
            if then is not None:
                then()

        try:
            with db.writing(
                cells=locked,
                rows=replaced_pks,
                then=read_when_locked,
                committed=committed,
            ) as conn:
                read = [cursor.fetchall() for cursor in since]
                stored = self._store(conn, found, group, *read)
        except Exception:
            if stored is not None:
                # Committed, maybe, and perhaps not on disk: its log numbers may come again.
                self.recent.clear()
            raise
        if stored is None:
            return
        if self.process is not None:
            keys = iter(zip(stored.pks, stored.versions, strict=True))
            self.process.committed(
                [(p.number, k, *next(keys)) for p in stored.members for k in range(len(p.items))]
            )
        self._answer(stored)

    def _store(
        self,
        conn: Connection,
        found: _Pass,
        group: list[_Pending],
        since: Sequence[Any] | None = None,
        open_rows: list[Any] | None = None,
    ) -> _Stored | None:
        """Write the group in the transaction of `conn` (its locks held), caught up with what
        was written since its pass (the log's entries `since`, and the open conflicts of the
        items it replaces `open_rows`, when already read); None when no request is left to
        write."""
        writer, db = self.writer, self.writer.db
        if not self._catch_up(conn, found, since):
            # Too much changed (a new agreement, an id of the group taken): again, locked.
            # (Its members are some of those before, so the cells locked cover theirs.)
            again = self.prepare(conn, group)
            if again is None:
                return None
            found, open_rows = again, None
        members, agreement, cell_rows = found.members, found.agreement, found.cell_rows
        conflicts = found.conflicts
        met = {ref for c in conflicts for ref in (c.a, c.b)}
        known = {ref: (pk, item) for pk, item in found.stored.items() if (ref := item.ref) in met}
        attributed = _attribute(
            conflicts,
            members,
            {ref: found.rows[pk] for ref, (pk, _) in known.items()},
            agreement,
        )
        versions = {pk: int(found.rows[pk].version) for pk, _ in known.values()}
        # Read before the pipeline (where nothing may be read but through the driver): the
        # open conflicts of the items replaced (unless read with the locks), and the parties met.
        replaced_pks = sorted(pk for pk, _ in found.replaced.values())
        existing = open_rows
        if existing is None:
            existing = writer._open_conflicts(conn, replaced_pks) if replaced_pks else []
        writer._party_ids(conn, {ref.party for ref in met})
        pks, values, changed = self._store_items(conn, members, found.replaced)
        versions_written = [v["version"] for v in values]
        with db.pipeline(conn):
            if changed:
                conn.execute(_UPDATE_REPLACED, changed)
            self._store_versions(conn, pks, values)
            if replaced_pks:
                conn.execute(_DELETE_CELLS, {"pks": replaced_pks})
            writer._insert_cells(conn, cell_rows, pks, versions_written)
            entries, views, resolved = self._store_conflicts(
                conn,
                members,
                list(zip(pks, versions_written, strict=True)),
                known,
                versions,
                attributed,
                existing,
                agreement,
            )
            seqs = append(db, conn, members[0].now, entries)
        return _Stored(members, pks, versions_written, cell_rows, entries, seqs, views, resolved)

    def _remember(self, stored: _Stored) -> None:
        """Keep what a committed group wrote, for the catch-up of the groups after it."""
        rows = []
        keys = iter(zip(stored.pks, stored.versions, strict=True))
        for p in stored.members:
            for change, item in zip(p.changes, p.items, strict=True):
                pk, version = next(keys)
                row = Candidate(pk, version, p.party.id, "active", item.start, item.end)
                rows.append((row, change.item_id))
        written = [
            seq
            for entry, seq in zip(stored.entries, stored.seqs, strict=True)
            if entry.kind == "item.written"
        ]
        cell_rows = stored.cell_rows
        filed_pk = np.asarray(stored.pks, np.int64)[cell_rows.item]
        self.recent.add(written, rows, filed_pk, cell_rows.grid, cell_rows.key)

    def _catch_up(
        self, conn: Connection, found: _Pass, entries: Sequence[Any] | None = None
    ) -> bool:
        """Bring `found` up to what `conn` sees: candidates changed, withdrawn or expired since
        it was read leave it, and items written since under its cells join it and are checked
        against the group's items. False when that cannot be done (a new agreement; an id of
        the group now taken; too much written since). `entries`: the log's `(seq, kind)`
        since the pass (`_LOG_SINCE`), when already read (always on PostgreSQL: in the
        round trip that takes the locks); else read here, on SQLite."""
        if entries is None:
            since, kinds, limit = _log_since(found)
            entries = driver(conn).execute(_SQLITE_LOG_SINCE, (since, *kinds, limit)).fetchall()
        if not entries:
            return True
        if len(entries) > MAX_CATCH_UP or any(kind == "agreement.adopted" for _, kind in entries):
            return False
        # The groups committed here since are known without reading them back.
        filed = self.recent.filed([int(seq) for seq, _ in entries])
        if filed is not None:
            written, only_new, now = filed.ids, True, dict(filed.rows)
        else:
            written, only_new = self._written_since(conn, found.since, int(entries[-1][0]))
        for pending in found.members:
            if not written.get(pending.party.id, set()).isdisjoint(
                c.item_id for c in pending.changes
            ):
                return False
        replacing = {pk for pk, _ in found.replaced.values()}
        if filed is None:
            # (Only new items written since: no stored row changed, none is read back.)
            now = self._rows(conn, () if only_new else [*found.rows, *replacing], written)
            if any(
                (current := now.get(pk)) is not None and current.version != version
                for pk, version in found.replaced.values()
            ):
                return False  # an item replaced was written again meanwhile: again, locked
        gone = set()
        if filed is not None:
            # Only the groups' writes since, all kept here: a candidate replaced by one of
            # them is gone (its new version comes back as fresh if under the group's cells).
            gone = {
                pk
                for pk, row in found.rows.items()
                if (current := now.get(pk)) is not None and current.version != row.version
            }
        elif not only_new:
            gone = {
                pk
                for pk, row in found.rows.items()
                if (current := now.get(pk)) is None
                or current.version != row.version
                or current.status != "active"
            }
        # The items the group replaces are no candidates, as in its pass: their versions read
        # back here are those the group replaces.
        changed = {
            pk: row
            for pk, row in now.items()
            if pk not in replacing and (pk not in found.rows or pk in gone)
        }
        fresh = self._fresh(conn, found, changed, filed)
        if not gone and not fresh:
            return True
        # Conflicts are of pairs: those with gone candidates go, those of the fresh ones with
        # the group's items come (an index of the group's items alone finds them).
        gone_refs = {found.stored[pk].ref for pk in gone if pk in found.stored}
        for pk in gone:
            found.rows.pop(pk, None)
            found.stored.pop(pk, None)
        conflicts = [c for c in found.conflicts if c.a not in gone_refs and c.b not in gone_refs]
        if fresh:
            fresh_items = self.writer.load_items(conn, {pk: r.version for pk, r in fresh.items()})
            found.rows.update(fresh)
            found.stored.update(fresh_items)
            ours = [item for p in found.members for item in p.items]
            index = PlanIndex(found.agreement, workers=1)
            index.add(ours, check=False)
            refs = {item.ref for item in ours}
            conflicts += [
                c
                for c in index.add([item for _, item in fresh_items], kept=self.writer.pieces)
                if (c.a in refs) != (c.b in refs)
            ]
            conflicts.sort(key=lambda c: (c.start, c.a, c.b, c.kind.value, c.end))
        found.conflicts = conflicts
        return True

    @staticmethod
    def _written_since(
        conn: Connection, since: int, until: int
    ) -> tuple[dict[int, set[str]], bool]:
        """The ids of the items written after log entry `since` (up to `until`), by party, and
        whether they are all new items (no stored row changed)."""
        written: dict[int, set[str]] = {}
        only_new = True
        rows = conn.execute(
            select(log.c.kind, log.c.party_id, log.c.body).where(
                log.c.seq > since, log.c.seq <= until, log.c.kind.in_(_CHANGES)
            )
        )
        for entry in rows:
            body = orjson.loads(entry.body)
            if entry.kind == "item.written":
                written.setdefault(int(entry.party_id), set()).add(body["id"])
            only_new = only_new and entry.kind == "item.written" and body["version"] == 1
        return written, only_new

    @staticmethod
    def _rows(conn: Connection, pks: Iterable[int], written: dict[int, set[str]]) -> dict[int, Any]:
        """The current rows of the items `pks` and of the items `written` by each party."""
        from .plans import _chunks, candidate_columns

        columns = candidate_columns()
        out: dict[int, Any] = {}
        for chunk in _chunks(sorted(pks)):
            query = select(*columns).where(items.c.pk.in_(chunk))
            out.update((int(r.pk), r) for r in conn.execute(query))
        for party_id, ids in written.items():
            for chunk in _chunks(sorted(ids)):
                query = select(*columns).where(
                    items.c.party_id == party_id, items.c.item_id.in_(chunk)
                )
                out.update((int(r.pk), r) for r in conn.execute(query))
        return out

    def _fresh(
        self, conn: Connection, found: _Pass, rows: dict[int, Any], filed: Filed | None
    ) -> dict[int, Any]:
        """Of the rows written since the pass was read, those the group's requests would
        have fetched as candidates: filed under their query keys and passing their filters.
        Their cells are read from the store unless `filed` holds them."""
        active = sorted(pk for pk, row in rows.items() if row.status == "active")
        if not active:
            return {}
        if filed is not None:
            kept = np.isin(filed.pk, active)
            pk_of, grid_of, key_of = filed.pk[kept], filed.grid[kept], filed.key[kept]
        else:
            pk_of, grid_of, key_of = self._cells_of(conn, active)
        # First the cells under any request's query keys (most items written since share
        # none), then those of each party among them.
        near = _under(grid_of, key_of, found.queries)
        if not near.any():
            return {}
        pk_of, grid_of, key_of = pk_of[near], grid_of[near], key_of[near]
        out: dict[int, Any] = {}
        wanted = _party_queries(found.members, found.queries, found.agreement)
        for party_id, (mine, after, hi) in wanted.items():
            shared = _under(grid_of, key_of, mine)
            for pk in np.unique(pk_of[shared]).tolist():
                row = rows[pk]
                if _passes(row, party_id, after, hi, found.agreement):
                    out[pk] = row
        return out

    @staticmethod
    def _cells_of(conn: Connection, pks: list[int]) -> tuple[IntArray, IntArray, IntArray]:
        """The cells `(pk, grid, key)` the items `pks` are filed under."""
        from .plans import _chunks

        filed_pk, filed_grid, filed_key = [], [], []
        for chunk in _chunks(pks):
            query = select(cells.c.item_pk, cells.c.grid, cells.c.key).where(
                cells.c.item_pk.in_(chunk)
            )
            for pk, grid, key in conn.execute(query):
                filed_pk.append(pk)
                filed_grid.append(grid)
                filed_key.append(key)
        return (
            np.asarray(filed_pk, np.int64),
            np.asarray(filed_grid, np.int64),
            np.asarray(filed_key, np.int64),
        )

    def _filed_near(
        self, conn: Connection, members: list[_Pending], queries: CellKeys, agreement: Agreement
    ) -> dict[int, Any]:
        """The stored rows of the active items the group's requests may meet, by pk: filed
        under their cells, within the window of one of the group's parties and of another
        party (unless the agreement compares one's own items); one lookup for the group.

        A row may be a candidate of one party and met by another's item through a cell that
        party does not query: the engine's pairs are exact, and `_attribute` gives a conflict
        to a request only if the stored item passes that request's own filter. Two items that
        conflict share a cell, so no pair is lost.
        """
        return _near(self.writer.filed_under(conn, queries), members, agreement)

    @staticmethod
    def _stored_rows(conn: Connection, group: list[_Pending]) -> StoredRows:
        """The stored rows of the ids the group's requests give."""
        from .plans import _chunks

        asked = {(pending.party.id, c.item_id) for pending in group for c in pending.changes}
        found: StoredRows = {}
        # One lookup for every party (the index walks each party's ids); pairs asked are kept.
        parties = sorted({party_id for party_id, _ in asked})
        for chunk in _chunks(sorted({item_id for _, item_id in asked})):
            # Straight to the driver: a statement made every write.
            query = _SQLITE_STORED_IDS.format(
                parties=", ".join("?" * len(parties)), ids=", ".join("?" * len(chunk))
            )
            for party_id, item_id, pk, version, status in driver(conn).execute(
                query, (*parties, *chunk)
            ):
                found[(int(party_id), item_id)] = (int(pk), int(version), status)
        return found

    @staticmethod
    def _store_items(
        conn: Connection, members: list[_Pending], replaced: Replaced
    ) -> tuple[list[int], list[dict[str, Any]], list[dict[str, Any]]]:
        """Insert the group's new items; the keys of all, in order, their rows, and the
        parameters of `_UPDATE_REPLACED` that write the new versions of those it replaces
        (sent by the caller, with the group's other writes)."""
        values = []
        keys: list[int | None] = []
        for p in members:
            for change, item in zip(p.changes, p.items, strict=True):
                old = replaced.get((p.party.id, change.item_id))
                keys.append(None if old is None else old[0])
                values.append(
                    {
                        "party_id": p.party.id,
                        "item_id": change.item_id,
                        "version": 1 if old is None else old[1] + 1,
                        "kind": item.kind.value,
                        "status": "active",
                        "start_s": item.start,
                        "end_s": item.end,
                        "feature": orjson.dumps(change.feature).decode(),
                        "written_at": p.now,
                    }
                )
        new = [v for v, key in zip(values, keys, strict=True) if key is None]
        new_pks = iter([int(pk) for pk in conn.execute(_INSERT_NEW, new).scalars()] if new else [])
        changed = [
            {"b_pk": key, **{f"b_{name}": v[name] for name in _REPLACED_COLUMNS}}
            for v, key in zip(values, keys, strict=True)
            if key is not None
        ]
        return [next(new_pks) if key is None else key for key in keys], values, changed

    @staticmethod
    def _store_versions(conn: Connection, pks: list[int], values: list[dict[str, Any]]) -> None:
        """Each item's version written, in its history."""
        conn.execute(
            _INSERT_VERSIONS,
            [
                {
                    "item_pk": pk,
                    "version": v["version"],
                    "feature": v["feature"],
                    "written_at": v["written_at"],
                }
                for pk, v in zip(pks, values, strict=True)
            ],
        )

    def _store_conflicts(
        self,
        conn: Connection,
        members: list[_Pending],
        keys: list[tuple[int, int]],
        known: dict[ItemRef, tuple[int, Item]],
        versions: dict[int, int],
        found: list[list[Conflict]],
        existing: list[Any],
        agreement: Agreement,
    ) -> tuple[list[Entry], list[list[dict[str, Any]]], list[list[str]]]:
        """Each request's items and conflicts, stored and logged as a write of its own:
        those raised, and the open conflicts (`existing`) of the items it replaces kept or
        resolved. `known` holds the stored items met, by reference, and `versions` their
        versions. Returns the log entries, and each request's views and conflicts resolved."""
        from .plans import _diff, _Touched

        writer = self.writer
        entries: list[Entry] = []
        views: list[list[dict[str, Any]]] = []
        resolved: list[list[str]] = []
        done: set[str] = set()
        first = 0
        for pending, conflicts in zip(members, found, strict=True):
            own_keys = keys[first : first + len(pending.items)]
            first += len(pending.items)
            touched = [
                _Touched(change, item, pk, version, "active")
                for change, item, (pk, version) in zip(
                    pending.changes, pending.items, own_keys, strict=True
                )
            ]
            mine = writer._item_entries(pending.party, touched)
            replaced = {pk for (pk, version) in own_keys if version > 1}
            # The open conflicts of the items this request replaces, but those an earlier
            # request resolved (replacing the other item). None was raised or kept by an
            # earlier request: no earlier request may meet an item replaced in the group.
            theirs = [
                r
                for r in existing
                if (r.a_pk in replaced or r.b_pk in replaced) and r.id not in done
            ]
            pk_of = {ref: pk for ref, (pk, _) in known.items()}
            pk_of.update(
                (item.ref, pk) for item, (pk, _) in zip(pending.items, own_keys, strict=True)
            )
            diff = _diff(theirs, group_pairs(conflicts), pk_of)
            resolved.append([row.id for row in diff.resolved])
            done.update(resolved[-1])
            named = {ref for c in conflicts for ref in (c.a, c.b) if ref in known}
            views.append(
                writer._store_conflicts(
                    conn,
                    pending.party,
                    touched,
                    [known[ref] for ref in named],
                    diff,
                    agreement,
                    pending.now,
                    mine,
                    versions,
                )
            )
            for entry in mine:
                entry.at = pending.now
            entries += mine
            for t in touched:
                if t.pk is not None and t.item is not None:
                    known[t.item.ref] = (t.pk, t.item)
                    versions[t.pk] = t.version
        return entries, views, resolved

    def _answer(self, stored: _Stored) -> None:
        from .plans import WriteResult

        keys = iter(zip(stored.pks, stored.versions, strict=True))
        for pending, conflict_views, resolved in zip(
            stored.members, stored.views, stored.resolved, strict=True
        ):
            written = []
            for change, item in zip(pending.changes, pending.items, strict=True):
                pk, version = next(keys)
                self.writer.cache.put((pk, version), item)
                written.append({"id": change.item_id, "version": version, "status": "active"})
            pending.result = WriteResult(items=written, conflicts=conflict_views, resolved=resolved)


def _admitted(group: list[_Pending], stored: StoredRows) -> tuple[list[_Pending], Replaced]:
    """The requests of `group` that can be written in it, and the stored items they replace:
    each new id not stored, each replaced item active at the version named, and no id given
    by an earlier request. (The others are written alone, and meet their errors there.)"""
    given: set[tuple[int, str]] = set()
    members: list[_Pending] = []
    replaced: Replaced = {}
    for pending in group:
        keys = [(pending.party.id, c.item_id) for c in pending.changes]
        if not given.isdisjoint(keys):
            continue
        given.update(keys)
        mine: Replaced = {}
        for key, change in zip(keys, pending.changes, strict=True):
            row = stored.get(key)
            if row is None and change.if_match is None:
                continue
            if row is None or row[2] != "active" or row[1] != change.if_match:
                break
            mine[key] = (row[0], row[1])
        else:
            members.append(pending)
            replaced.update(mine)
    return members, replaced


def _unmet_replacements(
    members: list[_Pending],
    replaced: Replaced,
    rows: dict[int, Any],
    agreement: Agreement,
    queried: tuple[list[_Pending], CellKeys],
    cells_of: Callable[[list[int]], dict[int, set[tuple[int, int]]]],
) -> tuple[list[_Pending], Replaced, dict[int, Any]]:
    """The members whose replaced items no earlier member meets as a candidate, the items
    they replace, and the candidates' `rows` without those items.

    A version replaced is gone for the requests after its replacement, and still there for
    those before: a replaced item that is a candidate of an earlier member (filed under one of
    its query keys, passing its filter) could be met by it, so its request is left to be
    written alone. The others' replaced items are no one's candidates. `queried`: requests
    (the members among them) and their query keys; `cells_of`: the cells items are filed
    under, by key (read only for a replaced item among the candidates)."""
    pk_of = {key: pk for key, (pk, _) in replaced.items()}
    asked, queries = queried
    position = {id(p): k for k, p in enumerate(asked)}
    owner = np.repeat(np.arange(len(asked)), [len(p.items) for p in asked])[queries.item]
    earlier: list[tuple[_Pending, float, float]] = []
    kept: list[_Pending] = []
    for pending in members:
        party_id = pending.party.id
        own = [pk_of[key] for c in pending.changes if (key := (party_id, c.item_id)) in pk_of]
        meeting = {
            pk: [
                other
                for other, after, hi in earlier
                if _passes(rows[pk], other.party.id, after, hi, agreement)
            ]
            for pk in own
            if pk in rows
        }
        meeting = {pk: others for pk, others in meeting.items() if others}
        if meeting:
            filed = cells_of(sorted(meeting))
            met = False
            for pk, others in meeting.items():
                for other in others:
                    mine = owner == position[id(other)]
                    keys = zip(queries.grid[mine].tolist(), queries.key[mine].tolist(), strict=True)
                    if not filed.get(pk, set()).isdisjoint(keys):
                        met = True
            if met:
                continue
        kept.append(pending)
        earlier.append((pending, *_party_windows([pending], agreement)[party_id]))
    if len(kept) < len(members):
        keep = {(p.party.id, c.item_id) for p in kept for c in p.changes}
        replaced = {key: value for key, value in replaced.items() if key in keep}
    gone = {pk for pk, _ in replaced.values()}
    return kept, replaced, {pk: row for pk, row in rows.items() if pk not in gone}


def _cells_by_item(rows: Iterable[Sequence[int]]) -> dict[int, set[tuple[int, int]]]:
    """The cells `(grid, key)` of rows `(pk, grid, key)`, by pk."""
    out: dict[int, set[tuple[int, int]]] = {}
    for pk, grid, key in rows:
        out.setdefault(int(pk), set()).add((int(grid), int(key)))
    return out


def _under(grid_of: IntArray, key_of: IntArray, queries: CellKeys) -> NDArray[np.bool_]:
    """Which of the cells `(grid, key)` are among the keys of `queries`."""
    shared = np.zeros(len(key_of), bool)
    for grid in np.unique(queries.grid).tolist():
        on_grid = grid_of == grid
        shared[on_grid] = np.isin(key_of[on_grid], queries.key[queries.grid == grid])
    return shared


def _near(rows: dict[int, Any], members: list[_Pending], agreement: Agreement) -> dict[int, Any]:
    """Of candidate `rows`, the active ones within the window of one of the members' parties
    and of another party (unless the agreement compares one's own items)."""
    windows = [(party, *window) for party, window in _party_windows(members, agreement).items()]
    own = agreement.include_own
    near = {}
    # `_passes` written out: hundreds of rows a pass.
    for pk, row in rows.items():
        if row.status != "active":
            continue
        for party, after, hi in windows:
            if row.end_s > after and row.start_s < hi and (own or row.party_id != party):
                near[pk] = row
                break
    return near


# The changes logged since a pass, in the order of the log's key (so that the plan walks it
# from there whatever the statistics say; generic plans guess a third of the log).
_LOG_SINCE = "SELECT seq, kind FROM log WHERE seq > %s AND kind = ANY(%s) ORDER BY seq LIMIT %s"


# The same on SQLite, as text (it runs on every group's commit).
_SQLITE_LOG_SINCE = (
    f"SELECT seq, kind FROM log WHERE seq > ? AND kind IN ({', '.join('?' * len(_CHANGES))})"
    " ORDER BY seq LIMIT ?"
)


def _log_since(found: _Pass) -> tuple[int, list[str], int]:
    return found.since, list(_CHANGES), MAX_CATCH_UP + 1


# The log's end and the stored agreement, in one statement (on both backends).
_HEAD = (
    "SELECT (SELECT coalesce(max(seq), 0) FROM log),"
    " (SELECT value FROM settings WHERE name = 'agreement')"
)
# Of the ids asked by these parties, those stored (the pairs asked are kept by the caller).
_STORED_IDS = (
    "SELECT party_id, item_id, pk, version, status FROM items"
    " WHERE party_id = ANY(CAST(%s AS bigint[])) AND item_id = ANY(CAST(%s AS text[]))"
)
# The same on SQLite, its lists of parameters to be filled in.
_SQLITE_STORED_IDS = (
    "SELECT party_id, item_id, pk, version, status FROM items"
    " WHERE party_id IN ({parties}) AND item_id IN ({ids})"
)
# The cells those items are filed under, as three arrays (item, grid, key): hundreds of rows a
# pass, made lists by the driver rather than tuples a row.
_STORED_CELLS = (
    "SELECT coalesce(array_agg(c.item_pk), '{}'), coalesce(array_agg(c.grid), '{}'),"
    " coalesce(array_agg(c.key), '{}')"
    " FROM items i JOIN cells c ON c.item_pk = i.pk"
    " WHERE i.party_id = ANY(CAST(%s AS bigint[])) AND i.item_id = ANY(CAST(%s AS text[]))"
)


def _party_windows(members: list[_Pending], agreement: Agreement) -> dict[int, tuple[float, float]]:
    """For each party of the group, the window `(after, hi)` a candidate must reach into
    (`after`: no earlier than the requests' clock)."""
    from .plans import search_window

    out: dict[int, tuple[float, float]] = {}
    for pending in members:
        lo, hi = search_window(pending.items, agreement)
        after = max(pending.now, lo)
        party = pending.party.id
        if party in out:
            after, hi = min(after, out[party][0]), max(hi, out[party][1])
        out[party] = (after, hi)
    return out


def _party_queries(
    members: list[_Pending], queries: CellKeys, agreement: Agreement
) -> dict[int, tuple[CellKeys, float, float]]:
    """For each party of the group: the query keys of its requests, and its window."""
    owner = np.repeat(np.arange(len(members)), [len(p.items) for p in members])[queries.item]
    of_party: dict[int, list[int]] = {}
    for k, pending in enumerate(members):
        of_party.setdefault(pending.party.id, []).append(k)
    windows = _party_windows(members, agreement)
    out: dict[int, tuple[CellKeys, float, float]] = {}
    for party_id, ks in of_party.items():
        mask = np.isin(owner, ks)
        mine = CellKeys(queries.item[mask], queries.grid[mask], queries.key[mask])
        out[party_id] = (mine, *windows[party_id])
    return out


def _passes(row: Any, party_id: int, after: float, hi: float, agreement: Agreement) -> bool:
    """Whether a stored row is a candidate of a party's requests (its status aside)."""
    return (
        row.end_s > after
        and row.start_s < hi
        and (agreement.include_own or row.party_id != party_id)
    )


def _attribute(
    conflicts: list[Conflict],
    members: list[_Pending],
    stored: dict[ItemRef, Any],
    agreement: Agreement,
) -> list[list[Conflict]]:
    """Each request's conflicts: those it would have found had it been written after the ones
    before it (the engine's order kept).

    `stored` holds the stored rows of the candidates by reference. A conflict with a stored item,
    or with an item of an earlier request, is the request's if that item passes the request's
    candidate filter (another party unless the agreement includes its own; a window that
    overlaps the request's search window and ends after the request's clock).
    """
    from .plans import search_window

    position: dict[ItemRef, int] = {}
    tests = []
    for k, pending in enumerate(members):
        for item in pending.items:
            position[item.ref] = k
        lo, hi = search_window(pending.items, agreement)
        tests.append((max(pending.now, lo), hi))

    def passes(k: int, party_id: int, start: float, end: float) -> bool:
        after, hi = tests[k]
        own = not agreement.include_own and party_id == members[k].party.id
        return not own and end > after and start < hi

    out: list[list[Conflict]] = [[] for _ in members]
    for conflict in conflicts:
        ka, kb = position.get(conflict.a), position.get(conflict.b)
        if ka is not None and kb is not None:
            k, other = max(ka, kb), min(ka, kb)
            if k != other:
                item = next(i for i in members[other].items if i.ref in (conflict.a, conflict.b))
                if not passes(k, members[other].party.id, item.start, item.end):
                    continue
            out[k].append(conflict)
            continue
        mine = ka if ka is not None else kb
        row = stored.get(conflict.b if ka is not None else conflict.a)
        if mine is None or row is None:
            continue
        if passes(mine, int(row.party_id), float(row.start_s), float(row.end_s)):
            out[mine].append(conflict)
    return out
