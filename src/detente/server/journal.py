"""The append-only log of every state change, and each party's feed of its own view of it.

An entry is one row of `log` (global sequence number, the whole change) and one row of `feed`
per party entitled to know of it, numbered 1, 2, ... per party, holding that party's view.
Appends run inside the write transaction, under the log lock, so numbers commit in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select

from .db import Database, driver, pg_array
from .schema import feed, log

__all__ = ["Entry", "append", "feed_after", "last_number"]


@dataclass(slots=True)
class Entry:
    """A change: `body` is the record kept in the log, `views` what each party is told; `at`
    when it happened, if not at the time given to `append`."""

    kind: str
    actor: int | None
    body: dict[str, Any]
    views: dict[int, dict[str, Any]] = field(default_factory=dict)
    at: float | None = None


def append(db: Database, conn: Connection, at: float, entries: list[Entry]) -> list[int]:
    """Append entries to the log and to the feeds of the parties they name; their sequence
    numbers, in order."""
    if not entries:
        return []
    parties = sorted({party for entry in entries for party in entry.views})
    if db.is_sqlite:
        last = _feed_tails(conn, parties)
        seqs = [
            int(seq)
            for seq in conn.execute(
                _INSERT_LOG_NUMBERED, [_log_row(e, at) for e in entries]
            ).scalars()
        ]
        _insert_feed(conn, entries, seqs, last, at)
        return seqs
    # PostgreSQL: the log's lock, the feeds' tails and the new sequence numbers in one round
    # trip, then both inserts in one more.
    with db.pipeline(conn):
        db.lock_log(conn)
        raw = driver(conn)
        tails = raw.execute(_FEED_TAILS, (pg_array(parties),))
        numbers = raw.execute(_NEXT_SEQS, (len(entries),))
        last = {int(party): int(n or 0) for party, n in tails.fetchall()}
        seqs = [int(seq) for (seq,) in numbers.fetchall()]
        conn.execute(
            _INSERT_LOG,
            [{"seq": seq, **_log_row(e, at)} for e, seq in zip(entries, seqs, strict=True)],
        )
        _insert_feed(conn, entries, seqs, last, at)
    return seqs


# Made once: every write runs them.
_INSERT_LOG_NUMBERED = insert(log).returning(log.c.seq, sort_by_parameter_order=True)
_INSERT_LOG = insert(log)
_INSERT_FEED = insert(feed)
# One index probe per party (a GROUP BY over the parties would read their whole feeds).
_FEED_TAILS = (
    "SELECT p, (SELECT max(n) FROM feed WHERE party_id = p) FROM unnest(CAST(%s AS bigint[])) AS p"
)
# Taken under the log's lock: they commit in order.
_NEXT_SEQS = (
    "SELECT nextval(pg_get_serial_sequence('log', 'seq')) AS seq"
    " FROM generate_series(1, %s) ORDER BY seq"
)


def _feed_tails(conn: Connection, parties: list[int]) -> dict[int, int]:
    """The number of each party's latest event (SQLite): one index probe a party, in one
    statement given as text (it runs on every write)."""
    if not parties:
        return {}
    query = " UNION ALL ".join([_SQLITE_FEED_TAIL] * len(parties))
    rows = conn.exec_driver_sql(query, tuple(p for party in parties for p in (party, party)))
    return {int(party): int(n or 0) for party, n in rows}


_SQLITE_FEED_TAIL = "SELECT ?, (SELECT max(n) FROM feed WHERE party_id = ?)"


def _log_row(entry: Entry, at: float) -> dict[str, Any]:
    return {
        "at": _at(entry, at),
        "kind": entry.kind,
        "party_id": entry.actor,
        "body": _dumps(entry.body),
    }


def _insert_feed(
    conn: Connection, entries: list[Entry], seqs: list[int], last: dict[int, int], at: float
) -> None:
    rows_out: list[dict[str, Any]] = []
    for entry, seq in zip(entries, seqs, strict=True):
        for party, view in entry.views.items():
            n = last.get(party, 0) + 1
            last[party] = n
            rows_out.append(
                {
                    "party_id": party,
                    "n": n,
                    "seq": seq,
                    "kind": entry.kind,
                    "body": _dumps({"event": entry.kind, "at": _at(entry, at), **view}),
                }
            )
    if rows_out:
        conn.execute(_INSERT_FEED, rows_out)


def feed_after(conn: Connection, party: int, after: int, limit: int) -> list[tuple[int, str, str]]:
    """A party's events numbered above `after`, oldest first: `(n, kind, body JSON)`."""
    rows = conn.execute(
        select(feed.c.n, feed.c.kind, feed.c.body)
        .where(feed.c.party_id == party, feed.c.n > after)
        .order_by(feed.c.n)
        .limit(limit)
    )
    return [(int(n), kind, body) for n, kind, body in rows]


def last_number(conn: Connection, party: int) -> int:
    """The number of a party's latest event (0 when none)."""
    n = conn.execute(select(func.max(feed.c.n)).where(feed.c.party_id == party)).scalar()
    return int(n or 0)


def _at(entry: Entry, at: float) -> float:
    return at if entry.at is None else entry.at


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
