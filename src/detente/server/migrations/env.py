"""Alembic environment: migrations run on the connection `Database.migrate` hands over."""

from __future__ import annotations

from alembic import context

from detente.server.schema import declared_on, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    include_object=declared_on(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
