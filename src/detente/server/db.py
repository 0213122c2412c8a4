"""Connections, transactions and locks, for SQLite (the default) and PostgreSQL.

Writes are serialisable by construction:

- SQLite: one writer at a time (a process lock, then `BEGIN IMMEDIATE` against other processes);
- PostgreSQL: a writer locks the cells its items are (and were) filed in with transaction-level
  advisory locks, in sorted order, so that writes that could clash wait for each other and the
  others run side by side; the log's tail is taken under one more lock so that sequence numbers
  commit in order. A whole-store operation (a new agreement) takes the store lock exclusively;
  every writer holds it shared.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

from detente.detect.cells import lock_regions

from . import timings

__all__ = ["Database", "database_url", "driver", "pg_array"]

MIGRATIONS = Path(__file__).parent / "migrations"
_STORE_LOCK = 1
_LOG_LOCK = 2
_MASK = (1 << 63) - 1
#: Seconds between checkpoints of SQLite's write-ahead log.
CHECKPOINT_S = 0.5
#: Passive passes of a checkpoint tick, at most; it stops sooner once no more than
#: `LEFT_FRAMES` pages are left to copy.
PASSIVE_PASSES = 4
LEFT_FRAMES = 64
#: The log is restarted once it holds this many pages (1 GiB of 4 KiB pages): each restart
#: holds writers back for the copy and sync of the last pages (about 10 ms, the file synced
#: by the ticks before), so rarely (about every 25 s at 300 plans a second).
RESTART_AT_FRAMES = 262_144
#: How much the checkpoints' thread raises its nice value (Linux): copying the log is
#: background work, and at the server's priority its copies and syncs took a core from the
#: commits beside them (a commit took 35 to 50% longer while they ran; 20 to 25% since).
CHECKPOINT_NICE = 10
#: How long a restart waits for readers to leave the log, ms.
RESTART_WAIT_MS = 3
#: `(grid, key)` cells: pairs, or an array of two columns.
GridKeys = Sequence[tuple[int, int]] | NDArray[np.int64]
#: Bytes of SQLite's write-ahead log kept on disk once it has been restarted.
WAL_SIZE_LIMIT = 1088 << 20
#: How long a SQLite connection waits for a lock held by another process, seconds.
BUSY_TIMEOUT_S = 30
#: A pooled PostgreSQL connection idle for longer than this is pinged before use, seconds.
PING_AFTER_IDLE_S = 1.0
#: Settings of Détente's own PostgreSQL sessions, each tried on its own when a connection is
#: made: a server that does not know one, or a role that may not set it, goes without. Writes
#: of plans touch pages all over the cell index:
#: - `backend_flush_after`: a backend that evicts such a page from the server's buffers asks
#:   the kernel to write it out soon (by default the kernel wrote them in one burst thirty
#:   seconds later, its expiry of dirty data, and the WAL's flushes then took up to a few
#:   hundred ms, each commit's locks held meanwhile);
#: - `wal_compression`: the full images of those pages written to the WAL after each checkpoint
#:   are compressed (a superuser's, or the server's own setting).
SESSION_SETTINGS = (("backend_flush_after", "256kB"), ("wal_compression", "lz4"))
#: Added for a store that asks only the same few statements, with other values each time (the
#: pass process's): PostgreSQL plans them once (psycopg prepares a statement from its fifth
#: execution on), where it otherwise planned the pass's two lookups of ids at every execution.
GENERIC_PLANS = (("plan_cache_mode", "force_generic_plan"),)


#: The tables every write of a plan reads and writes (PostgreSQL's buffers should hold them).
WRITTEN_TABLES = ("cells", "items")
_SHARED_BUFFERS_AND_WRITTEN = (
    "SELECT (SELECT setting::bigint * pg_size_bytes(unit) FROM pg_settings"
    "  WHERE name = 'shared_buffers'),"
    " (SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)"
    "  FROM unnest(%s::text[]) AS t)"
)


def database_url(url: str) -> str:
    """A SQLAlchemy URL: a plain path becomes SQLite, `postgresql://` uses psycopg 3.

    >>> database_url("detente.db")
    'sqlite:///detente.db'
    >>> database_url("postgresql://localhost/test")
    'postgresql+psycopg://localhost/test'
    """
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def driver(conn: Connection) -> Any:
    """The driver's own connection under `conn` (psycopg's, on PostgreSQL)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


def pg_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, sent as text (the driver's list adapter walks
    each element in the interpreter).

    >>> pg_array([3, -1])
    '{3,-1}'
    """
    return "{" + ",".join(map(str, values)) + "}"


class Database:
    """One store: an engine, migrations and the write transaction."""

    def __init__(self, url: str, *, generic_plans: bool = False) -> None:
        """`generic_plans`: on PostgreSQL, `GENERIC_PLANS` beside `SESSION_SETTINGS`."""
        self.url = database_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        settings = SESSION_SETTINGS + (GENERIC_PLANS if generic_plans else ())
        self.engine = (
            _sqlite_engine(self.url) if self.is_sqlite else _postgres_engine(self.url, settings)
        )
        self._writer = threading.Lock()
        self._checkpoints: _Checkpoints | None = None
        #: SQLite: the write-ahead log's file, synced after each commit (None in memory).
        self._wal: Path | None = None
        path = make_url(self.url).database
        if self.is_sqlite and path not in (None, "", ":memory:"):
            self._checkpoints = _Checkpoints(self.engine, self._writer, Path(path))
            self._wal = Path(f"{path}-wal")

    def migrate(self) -> None:
        """Bring the schema to the latest migration (Alembic)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _STORE_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        self._sync_log()

    def autovacuum_off(self) -> bool:
        """PostgreSQL: whether its autovacuum is off. Every new version of a flight deletes and
        inserts its sixty-odd rows of `cells`; unvacuumed, the table only grows (about 1 MB a
        second at 300 revisions a second), and the cells' lookups slow down as it does."""
        if self.is_sqlite:
            return False
        with self.engine.connect() as conn:
            return driver(conn).execute("SHOW autovacuum").fetchone()[0] == "off"

    def short_buffers(self) -> tuple[int, int] | None:
        """PostgreSQL: its shared buffers and the size of the tables every write reads and
        writes (`WRITTEN_TABLES`, with their indexes and TOAST), in bytes, when the buffers
        are the smaller; else None (and always on SQLite). Their pages are then read from the
        kernel's cache, a system call each: at 300 revisions a second with Debian's default
        128 MB, 27,000 to 31,000 pages a second, and PostgreSQL's CPU a write a quarter more
        than with buffers that held them."""
        if self.is_sqlite:
            return None
        with self.engine.connect() as conn:
            shared, written = (
                driver(conn)
                .execute(_SHARED_BUFFERS_AND_WRITTEN, (list(WRITTEN_TABLES),))
                .fetchone()
            )
        return (int(shared), int(written)) if shared < written else None

    def dispose(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        self.engine.dispose()

    @contextmanager
    def reading(self, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction: a consistent snapshot on SQLite's WAL, and on PostgreSQL with
        `snapshot` (repeatable read; else each statement sees what was committed before it)."""
        with self.engine.connect() as conn:
            if snapshot and not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def writing(
        self,
        whole_store: bool = False,
        cells: GridKeys = (),
        rows: Sequence[int] = (),
        then: Callable[[Any], None] | None = None,
        committed: Callable[[], None] | None = None,
    ) -> Iterator[Connection]:
        """A write transaction; `whole_store` excludes every other writer. The locks of the
        `(grid, key)` cells given are taken with the store's (`lock_cells`), after those of
        the items' rows of keys `rows` (as a single write takes them: rows first).
        PostgreSQL:
        `then` sends statements on the driver's connection in the same round trip, once the
        locks are held (their answers are read after); SQLite ignores it.

        With `committed`, `committed()` is called once the transaction has committed, and the
        block ends once that commit is on disk. On PostgreSQL the commit itself does not wait
        for the WAL's flush (`synchronous_commit = off`), so that its locks are let go before
        it (every writer queued behind them waited for it, and a checkpoint's first seconds
        make it slow); the flush is waited for after (`flushed`). SQLite's commits do not sync
        its log either (`synchronous = NORMAL`): the block syncs it once the write lock is let
        go, so that the next writer commits meanwhile, and every write ends on disk."""
        if self.is_sqlite:
            if self._checkpoints is not None:
                self._checkpoints.start()
            with self._writer, self.engine.connect() as conn:
                conn = conn.execution_options(immediate=True)
                with conn.begin():
                    yield conn
            if committed is not None:
                committed()
            self.flushed(conn)
            return
        with self.engine.connect() as conn:
            with conn.begin():
                if whole_store:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _STORE_LOCK})
                else:
                    # The transaction's start, the store's lock and the cells' in one round
                    # trip (the driver sends its BEGIN on its own otherwise).
                    raw = driver(conn)
                    with raw.pipeline():
                        if rows:
                            raw.execute(_LOCK_ROWS, (pg_array(sorted(rows)),))
                        raw.execute(_TAKE_LOCKS, (pg_array([_STORE_LOCK, *_cell_locks(cells)]),))
                        if committed is not None:
                            raw.execute(_COMMIT_WITHOUT_FLUSH)
                        if then is not None:
                            then(raw)
                yield conn
            if committed is not None:
                committed()
                self.flushed(conn)

    def durable(self, conn: Connection) -> None:
        """Every commit made before is on disk once `conn`'s transaction ends. PostgreSQL: its
        commit waits until the WAL is on disk up to it (the transaction is given an
        identifier, and commits synchronously). SQLite: the log is synced now."""
        if self.is_sqlite:
            self._sync_log()
        else:
            driver(conn).execute("SELECT txid_current()")

    def flushed(self, conn: Connection) -> None:
        """Return once every commit made before is on disk. PostgreSQL: using `conn` between
        two transactions (a transaction of its own that `durable` makes wait for the flush).
        SQLite: the log is synced (`conn` is not used)."""
        if self.is_sqlite:
            self._sync_log()
            return
        raw = driver(conn)
        raw.autocommit = True
        try:
            self.durable(conn)
        finally:
            raw.autocommit = False

    @contextmanager
    def pipeline(self, conn: Connection) -> Iterator[None]:
        """PostgreSQL: the statements of the block are sent without waiting for each one's
        answer, until a result is read or the block ends (errors are raised then). Only
        statements whose rows are not read through SQLAlchemy belong in it. SQLite: nothing."""
        if self.is_sqlite:
            yield
            return
        with driver(conn).pipeline():
            yield

    def _sync_log(self) -> None:
        """SQLite: write SQLite's log out to disk, and with it every commit made before (a
        log that is not there was wholly copied into the database file, which was synced)."""
        if self._wal is None:
            return
        with contextlib.suppress(FileNotFoundError):
            _sync_file(self._wal)

    def lock_cells(self, conn: Connection, grid_keys: GridKeys) -> None:
        """Take the cell locks of a write, in sorted order (PostgreSQL; SQLite is serial).

        One lock per region of cells (`lock_regions`), not per cell: a large plan fills tens of
        thousands of cells, more than the server's lock table holds.
        """
        if self.is_sqlite or len(grid_keys) == 0:
            return
        conn.exec_driver_sql(_TAKE_LOCKS, (pg_array(_cell_locks(grid_keys)),))

    def lock_log(self, conn: Connection) -> None:
        """Serialise the log's tail: taken last, held until commit."""
        if not self.is_sqlite:
            # Through the driver: its answer is not read (it may be sent in a pipeline).
            driver(conn).execute("SELECT pg_advisory_xact_lock(%s)", (_LOG_LOCK,))


_COMMIT_WITHOUT_FLUSH = "SET LOCAL synchronous_commit = off"
# Items' rows locked against other writers of them (NO KEY: conflict rows of other writers may
# reference them meanwhile), in the order of a single write's (`PlanWriter._current`).
_LOCK_ROWS = (
    "SELECT count(*) FROM (SELECT 1 FROM items WHERE pk = ANY(CAST(%s AS bigint[]))"
    " ORDER BY item_id, party_id FOR NO KEY UPDATE) AS locked"
)
# Advisory locks in ascending order: the store's (shared), then the cells' (exclusive).
_TAKE_LOCKS = (
    f"SELECT count(CASE WHEN k = {_STORE_LOCK} THEN pg_advisory_xact_lock_shared(k)"
    " ELSE pg_advisory_xact_lock(k) END)"
    " FROM (SELECT k FROM unnest(CAST(%s AS bigint[])) AS k ORDER BY k OFFSET 0) AS s"
)


def _cell_locks(grid_keys: GridKeys) -> list[int]:
    """The lock keys of `(grid, key)` cells, one a region (`lock_regions`), sorted; all above
    the store's and the log's."""
    if len(grid_keys) == 0:
        return []
    pairs = np.asarray(grid_keys, np.int64).reshape(-1, 2)
    regions = lock_regions(pairs[:, 1]).tolist()
    # Surface cells of areas and of flights are one key space (grids 1 and 2 meet there).
    return sorted(
        {
            ((key * 2 + min(grid, 1)) & _MASK) | 4
            for grid, key in zip(pairs[:, 0].tolist(), regions, strict=True)
        }
    )


class _Checkpoints:
    """SQLite: the write-ahead log copied into the database file by a thread of its own, every
    `CHECKPOINT_S`, instead of by the commit that fills it (which would then wait for it).
    Started by the first write.

    Each tick copies what it can without blocking anyone (passive, again while commits came
    during the pass before). Once the log holds `RESTART_AT_FRAMES` pages, the tick then takes
    the process's write lock, copies the few pages committed meanwhile and restarts the log
    from its start. Otherwise, under writes that follow one another, the log is never
    restarted (a writer restarts it only if it was wholly copied when the writer began) and it
    grows without bound, every commit extending the file. A restart waits at most
    `RESTART_WAIT_MS` for readers to leave the log; if one is still in it, it is tried again
    on the next tick.

    SQLite syncs the database file only after a checkpoint that copied the whole log, which
    under steady writes is the restart alone: the pages copied by every passive pass since
    the last restart (tens of MB) were written out then, under the lock (50 to 100 ms). So
    each tick syncs the file itself once its passes are done, without the lock (a sync with
    nothing to write costs next to nothing).

    The thread's nice value is raised by `CHECKPOINT_NICE` (Linux): its copies and syncs wait
    for a core the commits and requests leave free.
    """

    def __init__(self, engine: Engine, writer: threading.Lock, path: Path) -> None:
        self.engine = engine
        self.writer = writer
        self.path = path
        #: Pages in the log from which it is restarted.
        self.restart_at = RESTART_AT_FRAMES
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoints", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        _lower_priority(CHECKPOINT_NICE)
        while not self._stop.wait(CHECKPOINT_S):
            try:
                self.checkpoint()
            except Exception:  # a missed checkpoint is retried on the next tick
                continue

    def checkpoint(self) -> bool:
        """One tick; whether the log was restarted."""
        with self.engine.connect() as conn:
            # Passes without the lock until what is left to copy under it is small: each pass
            # copies what was committed during the one before.
            for _ in range(PASSIVE_PASSES):
                _busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
                if frames - copied <= LEFT_FRAMES:
                    break
            if copied > 0:
                # The pages the passes copied.
                began = time.perf_counter()
                _sync_file(self.path)
                timings.log_checkpoint(frames, copied, time.perf_counter() - began)
            if frames < self.restart_at:
                return False
            conn.exec_driver_sql(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
            try:
                asked = time.perf_counter()
                with self.writer:
                    locked = time.perf_counter()
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").scalar()
                timings.log_restart(locked - asked, time.perf_counter() - locked, busy == 0)
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            return busy == 0


def _sync_file(path: Path) -> None:
    """Write a file's pages out to disk (`fdatasync`)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _lower_priority(by: int) -> None:
    """Lower the calling thread's scheduling priority (Linux, where a thread has a nice value
    of its own; elsewhere the call would lower the whole process's, and nothing is done)."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + by)


def _sqlite_engine(url: str) -> Engine:
    # A file: as many connections as request threads (40 in the server's pool), so that readers
    # never queue for one while a writer works. (A memory database keeps SQLAlchemy's pool.)
    in_memory = make_url(url).database in (None, "", ":memory:")
    pool: dict[str, Any] = {} if in_memory else {"pool_size": 48, "max_overflow": 16}
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}, **pool
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun below, not by the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # A file's log is synced after each write's commit, outside the write lock
        # (`Database.writing`); SQLite still syncs it before each checkpoint.
        cursor.execute(f"PRAGMA synchronous={'FULL' if in_memory else 'NORMAL'}")
        if not in_memory:
            # Checkpoints run in a thread of their own (`_Checkpoints`), never in a commit.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            # A log that grew large once (a big import) is cut back when it is restarted.
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Statement journals and sorts in memory, not in files made and removed each write.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        # Straight to the driver: every read and write begins here.
        driver(conn).execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: str, settings: tuple[tuple[str, str], ...]) -> Engine:
    engine = create_engine(url, pool_size=8, max_overflow=8)
    # Rows inserted together go as one statement of many rows (as with RETURNING), not as the
    # driver's many statements: one round trip and far less work in the interpreter.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _session_settings(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            for name, value in settings:
                with contextlib.suppress(dialect.loaded_dbapi.Error):
                    dbapi_connection.execute(f"SET {name} = '{value}'")
        finally:
            dbapi_connection.autocommit = autocommit

    # A connection that was idle a while is pinged before use (the server may have restarted
    # since); one in steady use is not, which saves a round trip on every write under load. A
    # broken connection met in use fails its statement, and that invalidates the whole pool.
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError() from error
            raise

    return engine
