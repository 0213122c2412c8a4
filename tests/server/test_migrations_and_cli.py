"""The migrations build exactly the declared schema; the server's commands on a real store."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from detente.server.clock import Clock
from detente.server.db import MIGRATIONS
from detente.server.plans import Change
from detente.server.schema import DIALECT_INDEXES, cells, declared_on, metadata
from detente.server.store import Store

from .conftest import DAY
from .plans import crossing_flight, flight


def test_migrations_match_the_declared_tables(store: Store) -> None:
    with store.db.engine.connect() as conn:
        hook = declared_on(conn.dialect.name)
        context = MigrationContext.configure(conn, opts={"include_object": hook})
        differences = compare_metadata(context, metadata)
        indexes = {i["name"] for i in inspect(conn).get_indexes("cells")}
    assert differences == []
    # Each backend has its own B-tree over the cells (and not the other's).
    own = {name for name, dialect in DIALECT_INDEXES.items() if dialect == conn.dialect.name}
    assert indexes & DIALECT_INDEXES.keys() == own


def test_migrating_twice_changes_nothing(store_url: str) -> None:
    Store(store_url).migrate().close()
    Store(store_url).migrate().close()


def _detente(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detente", *args], capture_output=True, text=True, timeout=120
    )


def test_party_commands_print_keys_that_work(store_url: str) -> None:
    added = _detente("party", "add", "coalition", "--db", store_url)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    store = Store(store_url)
    try:
        assert store.party_for_key(key).name == "coalition"

        rotated = _detente("party", "rotate-key", "coalition", "--db", store_url)
        assert rotated.returncode == 0, rotated.stderr
        new_key = rotated.stdout.strip().splitlines()[-1]
        assert new_key != key
        assert store.party_for_key(key) is None
        assert store.party_for_key(new_key).name == "coalition"

        revoked = _detente("party", "revoke", "coalition", "--db", store_url)
        assert revoked.returncode == 0, revoked.stderr
        assert store.party_for_key(new_key) is None

        listed = _detente("party", "list", "--db", store_url)
        assert listed.stdout.split() == ["coalition", "(revoked)"]

        admin = _detente("admin-key", "--db", store_url)
        assert store.is_admin_key(admin.stdout.strip().splitlines()[-1])
    finally:
        store.close()


def test_party_command_errors_are_one_clear_line(store_url: str) -> None:
    assert _detente("party", "add", "blue", "--db", store_url).returncode == 0
    again = _detente("party", "add", "blue", "--db", store_url)
    assert again.returncode == 2
    assert "exists already" in again.stderr and "Traceback" not in again.stderr
    bad = _detente("party", "add", "no spaces", "--db", store_url)
    assert bad.returncode == 2 and "party name" in bad.stderr
    unknown = _detente("party", "revoke", "nobody", "--db", store_url)
    assert unknown.returncode == 2 and "no party named 'nobody'" in unknown.stderr


def _old_layout(keys: np.ndarray) -> np.ndarray:
    """Keys as migration 0002 left them: time, altitude, face, u, v from the high bits."""
    v, u = keys >> 32 & 0x3FFF, keys >> 46 & 0x3FFF
    face, time, alt = keys >> 60 & 7, keys >> 6 & 0x3FFFFFF, keys & 63
    return time << 37 | alt << 31 | face << 28 | u << 14 | v


def _filed(store: Store) -> list[tuple[int, int, int]]:
    with store.db.reading() as conn:
        rows = conn.execute(select(cells.c.item_pk, cells.c.grid, cells.c.key)).all()
    return sorted((int(pk), int(grid), int(key)) for pk, grid, key in rows)


def test_migration_0003_rekeys_stored_cells_both_ways(store_url: str) -> None:
    """Cells filed under the old key layout are re-keyed to the new one, and back: a store
    upgraded from 0002 finds its stored items as candidates again."""
    store = Store(store_url, clock=Clock(start=DAY)).migrate()
    blue, red = store.add_party("blue")[0], store.add_party("red")[0]
    store.write(red, [Change("r-1", crossing_flight("r-1"))], source="t")
    store.write(red, [Change("r-2", crossing_flight("r-2"))], source="t")
    current = _filed(store)
    assert len(current) > 10
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    old = _filed(store)
    expected = _old_layout(np.array([key for _, _, key in current], np.int64)).tolist()
    assert old == sorted(
        (pk, grid, key) for (pk, grid, _), key in zip(current, expected, strict=True)
    )
    assert old != current
    store.close()
    store = Store(store_url, clock=Clock(start=DAY)).migrate()
    assert _filed(store) == current
    # The candidates are found through the re-keyed cells.
    answer = store.write(blue, [Change("b-1", flight("b-1"))], source="t")
    assert len(answer.conflicts) == 2
    store.close()


def _migrate_to(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def _cells_foreign_keys(store: Store) -> list[tuple[list[str], str, list[str]]]:
    keys = inspect(store.db.engine).get_foreign_keys("cells")
    return [(k["constrained_columns"], k["referred_table"], k["referred_columns"]) for k in keys]


def test_migration_0004_drops_the_cells_foreign_key_both_ways(store_url: str) -> None:
    """The cell index loses its key to the items and gets it back, its rows kept each way;
    a cell of no item is refused only while the key is there."""
    store = Store(store_url, clock=Clock(start=DAY)).migrate()
    blue, red = store.add_party("blue")[0], store.add_party("red")[0]
    store.write(red, [Change("r-1", crossing_flight("r-1"))], source="t")
    current = _filed(store)
    assert len(current) > 10
    assert _cells_foreign_keys(store) == []
    _migrate_to(store, "0003")
    assert _cells_foreign_keys(store) == [(["item_pk"], "items", ["pk"])]
    assert _filed(store) == current
    with pytest.raises(IntegrityError), store.db.engine.begin() as conn:
        conn.execute(insert(cells).values(grid=0, key=1, item_pk=10**9))
    _migrate_to(store, "head")
    assert _cells_foreign_keys(store) == []
    assert _filed(store) == current
    answer = store.write(blue, [Change("b-1", flight("b-1"))], source="t")
    assert len(answer.conflicts) == 1
    store.close()


def _cells_table_sql(store: Store) -> str | None:
    """SQLite's definition of the cells table (None on PostgreSQL)."""
    if not store.db.is_sqlite:
        return None
    with store.db.engine.connect() as conn:
        return str(
            conn.exec_driver_sql("SELECT sql FROM sqlite_schema WHERE name = 'cells'").scalar()
        )


def test_migration_0006_files_sqlites_cells_without_rowid_both_ways(store_url: str) -> None:
    """On SQLite the cells become the B-tree of their key and back, their rows kept each way,
    the candidates found through them; a row filed twice is refused. PostgreSQL's stay."""
    store = Store(store_url, clock=Clock(start=DAY)).migrate()
    blue, red = store.add_party("blue")[0], store.add_party("red")[0]
    store.write(red, [Change("r-1", crossing_flight("r-1"))], source="t")
    current = _filed(store)
    assert len(current) > 10
    sql = _cells_table_sql(store)
    assert sql is None or ("WITHOUT ROWID" in sql and "PRIMARY KEY" in sql)
    _migrate_to(store, "0005")
    sql = _cells_table_sql(store)
    assert sql is None or "WITHOUT ROWID" not in sql
    assert _filed(store) == current
    _migrate_to(store, "head")
    assert _filed(store) == current
    if store.db.is_sqlite:
        pk, grid, key = current[0]
        with pytest.raises(IntegrityError), store.db.engine.begin() as conn:
            conn.execute(insert(cells).values(grid=grid, version=1, key=key, item_pk=pk))
    answer = store.write(blue, [Change("b-1", flight("b-1"))], source="t")
    assert len(answer.conflicts) == 1
    store.close()


def _cells_columns(store: Store) -> list[str]:
    return [c["name"] for c in inspect(store.db.engine).get_columns("cells")]


def _filed_at(store: Store) -> list[tuple[int, int, int, int]]:
    with store.db.reading() as conn:
        query = select(cells.c.item_pk, cells.c.version, cells.c.grid, cells.c.key)
        return sorted(tuple(int(v) for v in row) for row in conn.execute(query))


def test_migration_0007_files_each_cell_with_its_items_version_both_ways(store_url: str) -> None:
    """The cells gain their items' versions (next to the grid) and lose them, their rows kept
    each way, the candidates found through them at each step."""
    store = Store(store_url, clock=Clock(start=DAY)).migrate()
    blue, red = store.add_party("blue")[0], store.add_party("red")[0]
    store.write(red, [Change("r-1", crossing_flight("r-1"))], source="t")
    store.write(red, [Change("r-1", crossing_flight("r-1"), 1)], source="t")
    store.write(red, [Change("r-2", crossing_flight("r-2"))], source="t")
    filed = _filed_at(store)
    assert {(pk, version) for pk, version, _, _ in filed} == {(1, 2), (2, 1)}
    assert _cells_columns(store)[:2] == ["grid", "version"]
    _migrate_to(store, "0006")
    assert "version" not in _cells_columns(store)
    assert _filed(store) == sorted((pk, grid, key) for pk, _, grid, key in filed)
    _migrate_to(store, "head")
    assert _filed_at(store) == filed
    store.close()
    # A server started anew (nothing parsed) reads its candidates through them.
    store = Store(store_url, clock=Clock(start=DAY))
    answer = store.write(blue, [Change("b-1", flight("b-1"))], source="t")
    assert len(answer.conflicts) == 2
    store.close()
