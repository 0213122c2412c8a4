"""The cell index covers the item: candidates are found without reading the cells table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_index("cells_grid_key")
        batch_op.create_index("cells_grid_key_item", ["grid", "key", "item_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_index("cells_grid_key_item")
        batch_op.create_index("cells_grid_key", ["grid", "key"], unique=False)
