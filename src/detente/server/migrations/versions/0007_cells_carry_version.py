"""A cell row carries the version of the item it files, so that candidates are found in the
cell index alone.

A lookup by cell returned item keys, and each candidate's row was then read from `items` (its
version, party, status and window): on PostgreSQL 1.8 ms and 2,535 buffers for the candidates
of four flights of the benchmark's store, against 1.1 ms and 1,788 from the cells alone; on
SQLite one more B-tree walk a candidate. A cell row exists only while
its item is active, at the version it was filed for (a new version refiles it), so the version
it carries is all a pass needs to take the rest from the items it has parsed.

The table is rebuilt on both backends, its rows in key order. On PostgreSQL the version sits
after the grid, in the padding before the key: the rows stay 24 bytes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = {
    "sqlite": {"cells_item": ["item_pk"]},
    "postgresql": {"cells_grid_key": ["grid", "key"], "cells_item": ["item_pk"]},
}


def _rebuild(with_version: bool) -> None:
    """Copy the cells into a new table, with their items' versions or without, and put it in
    the old one's place."""
    dialect = op.get_bind().dialect.name
    version = "version INTEGER NOT NULL, " if with_version else ""
    if dialect == "sqlite":
        # The rows are the B-tree of their key (migration 0006).
        item_pk = (
            'item_pk INTEGER NOT NULL, CONSTRAINT cells_pkey PRIMARY KEY (grid, "key", item_pk)'
        )
        layout = " WITHOUT ROWID"
    else:
        item_pk, layout = "item_pk BIGINT NOT NULL", ""  # a heap
    op.execute(
        f'CREATE TABLE cells_new (grid SMALLINT NOT NULL, {version}"key" BIGINT NOT NULL,'
        f" {item_pk}){layout}"
    )
    if with_version:
        op.execute(
            'INSERT INTO cells_new (grid, version, "key", item_pk)'
            ' SELECT c.grid, i.version, c."key", c.item_pk FROM cells c'
            ' JOIN items i ON i.pk = c.item_pk ORDER BY c.grid, c."key", c.item_pk'
        )
    else:
        op.execute(
            'INSERT INTO cells_new (grid, "key", item_pk)'
            ' SELECT grid, "key", item_pk FROM cells ORDER BY grid, "key", item_pk'
        )
    op.drop_table("cells")
    op.rename_table("cells_new", "cells")
    for name, columns in _INDEXES[dialect].items():
        op.create_index(name, "cells", columns)


def upgrade() -> None:
    _rebuild(with_version=True)


def downgrade() -> None:
    _rebuild(with_version=False)
