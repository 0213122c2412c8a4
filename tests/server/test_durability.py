"""Crash durability: `detente serve` killed (SIGKILL) in the middle of a stream of writes.

Every write the server answered with 2xx must be in the store after a restart, at its version,
with its history row and its event; nothing half-written may show; the restarted server works.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select

from detente.server.db import Database
from detente.server.schema import item_versions, items
from detente.server.store import Store

from .conftest import free_port
from .plans import crossing_flight, flight

CLOCK_START = "2015-10-01T00:00:00Z"
WRITERS = 4
#: Writes answered before the server is killed (so that several are in flight at that moment).
ACKED_BEFORE_KILL = 40
CYCLES = 2


def _detente(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "detente", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"detente {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class Servers:
    """`detente serve` processes of one test; every one is killed at the end of the test."""

    db: str
    logs: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, key: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        log = (self.logs / f"serve-{len(self.running)}.log").open("wb")
        command = [sys.executable, "-m", "detente", "serve", "--db", self.db]
        command += ["--port", str(port), "--clock-start", CLOCK_START]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.running.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited:\n{self.log_text()}"
            assert time.monotonic() < deadline, f"the server did not start:\n{self.log_text()}"
            try:
                answer = httpx.get(f"{url}/v1/me", headers=_auth(key), timeout=5)
                if answer.status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            time.sleep(0.1)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
            process.wait(30)


@pytest.fixture
def servers(store_url: str, tmp_path: Path) -> Iterator[Servers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Servers(store_url, logs)
    try:
        yield started
    finally:
        started.stop_all()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _feature(item_id: str, n: int, version: int) -> dict[str, Any]:
    """Item `n` of a stream: flights a little apart (one party's items never clash anyway)."""
    lat = -40.0 + 0.01 * n
    return flight(item_id, [(36.0, lat, 6000.0), (37.0, lat, 6000.0)], name=f"v{version}")


@dataclass
class Stream:
    """What one writer sent: the writes answered (id → versions) and the one left unanswered."""

    acked: dict[str, list[int]] = field(default_factory=dict)
    unanswered: tuple[str, int] | None = None
    failures: list[str] = field(default_factory=list)


def _write_until_cut_off(
    url: str, key: str, prefix: str, writer: int, out: Stream, progress: threading.Semaphore
) -> None:
    """Create items and replace each once, until the server stops answering."""
    with httpx.Client(base_url=url, headers=_auth(key), timeout=30) as client:
        for k in range(10_000):
            item_id = f"{prefix}-{writer}-{k}"
            n = k * WRITERS + writer
            for version in (1, 2):
                headers = {} if version == 1 else {"If-Match": '"1"'}
                try:
                    answer = client.put(
                        f"/v1/items/{item_id}", json=_feature(item_id, n, version), headers=headers
                    )
                except httpx.TransportError:
                    out.unanswered = (item_id, version)
                    return
                if answer.status_code not in (200, 201):
                    out.failures.append(f"{item_id} v{version}: {answer.status_code} {answer.text}")
                    return
                assert answer.json()["item"]["version"] == version
                out.acked.setdefault(item_id, []).append(version)
                progress.release()


def _stream_and_kill(servers: Servers, url: str, key: str, prefix: str) -> list[Stream]:
    process = servers.running[-1]
    streams = [Stream() for _ in range(WRITERS)]
    progress = threading.Semaphore(0)
    threads = [
        threading.Thread(
            target=_write_until_cut_off, args=(url, key, prefix, w, streams[w], progress)
        )
        for w in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(ACKED_BEFORE_KILL):
            assert progress.acquire(timeout=120), f"writes stalled:\n{servers.log_text()}"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        for thread in threads:
            thread.join(60)
    assert not any(t.is_alive() for t in threads)
    for stream in streams:
        assert stream.failures == [], stream.failures
    return streams


def _check_after_restart(store_url: str, url: str, key: str, streams: list[Stream]) -> None:
    """Each answered write is stored at its version; an unanswered one wholly or not at all."""
    with httpx.Client(base_url=url, headers=_auth(key), timeout=30) as client:
        listed = client.get("/v1/items", params={"status": "all"}).json()["items"]
        current = {i["id"]: i for i in listed}
        events = client.get("/v1/events", params={"after": 0, "limit": 5000}).json()["events"]
    written = [(e["item"]["id"], e["item"]["version"]) for e in events]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["event"] == "item.written" for e in events)
    assert len(written) == len(set(written))

    history = _history(store_url)
    expected: set[tuple[str, int]] = set()
    maybe: set[tuple[str, int]] = set()
    for stream in streams:
        expected |= {(i, v) for i, versions in stream.acked.items() for v in versions}
        if stream.unanswered is not None:
            maybe.add(stream.unanswered)
    assert expected, "no write was answered before the kill"
    assert expected <= set(written), (
        f"answered writes without their event: {expected - set(written)}"
    )
    assert set(written) <= expected | maybe, f"events of writes never made: {set(written)}"
    assert expected <= set(history), f"answered writes without history: {expected - set(history)}"
    assert set(history) == set(written)
    for item_id, record in current.items():
        versions = sorted(v for i, v in written if i == item_id)
        assert versions == list(range(1, record["version"] + 1)), item_id
        assert record["status"] == "active"
        assert record["feature"]["properties"]["name"] == f"v{record['version']}"
    assert {i for i, _ in written} == set(current)


def _history(store_url: str) -> list[tuple[str, int]]:
    store = Store(store_url)
    try:
        with store.db.reading() as conn:
            rows = conn.execute(
                select(items.c.item_id, item_versions.c.version).select_from(
                    item_versions.join(items, items.c.pk == item_versions.c.item_pk)
                )
            ).all()
    finally:
        store.close()
    return [(str(i), int(v)) for i, v in rows]


def test_the_server_warns_when_postgresqls_autovacuum_is_off(
    store_url: str, servers: Servers
) -> None:
    """Unvacuumed, the cell index only grows: the server says so when it starts."""
    off = False
    if store_url.startswith("postgresql"):
        with psycopg.connect(store_url) as conn:
            setting = conn.execute("SELECT setting FROM pg_settings WHERE name = 'autovacuum'")
            off = setting.fetchone() == ("off",)
    database = Database(store_url)
    try:
        assert database.autovacuum_off() is off
    finally:
        database.dispose()
    blue = _detente("party", "add", "blue", "--db", store_url).strip().splitlines()[-1]
    servers.start(blue)
    warned = "warning: PostgreSQL's autovacuum is off" in servers.log_text()
    assert warned is off


def test_the_server_warns_when_postgresqls_buffers_are_smaller_than_the_written_tables(
    store_url: str, servers: Servers
) -> None:
    """Buffers that cannot hold the cells and items: the server says so when it starts."""
    blue = _detente("party", "add", "blue", "--db", store_url).strip().splitlines()[-1]
    expected = None
    if store_url.startswith("postgresql"):
        with psycopg.connect(store_url) as conn:
            shared, written = conn.execute(
                "SELECT pg_size_bytes(current_setting('shared_buffers')),"
                " pg_total_relation_size('cells') + pg_total_relation_size('items')"
            ).fetchone()
        assert written > 0
        expected = (shared, written) if shared < written else None
    database = Database(store_url)
    try:
        assert database.short_buffers() == expected
    finally:
        database.dispose()
    servers.start(blue)
    warned = "warning: PostgreSQL's shared_buffers" in servers.log_text()
    assert warned is (expected is not None)


def test_answered_writes_survive_a_kill(store_url: str, servers: Servers) -> None:
    blue = _detente("party", "add", "blue", "--db", store_url).strip().splitlines()[-1]
    red = _detente("party", "add", "red", "--db", store_url).strip().splitlines()[-1]
    _process, url = servers.start(blue)
    streams: list[Stream] = []
    for cycle in range(CYCLES):
        streams += _stream_and_kill(servers, url, blue, f"c{cycle}")
        _process, url = servers.start(blue)
        _check_after_restart(store_url, url, blue, streams)

    with httpx.Client(base_url=url, timeout=30) as client:
        me = client.get("/v1/me", headers=_auth(red))
        assert me.status_code == 200 and me.json() == {"party": "red"}
        # Replacing an answered item takes its answered version.
        item_id, versions = next(iter(streams[0].acked.items()))
        now = client.get(f"/v1/items/{item_id}", headers=_auth(blue))
        assert now.status_code == 200, now.text
        version = now.json()["version"]
        assert version >= versions[-1]
        again = client.put(
            f"/v1/items/{item_id}",
            json=_feature(item_id, 0, version + 1),
            headers={**_auth(blue), "If-Match": f'"{version}"'},
        )
        assert again.status_code == 200, again.text
        assert again.json()["item"]["version"] == version + 1
        # Detection still finds what was written before the kills (the cell index is intact).
        placed = flight("blue-late", name="late")
        assert (
            client.put("/v1/items/blue-late", json=placed, headers=_auth(blue)).status_code == 201
        )
        crossing = client.put("/v1/items/r-1", json=crossing_flight("r-1"), headers=_auth(red))
        assert crossing.status_code == 201, crossing.text
        assert len(crossing.json()["conflicts"]) == 1
        events = client.get("/v1/events", params={"after": 0}, headers=_auth(red)).json()
        assert [e["event"] for e in events["events"]] == ["item.written", "conflict.raised"]
