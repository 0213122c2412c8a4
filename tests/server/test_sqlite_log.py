"""SQLite's write-ahead log stays bounded under a steady stream of writes."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from detente.server.clock import Clock
from detente.server.db import CHECKPOINT_NICE
from detente.server.plans import Change
from detente.server.store import Store

from .conftest import DAY
from .plans import flight

WRITES = 80


def _log_frames(store: Store) -> int:
    """Frames in the log now (a passive checkpoint reports them)."""
    with store.db.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])


def test_checkpoints_restart_the_log_between_back_to_back_writes(tmp_path: Path) -> None:
    """Writes follow one another with no pause, as under load: a passive checkpoint alone
    never finds the log wholly copied when a write begins, so the log is never restarted and
    grows with every write. A tick restarts it once it holds `restart_at` pages (here, one):
    the log holds only the writes since."""
    store = Store(str(tmp_path / "detente.db"), clock=Clock(start=DAY)).migrate()
    blue = store.add_party("blue")[0]
    checkpoints = store.db._checkpoints
    assert checkpoints is not None
    # Under its threshold (as a fresh store is), a tick copies pages and restarts nothing.
    store.write(blue, [Change("b-zero", flight("b-zero"))], source="t")
    assert not checkpoints.checkpoint()
    assert _log_frames(store) > 0
    checkpoints.restart_at = 1
    store.write(blue, [Change("b-first", flight("b-first"))], source="t")
    checkpoints.checkpoint()
    store.write(blue, [Change("b-second", flight("b-second"))], source="t")
    one_write = _log_frames(store)
    done = threading.Event()

    def write() -> None:
        for k in range(WRITES):
            store.write(blue, [Change(f"b-{k}", flight(f"b-{k}"))], source="t")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    ticks = restarted = 0
    while not done.wait(0.01):
        ticks += 1
        restarted += checkpoints.checkpoint()
    writer.join()
    frames = _log_frames(store)
    assert restarted >= ticks // 2 > 0, (restarted, ticks)
    assert frames <= WRITES * one_write // 4, (frames, one_write)
    store.close()


def test_ticks_sync_the_database_file_without_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite syncs the database file only after a checkpoint that copied the whole log: under
    steady writes, the restart, under the write lock. Each tick syncs the file itself once its
    passive passes have copied pages, without the lock, so that the restart has little left
    to write; the restart still happens."""
    path = tmp_path / "detente.db"
    store = Store(str(path), clock=Clock(start=DAY)).migrate()
    blue = store.add_party("blue")[0]
    checkpoints = store.db._checkpoints
    assert checkpoints is not None
    syncs: list[tuple[str, bool]] = []
    fdatasync = os.fdatasync

    def recorded(fd: int) -> None:
        syncs.append((os.readlink(f"/proc/self/fd/{fd}"), checkpoints.writer.locked()))
        fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", recorded)
    store.write(blue, [Change("b-zero", flight("b-zero"))], source="t")
    # The write's commit: its log synced once the write lock was let go.
    assert syncs == [(f"{path.resolve()}-wal", False)]
    syncs.clear()
    assert not checkpoints.checkpoint()
    assert syncs == [(str(path.resolve()), False)]
    checkpoints.restart_at = 1
    store.write(blue, [Change("b-first", flight("b-first"))], source="t")
    syncs.clear()
    assert checkpoints.checkpoint()
    assert syncs == [(str(path.resolve()), False)]
    store.close()


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own priority is Linux's")
def test_checkpoints_run_below_the_servers_threads(tmp_path: Path) -> None:
    """Copying the log is background work: its thread yields the core to the commits."""
    store = Store(str(tmp_path / "detente.db"), clock=Clock(start=DAY)).migrate()
    blue = store.add_party("blue")[0]
    store.write(blue, [Change("b-zero", flight("b-zero"))], source="t")
    checkpoints = store.db._checkpoints
    assert checkpoints is not None and checkpoints._thread is not None
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = checkpoints._thread.native_id
    assert thread is not None
    deadline = time.monotonic() + 5
    while os.getpriority(os.PRIO_PROCESS, thread) == own and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.getpriority(os.PRIO_PROCESS, thread) == min(own + CHECKPOINT_NICE, 19)
    store.close()
