"""The cell index holds no foreign key to its items.

Its rows are derived from the items (written with them, removed with them, rebuilt whole by a
new agreement) and items are never deleted, so the key guarded nothing. It cost a check per
row: about sixty per flight, each one a trigger and a row lock on PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# PostgreSQL's name for the key; SQLite's is unnamed and is given this one to be dropped.
_NAME = "cells_item_pk_fkey"
_SQLITE_NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("cells", naming_convention=_SQLITE_NAMES) as batch_op:
            batch_op.drop_constraint(_NAME, type_="foreignkey")
    else:
        op.drop_constraint(_NAME, "cells", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("cells") as batch_op:
        batch_op.create_foreign_key(_NAME, "items", ["item_pk"], ["pk"])
