"""Cell keys put the place first, then time and altitude (`detect.grid._pack`): an item's
cells sit together in the cell index, so a write dirties about half the pages it did.

The keys were, from the high bits: time bin (26), altitude bin (6), face (3), u (14), v (14);
they become face, u, v, time bin, altitude bin. Every row is re-keyed in place.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Bit positions of the fields, low bit first: (name, width, old shift, new shift).
_FIELDS = (
    ("v", 14, 0, 32),
    ("u", 14, 14, 46),
    ("face", 3, 28, 60),
    ("alt", 6, 31, 0),
    ("time", 26, 37, 6),
)


def _rekey(forward: bool) -> str:
    """SQL for the key with each field moved to its new place (`forward`) or back; every
    operator parenthesised (SQLite gives them one precedence)."""
    terms = []
    for _name, width, old, new in _FIELDS:
        source, target = (old, new) if forward else (new, old)
        terms.append(f"(((key >> {source}) & {(1 << width) - 1}) << {target})")
    return " | ".join(terms)


def _apply(forward: bool) -> None:
    # The index is rebuilt once, not row by row.
    op.drop_index("cells_grid_key_item", table_name="cells")
    op.execute(f"UPDATE cells SET key = {_rekey(forward)}")
    op.create_index("cells_grid_key_item", "cells", ["grid", "key", "item_pk"])


def upgrade() -> None:
    _apply(True)


def downgrade() -> None:
    _apply(False)
