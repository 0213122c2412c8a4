"""The pages a group of plans writes to SQLite's log, by B-tree, under each layout of the store.

    python -m benchmarks.commit_pages --reuse /tmp/stores [--items 50000] [--seed 1]
        [--requests 600] [--size 5] [--layouts 0005,head]

It takes the SQLite store that `benchmarks.server_load --backend sqlite --reuse FOLDER` saved
(run that once first) and, for each layout (an Alembic revision), copies it, migrates the copy
to that revision and rebuilds it (`VACUUM`: every layout starts with full pages), then writes
the load's first revisions (the same kind of plans as `server_load --plans revise`) in groups of
`--size` through the server's own path (`Groups`: the pass, then the commit), with no
checkpoint. It then reads the log's frames and names the B-tree of each page (`dbstat`): the
pages a plan writes to the log, each later copied by a checkpoint and synced, and the CPU time
of the commits a plan. Revision 0005 files the cells as a table with a covering index, 0006
(head) as the B-tree of their key (`WITHOUT ROWID`).
"""

from __future__ import annotations

import argparse
import collections
import os
import sqlite3
import struct
import tempfile
import time
from pathlib import Path

from alembic import command
from alembic.config import Config

from benchmarks.pass_alone import NOW, requests_of, saved_store, store_arguments
from detente.server import db as store_db
from detente.server.db import MIGRATIONS
from detente.server.groups import _Pending
from detente.server.store import Store

# A log frame: a 24-byte header (its page number first), then the page.
_FRAME_HEADER = 24
_LOG_HEADER = 32


def log_pages(path: str, page_size: int) -> list[int]:
    """The page number of every frame in the write-ahead log of the database at `path`."""
    data = Path(path + "-wal").read_bytes()
    frame = _FRAME_HEADER + page_size
    return [
        struct.unpack(">I", data[offset : offset + 4])[0]
        for offset in range(_LOG_HEADER, len(data) - frame + 1, frame)
    ]


def layout(path: str, revision: str) -> None:
    """Migrate the store at `path` to `revision`, then rebuild it with full pages."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    store = Store(path)
    with store.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        if revision == "head" or revision > str(current):
            command.upgrade(config, revision)
        elif revision != current:
            command.downgrade(config, revision)
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def replay(path: str, args: argparse.Namespace) -> tuple[collections.Counter[str], float, int]:
    """Write the requests in groups on the store at `path`; the log's pages by B-tree, the
    commits' CPU seconds and the number of requests."""
    store = Store(path)
    store.warm(file_pieces=True)
    requests = requests_of(store, args.items, args.seed, args.seed + 20, args.requests)
    groups = store.writer.groups
    commit_cpu = 0.0
    for first in range(0, len(requests), args.size):
        group = [_Pending(p, c, list(i), NOW) for p, c, i in requests[first : first + args.size]]
        with store.db.reading() as conn:
            found = groups.prepare(conn, group)
        assert found is not None
        began = os.times()
        groups.commit(found, group)
        ended = os.times()
        commit_cpu += (ended.user - began.user) + (ended.system - began.system)
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    pages = collections.Counter(owner.get(page, "?") for page in log_pages(path, page_size))
    store.close()
    return pages, commit_cpu, len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    store_arguments(parser)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--size", type=int, default=5, help="requests a group")
    parser.add_argument("--layouts", default="0005,head", help="Alembic revisions, in turn")
    args = parser.parse_args()
    saved = saved_store(args)
    # The log keeps every frame written: no checkpoint thread copies and restarts it.
    store_db._Checkpoints.start = lambda self: None  # type: ignore[method-assign]
    for revision in args.layouts.split(","):
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "store.db")
            saved.restore(path)
            began = time.perf_counter()
            layout(path, revision)
            print(f"layout {revision}: made in {time.perf_counter() - began:.1f} s")
            pages, commit_cpu, count = replay(path, args)
            total = sum(pages.values())
            print(
                f"  groups of {args.size}: {total / count:.1f} pages a plan written to the log,"
                f" commits {1000 * commit_cpu / count:.2f} ms of CPU a plan"
            )
            for name, n in pages.most_common(6):
                print(f"    {n / count:6.2f} {name}")


if __name__ == "__main__":
    main()
