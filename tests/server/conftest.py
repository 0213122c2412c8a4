"""Fixtures of the server tests: a store on each backend, a live HTTP server, parties.

Every store test runs on SQLite (a file per test) and on PostgreSQL (one database per session,
emptied before each test). PostgreSQL is expected at `DETENTE_TEST_PG` (default
postgresql://postgres@127.0.0.1:5432/postgres); when it cannot be reached the PostgreSQL tests
fail with a message saying so; they are never skipped silently.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from detente.server.app import create_app
from detente.server.clock import Clock
from detente.server.schema import metadata
from detente.server.store import Store

#: 2015-10-01T00:00:00Z, the start of the test plans' day.
DAY = 1443657600.0
PG_ADMIN_URL = os.environ.get("DETENTE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; its URL."""
    import psycopg

    name = f"detente_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it (.ci/run does)"
            " or point DETENTE_TEST_PG at one",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    Store(url).migrate().close()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_postgres(url: str) -> None:
    store = Store(url)
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    store.close()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty, migrated store on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "detente.db")
    url = request.getfixturevalue("pg_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store whose clock reads 2015-10-01T00:00:00Z at the start of the test."""
    s = Store(store_url, clock=Clock(start=DAY)).migrate()
    yield s
    s.close()


@dataclass
class Live:
    """A server listening on loopback: its base URL, its store and the parties' keys."""

    url: str
    store: Store
    keys: dict[str, str]
    admin_key: str

    def client(self, party: str | None = None, **kwargs) -> httpx.Client:
        key = self.admin_key if party is None else self.keys[party]
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(store: Store, sweep_s: float = 0.2) -> Iterator[str]:
    """Run the application over `store` with uvicorn in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(store, sweep_s=sweep_s), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live(store: Store) -> Iterator[Live]:
    """A live server with parties blue, red and green and an admin key."""
    keys = {name: store.add_party(name)[1] for name in ("blue", "red", "green")}
    admin_key = store.new_admin_key()
    with serving(store) as url:
        yield Live(url, store, keys, admin_key)
