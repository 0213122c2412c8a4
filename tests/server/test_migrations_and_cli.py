"""The migrations build exactly the declared schema; the server's commands on a real store."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from detente.server.schema import metadata
from detente.server.store import Store


def test_migrations_match_the_declared_tables(store: Store) -> None:
    with store.db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


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
