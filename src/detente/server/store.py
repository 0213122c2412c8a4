"""The store as the API and the command line use it: one object per database."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from detente.detect.cells import item_cells, query_keys
from detente.interop.results import format_instant
from detente.model import Agreement, Item

from . import hotline, journal
from .clock import Clock
from .db import Database
from .journal import Entry
from .key_cache import KEY_CACHE_S, KeyCache
from .notices import notice_view
from .parties import (
    Party,
    add_party,
    admin_key_matches,
    admin_key_set,
    list_parties,
    load_agreement,
    new_admin_key,
    party_by_key,
    party_names,
    revoke_party,
    rotate_key,
)
from .plans import Change, ItemCache, PlanWriter, WriteResult, feature_of
from .problems import NotFound
from .schema import cells, conflicts, items

logger = logging.getLogger("detente.server")

__all__ = ["KEY_CACHE_S", "Bell", "Store"]


class Bell:
    """Wakes the event streams of this process after a commit; safe to ring from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def ring(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def listen(self) -> asyncio.Event:
        """An event set at the next ring; take it before reading, then wait on it."""
        event = asyncio.Event()
        with self._lock:
            self._waiters.append((asyncio.get_running_loop(), event))
        return event


class Store:
    """Parties, plans, notices, the hotline and the event feeds of one database."""

    def __init__(
        self, url: str, clock: Clock | None = None, *, generic_plans: bool = False
    ) -> None:
        self.db = Database(url, generic_plans=generic_plans)
        self.clock = clock or Clock()
        self.bell = Bell()
        self.writer = PlanWriter(self.db, ItemCache())
        self._keys = KeyCache(self._party_in_store)

    def migrate(self) -> Store:
        self.db.migrate()
        return self

    def start_pass_process(self, *, warm: bool = False) -> int:
        """Make the engine's passes over new plans in a process of their own (`passes`). With
        `warm`, this process's cache is warmed (`warm`) while that process starts and warms
        its own; returns how many items were parsed here."""
        from .passes import PASSES_IN_FLIGHT, PassProcess

        process = PassProcess(self.db.url)
        try:
            warmed = self.warm() if warm else 0
            if not process.wait_ready():
                logger.info(
                    "the pass process runs at the server's priority: raising it needs CAP_SYS_NICE"
                )
        except BaseException:
            process.close()
            raise
        groups = self.writer.groups
        groups.process = process
        if not self.db.is_sqlite:
            # The next group's pass is sent while one is made: the process begins it while
            # PostgreSQL answers the reads of the one before (`passes`).
            groups.leaders = PASSES_IN_FLIGHT
        return warmed

    def close(self) -> None:
        process, self.writer.groups.process = self.writer.groups.process, None
        if process is not None:
            process.close()
        self._keys.close()
        self.db.dispose()

    # -- parties and the agreement ------------------------------------------------------------

    # Changes to the parties are logged (never the keys): the record shows who could speak when.

    def add_party(self, name: str) -> tuple[Party, str]:
        with self.db.writing() as conn:
            now = self.clock()
            party, key = add_party(conn, name, now)
            journal.append(self.db, conn, now, [Entry("party.added", None, {"party": name})])
            return party, key

    def rotate_key(self, name: str) -> str:
        with self.db.writing() as conn:
            key = rotate_key(conn, name)
            entry = Entry("party.key_rotated", None, {"party": name})
            journal.append(self.db, conn, self.clock(), [entry])
        self._keys.clear()
        return key

    def revoke(self, name: str) -> None:
        with self.db.writing() as conn:
            revoke_party(conn, name)
            journal.append(
                self.db, conn, self.clock(), [Entry("party.revoked", None, {"party": name})]
            )
        self._keys.clear()

    def parties(self) -> list[Party]:
        with self.db.reading() as conn:
            return list_parties(conn)

    def party_for_key(self, key: str) -> Party | None:
        """The party of a valid key, asked of the store and remembered (`KeyCache`): a key
        rotated or revoked by this process stops at once, by another within `KEY_CACHE_S`."""
        return self._keys.check(key)

    def cached_party(self, key: str) -> Party | None:
        """The party of a key found valid less than `KEY_CACHE_S` ago (None: ask the store)."""
        return self._keys.cached(key)

    def _party_in_store(self, key: str) -> Party | None:
        with self.db.reading() as conn:
            return party_by_key(conn, key)

    def new_admin_key(self) -> str:
        with self.db.writing() as conn:
            return new_admin_key(conn)

    def is_admin_key_set(self) -> bool:
        with self.db.reading() as conn:
            return admin_key_set(conn)

    def is_admin_key(self, key: str) -> bool:
        with self.db.reading() as conn:
            return admin_key_matches(conn, key)

    def agreement(self) -> Agreement:
        with self.db.reading() as conn:
            return load_agreement(conn)

    def set_agreement(self, agreement: Agreement) -> int:
        """Adopt a new agreement; every active item is judged again under it."""
        count = self.writer.recheck_all(agreement, self.clock())
        self.bell.ring()
        return count

    # -- plans ---------------------------------------------------------------------------------

    def write(
        self, party: Party, changes: Sequence[Change], *, dry_run: bool = False, source: str
    ) -> WriteResult:
        now = self.clock()
        parsed = self.writer.parse(party, changes, now, source)
        try:
            result = self.writer.write(party, changes, parsed, now, dry_run=dry_run)
        except IntegrityError:
            # A concurrent request created one of these new ids first (PostgreSQL): read again;
            # the item now exists, and the answer is the usual 428 or 409.
            result = self.writer.write(party, changes, parsed, now, dry_run=dry_run)
        if not dry_run:
            self.bell.ring()
        return result

    def list_items(
        self,
        party: Party,
        status: str | None = "active",
        *,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """A party's items by id; a page of `limit` of them after the id `after`."""
        query = select(items).where(items.c.party_id == party.id).order_by(items.c.item_id)
        if status is not None:
            query = query.where(items.c.status == status)
        if after is not None:
            query = query.where(items.c.item_id > after)
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as conn:
            return [_item_record(row) for row in conn.execute(query)]

    def get_item(self, party: Party, item_id: str) -> dict[str, Any]:
        with self.db.reading() as conn:
            row = conn.execute(
                select(items).where(items.c.party_id == party.id, items.c.item_id == item_id)
            ).first()
        if row is None:
            raise NotFound(f"no item {item_id!r} of yours")
        return _item_record(row)

    # -- notices -------------------------------------------------------------------------------

    def list_conflicts(
        self,
        party: Party,
        status: str | None = None,
        *,
        limit: int | None = None,
        after: tuple[float, str] | None = None,
    ) -> list[dict[str, Any]]:
        """A party's notices by start; a page of `limit` after `(start_s, id)` of the last seen."""
        involved = (conflicts.c.a_party == party.id) | (conflicts.c.b_party == party.id)
        query = select(conflicts).where(involved).order_by(conflicts.c.start_s, conflicts.c.id)
        if status is not None:
            query = query.where(conflicts.c.status == status)
        if after is not None:
            start, last = after
            query = query.where(
                (conflicts.c.start_s > start)
                | ((conflicts.c.start_s == start) & (conflicts.c.id > last))
            )
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as conn:
            rows = list(conn.execute(query))
        views = [notice_view(row, party.id) for row in rows]
        for view, row in zip(views, rows, strict=True):
            view["cursor"] = f"{row.start_s!r}|{row.id}"
        return views

    def get_conflict(self, party: Party, conflict_id: str) -> dict[str, Any]:
        with self.db.reading() as conn:
            row = conn.execute(select(conflicts).where(conflicts.c.id == conflict_id)).first()
            if row is None or party.id not in (row.a_party, row.b_party):
                raise NotFound(f"no conflict {conflict_id!r} of yours")
            own_pk = row.a_pk if row.a_party == party.id else row.b_pk
            own = conn.execute(
                select(items.c.feature, items.c.version).where(items.c.pk == own_pk)
            ).first()
        feature = (
            None if own is None or own.feature is None else feature_of(own.feature, own.version)
        )
        return notice_view(row, party.id, own_feature=feature)

    # -- hotline and events --------------------------------------------------------------------

    def send(self, party: Party, message: hotline.NewMessage) -> dict[str, Any]:
        view = hotline.send(self.db, party, message, self.clock())
        self.bell.ring()
        return view

    def messages(self, party: Party, **filters: Any) -> list[dict[str, Any]]:
        with self.db.reading() as conn:
            return hotline.list_messages(conn, party, **filters)

    def message(self, party: Party, message_id: str) -> dict[str, Any]:
        with self.db.reading() as conn:
            return hotline.get_message(conn, party, message_id)

    def events_after(
        self, party: Party, after: int, limit: int = 500
    ) -> list[tuple[int, str, str]]:
        with self.db.reading() as conn:
            rows = journal.feed_after(conn, party.id, after, limit)
            if rows:
                # Handed out once on disk: groups of plans commit before the WAL's flush (and
                # answer after it), and a crash must not take back an event a party has seen.
                self.db.durable(conn)
        return rows

    # -- live tracks ---------------------------------------------------------------------------

    def active_items(
        self,
        kinds: Sequence[str],
        start: float,
        end: float,
        *,
        party: Party | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Item]:
        """Active items of `kinds` whose window meets `[start, end]`, of every party or of one
        (and then, if given, only those of `ids`)."""
        query = select(items.c.pk, items.c.version).where(
            items.c.status == "active",
            items.c.kind.in_(list(kinds)),
            items.c.start_s <= end,
            items.c.end_s >= start,
        )
        if party is not None:
            query = query.where(items.c.party_id == party.id)
            if ids is not None:
                query = query.where(items.c.item_id.in_(list(ids)))
        with self.db.reading() as conn:
            versions = {int(pk): int(v) for pk, v in conn.execute(query)}
            return [item for _, item in self.writer.load_items(conn, versions)]

    def items_near(self, party: Party, probes: Sequence[Item]) -> list[Item]:
        """Active items of the other parties that share a cell with `probes` (items of
        `party` that are not stored)."""
        if not probes:
            return []
        with self.db.reading() as conn:
            agreement = load_agreement(conn)
            queries = query_keys(item_cells(probes, agreement), probes)
            found = self.writer.candidates(
                conn, party, agreement, queries, probes, set(), self.clock()
            )
        return [item for _, item in found]

    def warm(self, *, file_pieces: bool = False) -> int:
        """Parse the active items into the write path's cache, newest first, as many as it
        holds, so that the first writes after a start find their candidates parsed; returns
        how many were parsed. With `file_pieces`, the flights among them are also split and
        filed in the engine's grid under the stored agreement, as a pass would file them
        (where passes are made: a pass's candidates are then neither split nor filed again)."""
        query = (
            select(items.c.pk, items.c.version)
            .where(items.c.status == "active")
            .order_by(items.c.pk.desc())
            .limit(self.writer.cache.size)
        )
        with self.db.reading() as conn:
            versions = {int(pk): int(v) for pk, v in conn.execute(query)}
            loaded = self.writer.load_items(conn, versions)
            agreement = load_agreement(conn)
        if file_pieces:
            self.writer.file_pieces([item for _, item in loaded], agreement)
        return len(loaded)

    def publish(self, entries: list[Entry], at: float | None = None) -> None:
        """Append events that change no stored state (live-track alerts) to the log and feeds."""
        if not entries:
            return
        with self.db.writing() as conn:
            journal.append(self.db, conn, self.clock() if at is None else at, entries)
        self.bell.ring()

    # -- background work -----------------------------------------------------------------------

    def sweep(self) -> int:
        """Expire items whose window has ended and mark missed deadlines; returns changes."""
        now = self.clock()
        changed = hotline.sweep_deadlines(self.db, now) + self._expire(now)
        if changed:
            self.bell.ring()
        return changed

    def _expire(self, now: float, limit: int = 2000) -> int:
        with self.db.writing() as conn:
            buffer = load_agreement(conn).time_buffer_s
            ended = (items.c.status == "active") & (items.c.end_s <= now - buffer)
            pks = list(conn.execute(select(items.c.pk).where(ended).limit(limit)).scalars())
            if not pks:
                return 0
            # The update checks again: a concurrent writer or sweep may have changed a row since.
            rows = list(
                conn.execute(
                    update(items)
                    .where(items.c.pk.in_(pks), ended)
                    .values(status="expired")
                    .returning(items.c.pk, items.c.party_id, items.c.item_id, items.c.version)
                )
            )
            if not rows:
                return 0
            conn.execute(delete(cells).where(cells.c.item_pk.in_([r.pk for r in rows])))
            # Named in the record, as a written item's party is: ids are each party's own.
            names = party_names(conn)
            entries = []
            for r in rows:
                record = {
                    "party": names[r.party_id],
                    "id": r.item_id,
                    "version": r.version,
                    "status": "expired",
                }
                entries.append(Entry("item.expired", None, record, {r.party_id: {"item": record}}))
            journal.append(self.db, conn, now, entries)
        return len(rows)


def _item_record(row: Any) -> dict[str, Any]:
    return {
        "id": row.item_id,
        "version": row.version,
        "kind": row.kind,
        "status": row.status,
        "start": format_instant(row.start_s),
        "end": format_instant(row.end_s),
        "written_at": format_instant(row.written_at),
        "feature": feature_of(row.feature, row.version),
    }
