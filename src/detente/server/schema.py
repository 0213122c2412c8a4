"""The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL but for the cell
index's B-trees (`DIALECT_INDEXES`; on SQLite the cells are a table keyed by their columns).

Times are epoch seconds (floats); documents are JSON text. `log` is append-only: rows are
inserted, never updated or deleted. The migrations in `migrations/` create exactly these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "DIALECT_INDEXES",
    "cells",
    "conflicts",
    "deadlines",
    "declared_on",
    "feed",
    "item_versions",
    "items",
    "log",
    "messages",
    "metadata",
    "parties",
    "settings",
]

metadata = MetaData()

# One key id per table row: BigInteger on PostgreSQL, INTEGER PRIMARY KEY (the rowid) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")

settings = Table(
    "settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

parties = Table(
    "parties",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

# The current state of every item a party ever wrote: `status` is active, withdrawn or expired.
items = Table(
    "items",
    metadata,
    Column("pk", RowId, primary_key=True, autoincrement=True),
    Column("party_id", RowId, ForeignKey("parties.id"), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("feature", Text, nullable=False),
    Column("written_at", Float, nullable=False),
    UniqueConstraint("party_id", "item_id", name="items_party_item"),
    Index("items_active_end", "status", "end_s"),
)

# Every version ever written (the history), withdrawals included (feature NULL).
item_versions = Table(
    "item_versions",
    metadata,
    Column("item_pk", RowId, ForeignKey("items.pk"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("feature", Text, nullable=True),
    Column("written_at", Float, nullable=False),
)

#: Indexes made on one backend only (`Index.ddl_if`), by name: the backend's.
DIALECT_INDEXES = {"cells_grid_key": "postgresql"}


def declared_on(dialect: str) -> Callable[..., bool]:
    """An Alembic `include_object` hook: what the schema declares on `dialect` (an index of
    another backend is left out of the comparison)."""

    def include(_obj: Any, name: str | None, type_: str, *_rest: Any) -> bool:
        return type_ != "index" or DIALECT_INDEXES.get(name or "", dialect) == dialect

    return include


# The space-time cell index of active items (see `detente.detect.cells`). Derived from the
# items, with no foreign key: a check per row, sixty rows a flight, would guard nothing.
cells = Table(
    "cells",
    metadata,
    Column("grid", SmallInteger, nullable=False),
    # The version of the item filed (a row exists only while its item is active at that
    # version), so that a lookup by cell needs no `items` row (migration 0007).
    Column("version", Integer, nullable=False),
    Column("key", BigInteger, nullable=False),
    Column("item_pk", RowId, nullable=False),
    # SQLite: the rows are the B-tree of `(grid, key, item_pk)` itself (WITHOUT ROWID, migration
    # 0006), so that a lookup by cell finds its items there and a row written or deleted
    # changes two B-trees (this one and `cells_item`), not three. PostgreSQL: a heap, indexed
    # on the cell alone so that the rows of a cell share an entry (migration 0005).
    PrimaryKeyConstraint("grid", "key", "item_pk", name="cells_pkey").ddl_if(dialect="sqlite"),
    Index("cells_grid_key", "grid", "key").ddl_if(dialect=DIALECT_INDEXES["cells_grid_key"]),
    Index("cells_item", "item_pk"),
    sqlite_with_rowid=False,
)

# A conflict between two items (the engine's `a` and `b`); `a_view`/`b_view` are what the
# party of b (resp. a) is shown of the other item.
conflicts = Table(
    "conflicts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("a_pk", RowId, ForeignKey("items.pk"), nullable=False),
    Column("b_pk", RowId, ForeignKey("items.pk"), nullable=False),
    Column("a_party", RowId, ForeignKey("parties.id"), nullable=False),
    Column("b_party", RowId, ForeignKey("parties.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("detail", Text, nullable=False),
    Column("a_view", Text, nullable=False),
    Column("b_view", Text, nullable=False),
    Column("raised_at", Float, nullable=False),
    Column("changed_at", Float, nullable=False),
    Index("conflicts_a", "a_pk", "status"),
    Index("conflicts_b", "b_pk", "status"),
    Index("conflicts_a_party", "a_party"),
    Index("conflicts_b_party", "b_party"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("thread", String(32), nullable=False, index=True),
    Column("sender", RowId, ForeignKey("parties.id"), nullable=False),
    Column("recipient", RowId, ForeignKey("parties.id"), nullable=False),
    Column("conflict_id", String(32), ForeignKey("conflicts.id"), nullable=True),
    Column("in_reply_to", String(32), ForeignKey("messages.id"), nullable=True),
    Column("type", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("respond_by", Float, nullable=True),
    Column("sent_at", Float, nullable=False),
    Index("messages_sender", "sender"),
    Index("messages_recipient", "recipient"),
)

# Messages that demand a response: open until answered, overdue once the deadline passes.
deadlines = Table(
    "deadlines",
    metadata,
    Column("message_id", String(32), ForeignKey("messages.id"), primary_key=True),
    Column("due", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Index("deadlines_state_due", "state", "due"),
)

# The append-only record of every state change, in one global sequence.
log = Table(
    "log",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("party_id", RowId, ForeignKey("parties.id"), nullable=True),
    Column("body", Text, nullable=False),
)

# Each party's events: its own numbering (`n`, 1, 2, ...) and its own view of each log entry.
feed = Table(
    "feed",
    metadata,
    Column("party_id", RowId, ForeignKey("parties.id"), primary_key=True),
    Column("n", BigInteger, primary_key=True),
    Column("seq", RowId, ForeignKey("log.seq"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
)
