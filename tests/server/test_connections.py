"""PostgreSQL's pooled connections: pinged before use only after being idle a while."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import exc, text

from detente.server import db as db_module
from detente.server.db import Database

from .conftest import PG_ADMIN_URL


@pytest.fixture
def database(pg_database: str) -> Iterator[Database]:
    db = Database(pg_database)
    yield db
    db.dispose()


@pytest.fixture
def pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings the pool sends, as they are sent."""
    sent: list[object] = []
    ping = database.engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        sent.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted)
    return sent


def _backend_pid(database: Database) -> int:
    with database.reading() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _end_backend(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_in_steady_use_is_not_pinged(database: Database, pings: list[object]) -> None:
    first = _backend_pid(database)
    for _ in range(5):
        assert _backend_pid(database) == first
    assert pings == []


def test_a_connection_idle_a_while_is_pinged_and_replaced_if_broken(
    database: Database, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(database)
    _end_backend(first)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
    # The ping finds the connection broken: a new one answers, and nothing fails.
    second = _backend_pid(database)
    assert second != first
    assert len(pings) == 1
    assert _backend_pid(database) == second


def test_a_broken_connection_met_in_use_fails_once_then_the_pool_is_renewed(
    database: Database, pings: list[object]
) -> None:
    first = _backend_pid(database)
    _end_backend(first)
    with pytest.raises(exc.OperationalError):
        _backend_pid(database)
    assert _backend_pid(database) != first
    assert pings == []


def test_sessions_flush_what_they_write_and_compress_the_wal(database: Database) -> None:
    with database.reading() as conn:
        assert conn.execute(text("SHOW backend_flush_after")).scalar_one() == "256kB"
        # The tests' role is a superuser, which may set it.
        assert conn.execute(text("SHOW wal_compression")).scalar_one() == "lz4"


def test_a_store_of_few_statements_plans_them_once(database: Database) -> None:
    """The pass process's store (`generic_plans`): a prepared statement's plan is made once,
    whatever its values; other stores leave the choice to PostgreSQL."""
    generic = Database(database.url, generic_plans=True)
    statement = text("SELECT pk FROM items WHERE party_id = ANY(CAST(:parties AS bigint[]))")
    try:
        with generic.reading() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_generic_plan"
            assert conn.execute(text("SHOW backend_flush_after")).scalar_one() == "256kB"
            for parties in ("{1}", "{1,2}", "{2}", "{3}", "{1}", "{2,3}", "{4}"):
                conn.execute(statement, {"parties": parties}).all()
            plans = conn.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE 'SELECT pk FROM items WHERE party_id%'"
                )
            ).one()
            assert plans.generic_plans > 0 and plans.custom_plans == 0
        with database.reading() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
    finally:
        generic.dispose()


def test_a_setting_the_session_may_not_have_is_gone_without(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        db_module, "SESSION_SETTINGS", (("no_such_setting", "1"), ("backend_flush_after", "64kB"))
    )
    fresh = Database(database.url)
    try:
        with fresh.reading() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            assert conn.execute(text("SHOW backend_flush_after")).scalar_one() == "64kB"
    finally:
        fresh.dispose()


def _next_xid() -> int:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        return int(admin.execute("SELECT txid_current()").fetchone()[0])  # type: ignore[index]


def test_a_write_told_when_committed_commits_without_the_flush_and_waits_for_it_after(
    database: Database,
) -> None:
    """The transaction does not wait for the WAL's flush; a synchronous commit after it (a
    transaction with an identifier of its own) waits for the flush up to it."""
    told: list[int] = []
    before = _next_xid()
    with database.writing(committed=lambda: told.append(_next_xid())) as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
        conn.execute(text("SELECT txid_current()"))
    # Told once committed (the write's identifier, then the call's own), before the flush's.
    assert told == [before + 2]
    assert _next_xid() == before + 4
    with database.writing() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"


def test_durable_gives_the_transaction_an_identifier(database: Database) -> None:
    before = _next_xid()
    with database.reading() as conn:
        database.durable(conn)
    with database.reading() as conn:
        conn.execute(text("SELECT 1"))
    assert _next_xid() == before + 2
