"""Writing plan items: check versions, find what the change conflicts with, store it all at once.

One `write` is one transaction. It reads the current versions, fetches candidate items from the
cell index, runs the engine on the new items against them, works out which conflicts are raised,
changed or resolved, and stores the items, their cells, the conflicts and the log entries. A dry
run does the same work and stores nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, delete, insert, select, update

from detente.detect import PlanIndex
from detente.detect.cells import item_cells, query_keys
from detente.detect.trajectories import PieceCache
from detente.errors import PlanError
from detente.interop.plans import parse_plan
from detente.interop.results import format_instant
from detente.model import Agreement, Flight, Item, ItemRef

from .candidates import FILED_UNDER_SQLITE, filed_versions, keys_by_grid, send_filed_under
from .db import Database, driver, pg_array
from .groups import Groups, groupable
from .journal import Entry, append
from .notices import PairConflict, disclose, group_pairs, notice_view
from .parties import Party, load_agreement, party_names, store_agreement
from .passes import Candidate
from .problems import Conflict, Invalid, NotFound, PreconditionRequired, plan_error_record
from .schema import cells, conflicts, item_versions, items

__all__ = [
    "Change",
    "ItemCache",
    "PlanWriter",
    "WriteResult",
    "feature_of",
]

#: Items in one plan, and vertices (positions or shape corners) in one item.
MAX_ITEMS_PER_PLAN = 20_000
MAX_VERTICES_PER_ITEM = 10_000
_CHUNK = 500


@dataclass(slots=True)
class Change:
    """One item to write (`feature`) or withdraw (`feature is None`), replacing `if_match`."""

    item_id: str
    feature: dict[str, Any] | None
    if_match: int | None = None
    index: int | None = None


@dataclass(slots=True)
class WriteResult:
    items: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    resolved: list[str]
    dry_run: bool = False


#: Flights filed at once by `PlanWriter.file_pieces` (bounds the arrays made on the way).
FILING_CHUNK = 5_000


class ItemCache:
    """Parsed items by `(pk, version)`: versions never change, so entries never go stale.
    Beside an item, the row it gives as a candidate (`Candidate`), once made."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, int], Item] = OrderedDict()
        self._rows: dict[tuple[int, int], Candidate] = {}

    def get(self, key: tuple[int, int]) -> Item | None:
        # First in, first out: cheaper than least recently used, and the cache holds every
        # active item of a theatre.
        return self._items.get(key)

    def put(self, key: tuple[int, int], item: Item) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            gone, _ = self._items.popitem(last=False)
            self._rows.pop(gone, None)

    def row(self, key: tuple[int, int]) -> Candidate | None:
        """The candidate row kept beside the item of `key` (`keep_row`)."""
        return self._rows.get(key)

    def keep_row(self, key: tuple[int, int], row: Candidate) -> None:
        """Keep `row` beside the item of `key`, for as long as that item is kept."""
        if key in self._items:
            self._rows[key] = row


def feature_of(text: str, version: int) -> dict[str, Any]:
    """A stored feature as the owner reads it: with its `version`."""
    feature: dict[str, Any] = orjson.loads(text)
    feature["version"] = version
    return feature


@dataclass(slots=True)
class _Touched:
    """A change matched to its stored row (`pk` None for a new item)."""

    change: Change
    item: Item | None
    pk: int | None = None
    version: int = 0
    status: str | None = None


@dataclass(slots=True)
class _Diff:
    raised: list[PairConflict] = field(default_factory=list)
    kept: list[tuple[Any, PairConflict]] = field(default_factory=list)
    resolved: list[Any] = field(default_factory=list)


class PlanWriter:
    """The write path of plan items."""

    def __init__(self, db: Database, cache: ItemCache) -> None:
        self.db = db
        self.cache = cache
        #: The candidates' pieces, kept as long as their parsed items.
        self.pieces = PieceCache(cache.size)
        # One group's engine pass at a time, made while the group before commits (measured:
        # larger groups, sooner answers than three passes under way at once).
        self.groups = Groups(self)
        self._party_id: dict[str, int] = {}

    # -- checking the input --------------------------------------------------------------------

    def parse(
        self, party: Party, changes: Sequence[Change], now: float, source: str
    ) -> list[Item | None]:
        """Parse the features of `changes` as `party`'s items; every problem is reported at once."""
        if len(changes) > MAX_ITEMS_PER_PLAN:
            raise Invalid(f"a plan holds at most {MAX_ITEMS_PER_PLAN} items, not {len(changes)}")
        errors: list[PlanError] = []
        seen: set[str] = set()
        parsed: list[Item | None] = []
        for k, change in enumerate(changes):
            index = change.index if change.index is not None else k
            if change.item_id in seen:
                errors.append(
                    PlanError(
                        source,
                        "id",
                        "given twice in one request",
                        index=index,
                        item_id=change.item_id,
                    )
                )
            seen.add(change.item_id)
            if change.feature is None:
                parsed.append(None)
                continue
            item = self._parse_one(party, change, index, now, source, errors)
            parsed.append(item)
        if errors:
            raise Invalid(
                f"{len(errors)} invalid item(s); nothing was stored. First: {errors[0].message}",
                errors=[plan_error_record(e) for e in errors],
            )
        return parsed

    def _parse_one(
        self,
        party: Party,
        change: Change,
        index: int,
        now: float,
        source: str,
        errors: list[PlanError],
    ) -> Item | None:
        feature = change.feature
        assert feature is not None

        def fail(field_name: str | None, reason: str) -> None:
            errors.append(
                PlanError(source, field_name, reason, index=index, item_id=change.item_id)
            )

        if not isinstance(feature, dict):
            fail(None, "must be a GeoJSON Feature object")
            return None
        props = feature.get("properties")
        if isinstance(props, dict):
            given = props.get("party")
            if given is not None and given != party.name:
                fail("party", f"must be your own party {party.name!r} (or absent), not {given!r}")
                return None
            props = {**props, "party": party.name}
        feature = {k: v for k, v in feature.items() if k != "version"}
        if props is not None:
            feature["properties"] = props
        if feature.get("id", change.item_id) != change.item_id:
            fail(
                "id",
                f"{feature.get('id')!r} differs from the item id in the path {change.item_id!r}",
            )
            return None
        feature["id"] = change.item_id
        change.feature = feature
        before = len(errors)
        items_ = parse_plan(
            {"type": "FeatureCollection", "features": [feature]},
            source,
            skip_invalid=True,
            warn=lambda e: errors.append(
                PlanError(e.source, e.field, e.reason, index=index, item_id=change.item_id)
            ),
        )
        if len(errors) > before or not items_:
            return None
        item = items_[0]
        vertices = len(item.times) if isinstance(item, Flight) else len(item.shape.vertices())
        if vertices > MAX_VERTICES_PER_ITEM:
            fail("geometry", f"has {vertices} vertices; at most {MAX_VERTICES_PER_ITEM} are taken")
            return None
        if item.end <= now:
            fail(
                "end",
                f"the window ended at {format_instant(item.end)},"
                f" before the server's clock ({format_instant(now)})",
            )
            return None
        return item

    # -- the transaction -----------------------------------------------------------------------

    def write(
        self,
        party: Party,
        changes: Sequence[Change],
        parsed: Sequence[Item | None],
        now: float,
        *,
        dry_run: bool = False,
    ) -> WriteResult:
        new_items = [item for item in parsed if item is not None]
        if not dry_run and groupable(changes, parsed):
            result = self.groups.write(party, changes, new_items, now)
            if result is not None:
                return result
        # A dry run stores nothing: it answers from a snapshot, beside the writers.
        transaction = self.db.reading(snapshot=True) if dry_run else self.db.writing()
        with transaction as conn:
            agreement = load_agreement(conn)
            touched = self._current(conn, party, changes, parsed, lock=not dry_run)
            self._check_versions(touched)
            cell_rows = item_cells(new_items, agreement)
            queries = query_keys(cell_rows, new_items)
            if not dry_run:
                old_cells = self._old_cells(conn, touched)
                self.db.lock_cells(
                    conn,
                    list(zip(cell_rows.grid.tolist(), cell_rows.key.tolist(), strict=True))
                    + old_cells,
                )
            exclude = {t.pk for t in touched if t.pk is not None}
            candidates = self.candidates(conn, party, agreement, queries, new_items, exclude, now)
            index = PlanIndex(agreement, workers=1)
            index.add([item for _, item in candidates], check=False, kept=self.pieces)
            found = group_pairs(index.add(new_items))
            existing = self._open_conflicts(conn, exclude)
            diff = _diff(existing, found, self._pk_of(party, touched, candidates))
            if dry_run:
                return self._dry_result(party, touched, diff, new_items, candidates, agreement)
            self._store_items(conn, party, touched, now)
            self._store_cells(conn, touched, cell_rows, new_items)
            entries = self._item_entries(party, touched)
            views = self._store_conflicts(
                conn, party, touched, candidates, diff, agreement, now, entries
            )
            append(self.db, conn, now, entries)
        for t in touched:
            if t.item is not None and t.pk is not None:
                self.cache.put((t.pk, t.version), t.item)
        return WriteResult(
            items=[
                {"id": t.change.item_id, "version": t.version, "status": t.status} for t in touched
            ],
            conflicts=views,
            resolved=[row.id for row in diff.resolved],
        )

    def recheck_all(self, agreement: Agreement, now: float) -> int:
        """Store `agreement` and judge every active item again under it; returns conflicts open."""
        with self.db.writing(whole_store=True) as conn:
            store_agreement(conn, agreement)
            rows = conn.execute(
                select(items.c.pk, items.c.version, items.c.feature).where(
                    items.c.status == "active"
                )
            )
            active: list[tuple[int, Item]] = []
            versions: list[int] = []
            for pk, version, text in rows:
                item = self.cache.get((int(pk), int(version)))
                if item is None:
                    item = _parse_stored(text)
                    self.cache.put((int(pk), int(version)), item)
                active.append((int(pk), item))
                versions.append(int(version))
            conn.execute(delete(cells))
            all_items = [item for _, item in active]
            cell_rows = item_cells(all_items, agreement)
            self._insert_cells(conn, cell_rows, [pk for pk, _ in active], versions)
            found = group_pairs(PlanIndex(agreement).add(all_items))
            open_rows = list(conn.execute(select(conflicts).where(conflicts.c.status == "open")))
            diff = _diff(open_rows, found, {item.ref: pk for pk, item in active})
            # Every party is bound by the agreement: each is told of it, before what it changes.
            record = {"agreement": dataclasses.asdict(agreement)}
            entries = [
                Entry("agreement.adopted", None, record, dict.fromkeys(party_names(conn), record))
            ]
            self._store_conflicts(conn, None, [], active, diff, agreement, now, entries)
            append(self.db, conn, now, entries)
            return len(found)

    def _current(
        self,
        conn: Connection,
        party: Party,
        changes: Sequence[Change],
        parsed: Sequence[Item | None],
        lock: bool = True,
    ) -> list[_Touched]:
        # Rows are locked in item-id order, the same order in every transaction (no deadlock).
        ids = sorted({c.item_id for c in changes})
        rows: dict[str, Any] = {}
        for chunk in _chunks(ids):
            query = select(items.c.pk, items.c.item_id, items.c.version, items.c.status).where(
                items.c.party_id == party.id, items.c.item_id.in_(chunk)
            )
            if lock and not self.db.is_sqlite:
                # NO KEY: other writers' conflict rows still reference these items meanwhile
                # (their foreign-key checks take KEY SHARE); FOR UPDATE would deadlock with them.
                query = query.order_by(items.c.item_id).with_for_update(key_share=True)
            rows.update({r.item_id: r for r in conn.execute(query)})
        touched = []
        for change, item in zip(changes, parsed, strict=True):
            row = rows.get(change.item_id)
            if row is None:
                touched.append(_Touched(change, item))
            else:
                touched.append(_Touched(change, item, int(row.pk), int(row.version), row.status))
        return touched

    @staticmethod
    def _check_versions(touched: Sequence[_Touched]) -> None:
        stale: list[dict[str, Any]] = []
        missing: list[dict[str, Any]] = []
        unknown: list[str] = []
        for t in touched:
            c = t.change
            active = t.status == "active"
            if c.feature is None and not active:
                unknown.append(c.item_id)
            elif c.if_match is None and active:
                missing.append({"id": c.item_id, "current_version": t.version})
            elif c.if_match is not None and c.if_match != t.version:
                stale.append(
                    {
                        "id": c.item_id,
                        "current_version": t.version if t.pk else None,
                        "given": c.if_match,
                    }
                )
        if unknown:
            raise NotFound(f"no active item {unknown[0]!r} of yours", items=unknown)
        if stale:
            s = stale[0]
            raise Conflict(
                f"item {s['id']!r} is at version {s['current_version']}, not {s['given']};"
                " read it again and resend with If-Match set to its current version",
                current_version=s["current_version"],
                items=stale,
            )
        if missing:
            m = missing[0]
            raise PreconditionRequired(
                f"item {m['id']!r} exists at version {m['current_version']};"
                " to replace it, say which version with If-Match",
                current_version=m["current_version"],
                items=missing,
            )

    def _old_cells(self, conn: Connection, touched: Sequence[_Touched]) -> list[tuple[int, int]]:
        if self.db.is_sqlite:
            return []
        pks = [t.pk for t in touched if t.pk is not None and t.status == "active"]
        out: list[tuple[int, int]] = []
        for chunk in _chunks(pks):
            out += [
                (int(g), int(k))
                for g, k in conn.execute(
                    select(cells.c.grid, cells.c.key).where(cells.c.item_pk.in_(chunk))
                )
            ]
        return out

    def candidates(
        self,
        conn: Connection,
        party: Party,
        agreement: Agreement,
        queries: Any,
        new_items: Sequence[Item],
        exclude: set[int],
        now: float,
    ) -> list[tuple[int, Item]]:
        """Active items of the other parties that share a cell with the new items."""
        if not new_items:
            return []
        lo, hi = search_window(new_items, agreement)
        after, own = max(now, lo), None if agreement.include_own else party.id
        found = {
            pk: row.version
            for pk, row in self.filed_under(conn, queries).items()
            if row.status == "active"
            and row.end_s > after
            and row.start_s < hi
            and row.party_id != own
            and pk not in exclude
        }
        return self.load_items(conn, found)

    def filed_under(self, conn: Connection, queries: Any) -> dict[int, Candidate]:
        """The stored items filed under the `(grid, key)` rows of `queries`, by pk."""
        if conn.dialect.name == "postgresql":
            cursor = send_filed_under(driver(conn), queries)
            return self.candidate_rows(conn, {} if cursor is None else filed_versions(cursor))
        filed: dict[int, int] = {}
        raw = driver(conn)
        for grid, keys in keys_by_grid(queries):
            for chunk in _chunks(keys):
                # Only the cells are read: the cell B-tree holds the item and its version.
                # Straight to the driver's cursor: hundreds of rows a write, as plain tuples.
                sql = FILED_UNDER_SQLITE.format(keys=", ".join(["?"] * len(chunk)))
                filed.update(filed_versions(raw.execute(sql, (grid, *chunk))))
        return self.candidate_rows(conn, filed)

    def candidate_rows(self, conn: Connection, filed: dict[int, int]) -> dict[int, Candidate]:
        """The rows of the items filed at `pk: version` (`filed_versions`), by pk: taken from
        the items parsed here (a filed version is active), the others read from the store as
        they are now (and parsed for what follows). A row read may be of a newer version, or
        no longer active: the callers filter on both, as on any row they read."""
        out: dict[int, Candidate] = {}
        misses: list[int] = []
        cache = self.cache
        for key in filed.items():
            row = cache.row(key)
            if row is None:
                row = self._cached_row(conn, key)
                if row is None:
                    misses.append(key[0])
                    continue
            out[key[0]] = row
        for chunk in _chunks(misses):
            query = select(*candidate_columns(), items.c.feature).where(items.c.pk.in_(chunk))
            for stored in conn.execute(query):
                key = (int(stored.pk), int(stored.version))
                if stored.status == "active" and self.cache.get(key) is None:
                    self.cache.put(key, _parse_stored(stored.feature))
                out[key[0]] = Candidate(*key, int(stored.party_id), *stored[3:6])
        return out

    def _cached_row(self, conn: Connection, key: tuple[int, int]) -> Candidate | None:
        """The candidate row of the parsed item of `key` (an active version), made and kept
        beside it; None if that item is not parsed here."""
        item = self.cache.get(key)
        if item is None:
            return None
        party = self._party_id.get(item.party)
        if party is None:  # a party added since its names were read
            party = self._party_ids(conn, {item.party})[item.party]
        row = Candidate(*key, party, "active", item.start, item.end)
        self.cache.keep_row(key, row)
        return row

    def file_pieces(self, items_: Sequence[Item], agreement: Agreement) -> None:
        """Split the flights of `items_` and file their pieces in the engine's grid under
        `agreement`, kept in `pieces` as a pass keeps its candidates'."""
        flights = [item for item in items_ if isinstance(item, Flight)]
        for first in range(0, len(flights), FILING_CHUNK):
            PlanIndex(agreement, workers=1).add(
                flights[first : first + FILING_CHUNK], check=False, kept=self.pieces
            )

    def load_items(self, conn: Connection, versions: dict[int, int]) -> list[tuple[int, Item]]:
        """The items of `pk: version`, from the cache or parsed from the store, sorted by pk."""
        out: list[tuple[int, Item]] = []
        misses: list[int] = []
        for pk, version in versions.items():
            item = self.cache.get((pk, version))
            if item is None:
                misses.append(pk)
            else:
                out.append((pk, item))
        for chunk in _chunks(misses):
            rows = conn.execute(
                select(items.c.pk, items.c.version, items.c.feature).where(items.c.pk.in_(chunk))
            )
            for pk, version, text in rows:
                item = _parse_stored(text)
                self.cache.put((int(pk), int(version)), item)
                out.append((int(pk), item))
        out.sort(key=lambda pair: pair[0])
        return out

    def _open_conflicts(self, conn: Connection, pks: Iterable[int]) -> list[Any]:
        """The open conflicts of the items `pks` (every column, by name). Straight to the
        driver: a statement of every write that replaces an item."""
        wanted = sorted(pks)
        if not wanted:
            return []
        if conn.dialect.name == "postgresql":
            return list(conn.exec_driver_sql(_OPEN_CONFLICTS_POSTGRES, (pg_array(wanted),) * 2))
        # (A conflict may be met in two chunks, by each of its items.)
        rows: dict[str, Any] = {}
        for chunk in _chunks(wanted):
            query = _OPEN_CONFLICTS_SQLITE.format(pks=", ".join("?" * len(chunk)))
            rows.update({r.id: r for r in conn.exec_driver_sql(query, (*chunk, *chunk))})
        return list(rows.values())

    @staticmethod
    def send_open_conflicts(raw: Any, pks: Iterable[int]) -> Any:
        """PostgreSQL: send the query of `_open_conflicts` on the driver's connection `raw` (in
        a pipeline, say); its cursor, whose rows name their columns as `_open_conflicts`'s."""
        from psycopg.rows import namedtuple_row

        cursor = raw.cursor(row_factory=namedtuple_row)
        cursor.execute(_OPEN_CONFLICTS_POSTGRES, (pg_array(sorted(pks)),) * 2)
        return cursor

    @staticmethod
    def _pk_of(
        party: Party, touched: Sequence[_Touched], candidates: Sequence[tuple[int, Item]]
    ) -> dict[ItemRef, int]:
        pk_of = {item.ref: pk for pk, item in candidates}
        for n, t in enumerate(touched):
            if t.item is not None:
                # New items have no row yet: a negative stand-in until they are stored.
                pk_of[t.item.ref] = t.pk if t.pk is not None else -1 - n
        return pk_of

    def _store_items(
        self, conn: Connection, party: Party, touched: Sequence[_Touched], now: float
    ) -> None:
        for t in touched:
            c = t.change
            if t.item is None:
                t.version += 1
                t.status = "withdrawn"
                conn.execute(
                    update(items)
                    .where(items.c.pk == t.pk)
                    .values(version=t.version, status="withdrawn", written_at=now)
                )
                feature_text = None
            else:
                feature_text = orjson.dumps(c.feature).decode()
                values = {
                    "kind": t.item.kind.value,
                    "status": "active",
                    "start_s": t.item.start,
                    "end_s": t.item.end,
                    "feature": feature_text,
                    "written_at": now,
                }
                t.status = "active"
                if t.pk is None:
                    t.version = 1
                    t.pk = int(
                        conn.execute(
                            insert(items).returning(items.c.pk),
                            {"party_id": party.id, "item_id": c.item_id, "version": 1, **values},
                        ).scalar_one()
                    )
                else:
                    t.version += 1
                    conn.execute(
                        update(items).where(items.c.pk == t.pk).values(version=t.version, **values)
                    )
            conn.execute(
                insert(item_versions),
                {"item_pk": t.pk, "version": t.version, "feature": feature_text, "written_at": now},
            )

    @staticmethod
    def _store_cells(
        conn: Connection, touched: Sequence[_Touched], cell_rows: Any, new_items: Sequence[Item]
    ) -> None:
        pks = [t.pk for t in touched if t.pk is not None]
        for chunk in _chunks(pks):
            conn.execute(delete(cells).where(cells.c.item_pk.in_(chunk)))
        written = [t for t in touched if t.item is not None]
        PlanWriter._insert_cells(
            conn, cell_rows, [t.pk for t in written], [t.version for t in written]
        )

    @staticmethod
    def _insert_cells(
        conn: Connection, cell_rows: Any, pks: Sequence[Any], versions: Sequence[int]
    ) -> None:
        """File the items `pks` (at `versions`) under `cell_rows`, whose `item` are positions
        in `pks`."""
        if not len(cell_rows):
            return
        # Many rows a write: one statement (one call into the driver, which lets go of the
        # interpreter once, not once a row), in index order.
        order = np.lexsort((cell_rows.key, cell_rows.grid))
        grid = cell_rows.grid[order].tolist()
        key = cell_rows.key[order].tolist()
        of_item = cell_rows.item[order]
        item_pk = np.asarray(pks, np.int64)[of_item].tolist()
        version = np.asarray(versions, np.int64)[of_item].tolist()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                'INSERT INTO cells (grid, version, "key", item_pk)'
                " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
                " json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?)",
                (orjson.dumps(list(zip(grid, version, key, item_pk, strict=True))).decode(),),
            )
        else:
            conn.exec_driver_sql(
                'INSERT INTO cells (grid, version, "key", item_pk)'
                " SELECT * FROM unnest(%s::smallint[], %s::integer[], %s::bigint[], %s::bigint[])",
                (pg_array(grid), pg_array(version), pg_array(key), pg_array(item_pk)),
            )

    @staticmethod
    def _item_entries(party: Party, touched: Sequence[_Touched]) -> list[Entry]:
        entries = []
        for t in touched:
            kind = "item.withdrawn" if t.item is None else "item.written"
            record = {"party": party.name, "id": t.change.item_id, "version": t.version}
            body = {**record, "feature": t.change.feature}
            entries.append(
                Entry(
                    kind,
                    party.id,
                    body,
                    {
                        party.id: {
                            "item": {
                                **record,
                                "kind": t.item.kind.value if t.item else None,
                                "status": t.status,
                            }
                        }
                    },
                )
            )
        return entries

    def _store_conflicts(
        self,
        conn: Connection,
        party: Party | None,
        touched: Sequence[_Touched],
        candidates: Sequence[tuple[int, Item]],
        diff: _Diff,
        agreement: Agreement,
        now: float,
        entries: list[Entry],
        versions: dict[int, int] | None = None,
    ) -> list[dict[str, Any]]:
        # `party` is the writer (None for a whole-store recheck): views are returned for it.
        """Store the diff, log it, and return the caller's views of its raised and kept ones.
        `versions`: the candidates' current versions by pk, if known (else they are read)."""
        by_ref: dict[ItemRef, tuple[int, int, Item]] = {}
        # Only the items of raised and kept pairs are valued: their versions and parties.
        named = {ref for pair in diff.raised for ref in (pair.a, pair.b)}
        named.update(ref for _, pair in diff.kept for ref in (pair.a, pair.b))
        party_of_name = self._party_ids(conn, {ref.party for ref in named})
        wanted = [(pk, item) for pk, item in candidates if item.ref in named] if named else []
        if versions is None:
            versions = self._versions(conn, [pk for pk, _ in wanted])
        for pk, item in wanted:
            by_ref[item.ref] = (pk, versions.get(pk, 0), item)
        for t in touched:
            if t.item is not None and t.pk is not None:
                by_ref[t.item.ref] = (t.pk, t.version, t.item)
        views: list[dict[str, Any]] = []
        for row in diff.resolved:
            conn.execute(
                update(conflicts)
                .where(conflicts.c.id == row.id)
                .values(status="resolved", changed_at=now)
            )
            done = SimpleNamespace(**{**row._asdict(), "status": "resolved", "changed_at": now})
            entries.append(self._conflict_entry("conflict.resolved", party, done))
        raised = []
        for pair in diff.raised:
            values = self._conflict_values(pair, by_ref, party_of_name, agreement)
            values.update(id=uuid.uuid4().hex, status="open", raised_at=now, changed_at=now)
            raised.append(values)
            row = SimpleNamespace(**values)
            entries.append(self._conflict_entry("conflict.raised", party, row))
            if party is not None:
                views.append(notice_view(row, party.id))
        if raised:
            conn.execute(insert(conflicts), raised)
        for old, pair in diff.kept:
            values = self._conflict_values(pair, by_ref, party_of_name, agreement)
            changed = (
                values["detail"] != old.detail
                or values["a_view"] != old.a_view
                or values["b_view"] != old.b_view
            )
            # Moved: other intervals, worst points or views. A new item version alone is stored
            # but is no news (nor a hint to the other party that the item was filed again).
            moved = changed and (
                values["a_view"] != old.a_view
                or values["b_view"] != old.b_view
                or orjson.loads(values["detail"])["runs"] != orjson.loads(old.detail)["runs"]
            )
            at = now if moved else old.changed_at
            if changed:
                query = update(conflicts).where(conflicts.c.id == old.id)
                conn.execute(query.values(changed_at=at, **values))
            row = SimpleNamespace(**{**old._asdict(), **values, "changed_at": at})
            if moved:
                entries.append(self._conflict_entry("conflict.updated", party, row))
            if party is not None:
                views.append(notice_view(row, party.id))
        return views

    def _party_ids(self, conn: Connection, names: set[str]) -> dict[str, int]:
        """The ids of the parties `names` (a party's name and id never change: kept)."""
        if not names.issubset(self._party_id):
            self._party_id = {name: pid for pid, name in party_names(conn).items()}
        return self._party_id

    @staticmethod
    def _versions(conn: Connection, pks: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in _chunks(list(pks)):
            out.update(
                {
                    int(pk): int(v)
                    for pk, v in conn.execute(
                        select(items.c.pk, items.c.version).where(items.c.pk.in_(chunk))
                    )
                }
            )
        return out

    @staticmethod
    def _conflict_values(
        pair: PairConflict,
        by_ref: dict[ItemRef, tuple[int, int, Item]],
        party_of_name: dict[str, int],
        agreement: Agreement,
    ) -> dict[str, Any]:
        a_pk, a_version, a = by_ref[pair.a]
        b_pk, b_version, b = by_ref[pair.b]
        detail = pair.detail()
        detail.update(
            a_id=a.id,
            a_kind=a.kind.value,
            a_version=a_version,
            b_id=b.id,
            b_kind=b.kind.value,
            b_version=b_version,
        )
        start, end = pair.start, pair.end
        return {
            "a_pk": a_pk,
            "b_pk": b_pk,
            "a_party": party_of_name[a.party],
            "b_party": party_of_name[b.party],
            "kind": pair.kind,
            "start_s": start,
            "end_s": end,
            "detail": orjson.dumps(detail).decode(),
            "a_view": orjson.dumps(disclose(a, b, start, end, agreement)).decode(),
            "b_view": orjson.dumps(disclose(b, a, start, end, agreement)).decode(),
        }

    @staticmethod
    def _conflict_entry(kind: str, party: Party | None, row: Any) -> Entry:
        body = {
            "conflict": row.id,
            "status": row.status,
            "kind": row.kind,
            "a_pk": row.a_pk,
            "b_pk": row.b_pk,
            "detail": orjson.loads(row.detail),
        }
        views = {row.a_party: {"conflict": notice_view(row, row.a_party)}}
        views[row.b_party] = {"conflict": notice_view(row, row.b_party)}
        return Entry(kind, None if party is None else party.id, body, views)

    def _dry_result(
        self,
        party: Party,
        touched: Sequence[_Touched],
        diff: _Diff,
        new_items: Sequence[Item],
        candidates: Sequence[tuple[int, Item]],
        agreement: Agreement,
    ) -> WriteResult:
        items_by_ref = {item.ref: item for _, item in candidates}
        items_by_ref.update({item.ref: item for item in new_items})
        views = []
        for pair in diff.raised + [pair for _, pair in diff.kept]:
            a, b = items_by_ref[pair.a], items_by_ref[pair.b]
            own, other = (a, b) if a.party == party.name else (b, a)
            detail = pair.detail()
            views.append(
                {
                    "id": None,
                    "status": "would-raise",
                    "kind": pair.kind,
                    "start": format_instant(pair.start),
                    "end": format_instant(pair.end),
                    "worst": detail["runs"][0]["closest"],
                    "intervals": detail["runs"],
                    "own": {"id": own.id, "kind": own.kind.value},
                    "other": disclose(other, own, pair.start, pair.end, agreement),
                }
            )
        return WriteResult(
            items=[
                {"id": t.change.item_id, "version": t.version, "status": t.status} for t in touched
            ],
            conflicts=views,
            resolved=[row.id for row in diff.resolved],
            dry_run=True,
        )


_CONFLICT_COLUMNS = ", ".join(c.name for c in conflicts.c)
# The open conflicts of some items: one index probe an item on each side.
_OPEN_CONFLICTS_POSTGRES = (
    f"SELECT {_CONFLICT_COLUMNS} FROM conflicts WHERE status = 'open'"
    " AND (a_pk = ANY(CAST(%s AS bigint[])) OR b_pk = ANY(CAST(%s AS bigint[])))"
)
_OPEN_CONFLICTS_SQLITE = (
    f"SELECT {_CONFLICT_COLUMNS} FROM conflicts WHERE status = 'open'"
    " AND (a_pk IN ({pks}) OR b_pk IN ({pks}))"
)


def search_window(new_items: Sequence[Item], agreement: Agreement) -> tuple[float, float]:
    """The times stored items must overlap to be candidates of `new_items`."""
    lo = min(i.start for i in new_items) - 2 * agreement.time_buffer_s
    hi = max(i.end for i in new_items) + 2 * agreement.time_buffer_s
    return lo, hi


def _diff(
    existing: Sequence[Any], found: Sequence[PairConflict], pk_of: dict[ItemRef, int]
) -> _Diff:
    diff = _Diff()
    by_pair = {frozenset((row.a_pk, row.b_pk)): row for row in existing}
    for pair in found:
        key = frozenset((pk_of[pair.a], pk_of[pair.b]))
        row = by_pair.pop(key, None)
        if row is None:
            diff.raised.append(pair)
        else:
            diff.kept.append((row, pair))
    diff.resolved = list(by_pair.values())
    return diff


def candidate_columns() -> list[Any]:
    """The columns of `items` a candidate's row has (`Candidate`), in its order."""
    return [items.c[name] for name in Candidate._fields]


def _parse_stored(text: str) -> Item:
    return parse_plan({"type": "FeatureCollection", "features": [orjson.loads(text)]}, "store")[0]


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for first in range(0, len(values), _CHUNK):
        yield values[first : first + _CHUNK]
