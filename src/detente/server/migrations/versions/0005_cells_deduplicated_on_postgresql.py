"""PostgreSQL: the cell index is on the cell alone, so that its B-tree deduplicates.

With the item in the key (`cells_grid_key_item`, covering) every row is an entry of its own:
158 MB for 50,000 flights, more than PostgreSQL's stock 128 MB of buffers. Its inserts land on
pages all over it, so that backends evict its dirty pages themselves, and after a checkpoint
each first change to a page writes the whole page to the WAL: the commits of new plans stalled
for up to hundreds of milliseconds. On `(grid, key)` alone, the rows of one cell share one entry
(a posting list; about four items a cell): 45 MB. A lookup then reads the rows' item from the
table, which PostgreSQL does anyway until a vacuum has marked its pages all-visible. SQLite
keeps the covering index: its rows are found through the table's own B-tree, and the index
alone spares that walk.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 17:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("cells_grid_key", "cells", ["grid", "key"])
        op.drop_index("cells_grid_key_item", table_name="cells")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("cells_grid_key_item", "cells", ["grid", "key", "item_pk"])
        op.drop_index("cells_grid_key", table_name="cells")
