"""The initial schema: parties, items and their history, cells, conflicts, hotline, log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 06:36:47.312207
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "items",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("party_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("feature", sa.Text(), nullable=False),
        sa.Column("written_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("party_id", "item_id", name="items_party_item"),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("items_active_end", ["status", "end_s"], unique=False)

    op.create_table(
        "log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("party_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "cells",
        sa.Column("grid", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("item_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_pk"],
            ["items.pk"],
        ),
    )
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.create_index("cells_grid_key", ["grid", "key"], unique=False)
        batch_op.create_index("cells_item", ["item_pk"], unique=False)

    op.create_table(
        "conflicts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("a_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("b_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("a_party", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("b_party", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("a_view", sa.Text(), nullable=False),
        sa.Column("b_view", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.Float(), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["a_party"],
            ["parties.id"],
        ),
        sa.ForeignKeyConstraint(
            ["a_pk"],
            ["items.pk"],
        ),
        sa.ForeignKeyConstraint(
            ["b_party"],
            ["parties.id"],
        ),
        sa.ForeignKeyConstraint(
            ["b_pk"],
            ["items.pk"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index("conflicts_a", ["a_pk", "status"], unique=False)
        batch_op.create_index("conflicts_a_party", ["a_party"], unique=False)
        batch_op.create_index("conflicts_b", ["b_pk", "status"], unique=False)
        batch_op.create_index("conflicts_b_party", ["b_party"], unique=False)

    op.create_table(
        "feed",
        sa.Column("party_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["log.seq"],
        ),
        sa.PrimaryKeyConstraint("party_id", "n"),
    )
    op.create_table(
        "item_versions",
        sa.Column("item_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("feature", sa.Text(), nullable=True),
        sa.Column("written_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_pk"],
            ["items.pk"],
        ),
        sa.PrimaryKeyConstraint("item_pk", "version"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("thread", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "recipient", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("conflict_id", sa.String(length=32), nullable=True),
        sa.Column("in_reply_to", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("respond_by", sa.Float(), nullable=True),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conflict_id"],
            ["conflicts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["in_reply_to"],
            ["messages.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recipient"],
            ["parties.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sender"],
            ["parties.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_thread"), ["thread"], unique=False)
        batch_op.create_index("messages_recipient", ["recipient"], unique=False)
        batch_op.create_index("messages_sender", ["sender"], unique=False)

    op.create_table(
        "deadlines",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("due", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
        ),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index("deadlines_state_due", ["state", "due"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index("deadlines_state_due")

    op.drop_table("deadlines")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("messages_sender")
        batch_op.drop_index("messages_recipient")
        batch_op.drop_index(batch_op.f("ix_messages_thread"))

    op.drop_table("messages")
    op.drop_table("item_versions")
    op.drop_table("feed")
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index("conflicts_b_party")
        batch_op.drop_index("conflicts_b")
        batch_op.drop_index("conflicts_a_party")
        batch_op.drop_index("conflicts_a")

    op.drop_table("conflicts")
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_index("cells_item")
        batch_op.drop_index("cells_grid_key")

    op.drop_table("cells")
    op.drop_table("log")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("items_active_end")

    op.drop_table("items")
    op.drop_table("settings")
    op.drop_table("parties")
