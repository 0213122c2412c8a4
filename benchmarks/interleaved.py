"""The CPU a write's pass or commit costs under two versions of Détente, measured side by side.

    python -m benchmarks.interleaved --reuse /tmp/stores --a TREE_A --b TREE_B
        [--backend sqlite|postgresql] [--stage pass|commit] [--size 5] [--batch 50]
        [--batches 10]

On a shared virtual machine the speed of a core drifts by tens of per cent within minutes, and a
load's latencies with it: runs of two versions one after the other compare the machine more than
the code. Here each version (`TREE_A`, `TREE_B`: source trees, such as a `git worktree` of a
commit) runs in a process of its own on a copy of the store that `benchmarks.server_load --reuse
FOLDER` saved (run that once first). The two take turns, batch by batch (each batch: the next
`--batch` revisions of the load's plans, in groups of `--size`), so that both meet the machine
as it is, and each batch's CPU time is compared with the other's of the same turn.

- `--stage pass`: what the pass process does for a group (`passes._prepare`: the read, the
  engine, what it keeps) and the pickling of its answer; the pass process's CPU a request.
- `--stage commit`: the group's commit (`Groups.commit`: the catch-up, the writes, the sync),
  its pass made in the process before the group before it commits, as in the server (so that
  each commit catches up with the group before); the committing thread's CPU a request.

It prints the median CPU a request of each and the median ratio B/A with its range. The first
batch warms both and is not counted. `detente` is imported from each tree; the plans and this
module from the tree it is run from.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.pass_alone import NOW, requests_of, saved_store, store_arguments
from benchmarks.server_load import PG_ADMIN, fresh_store

#: Revisions made for each version (the batches take them in turn).
REQUESTS = 2400


def serve(args: argparse.Namespace) -> None:
    """One version's side: make the batches asked on stdin, answer each one's CPU seconds."""
    from multiprocessing.reduction import ForkingPickler

    from detente.server import passes
    from detente.server.groups import _Pending
    from detente.server.store import Store

    saved = saved_store(args, args.backend, args.pg_admin)
    with fresh_store(args.backend, args.pg_admin, saved) as (url, _keys):
        store = Store(url)
        store.warm(file_pieces=True)
        passes._groups = store.writer.groups
        gc.collect()
        gc.freeze()
        requests = requests_of(store, args.items, args.seed, args.seed + 10 + args.size, REQUESTS)
        print("ready", flush=True)

        def timed_commit(found: Any, pending: list[Any]) -> float:
            began = time.thread_time()
            store.writer.groups.commit(found, pending)
            return time.thread_time() - began

        made: tuple[Any, list[Any]] | None = None
        for line in sys.stdin:
            first, count = map(int, line.split())
            batch = requests[first : first + count]
            used = 0.0
            for start in range(0, len(batch), args.size):
                chunk = batch[start : start + args.size]
                if args.stage == "pass":
                    # As the server sends a group to the pass process (`PassProcess.prepare`).
                    group = [
                        (
                            party,
                            [c.item_id for c in changes],
                            [c.if_match for c in changes],
                            list(items),
                            NOW,
                            first + start + k,
                        )
                        for k, (party, changes, items) in enumerate(chunk)
                    ]
                    began = time.process_time()
                    ForkingPickler.dumps(passes._prepare(group, []))
                    used += time.process_time() - began
                else:
                    pending = [_Pending(p, c, list(i), NOW) for p, c, i in chunk]
                    with store.db.reading() as conn:
                        found = store.writer.groups.read(conn, pending, last=True)
                    assert found is not None
                    store.writer.groups.detect(found)
                    # As in the server, the pass before the commit of the group before it:
                    # the commit catches up with that group's writes.
                    if made is not None:
                        used += timed_commit(*made)
                    made = (found, pending)
            if made is not None:
                used += timed_commit(*made)
                made = None
            print(orjson.dumps([used, len(batch)]).decode(), flush=True)
        store.close()


def compare(args: argparse.Namespace) -> None:
    here = Path(__file__).resolve().parent.parent
    sides = []
    for tree in (args.a, args.b):
        env = {**os.environ, "PYTHONPATH": f"{Path(tree).resolve() / 'src'}{os.pathsep}{here}"}
        command = [sys.executable, "-m", "benchmarks.interleaved", "--serve", *sys.argv[1:]]
        side = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=here
        )
        assert side.stdout is not None and side.stdout.readline().strip() == "ready"
        sides.append(side)
    per_request: list[list[float]] = [[], []]
    if (args.batches + 1) * args.batch > REQUESTS:
        raise SystemExit(f"at most {REQUESTS} revisions: fewer or smaller batches")
    for turn in range(args.batches + 1):
        # Each goes first every other turn.
        for k in (0, 1) if turn % 2 == 0 else (1, 0):
            side: Any = sides[k]
            side.stdin.write(f"{turn * args.batch} {args.batch}\n")
            side.stdin.flush()
            used, count = orjson.loads(side.stdout.readline())
            if turn > 0:
                per_request[k].append(1000 * used / count)
    for side in sides:
        side.stdin.close()
        side.wait()
    ratios = [b / a for a, b in zip(*per_request, strict=True)]
    a, b = (statistics.median(side) for side in per_request)
    print(
        f"{args.backend}, {args.stage}, groups of {args.size}: A {a:.3f} ms, B {b:.3f} ms"
        " of CPU a request (medians of"
        f" {args.batches} batches of {args.batch}); B/A {statistics.median(ratios):.3f}"
        f" (from {min(ratios):.3f} to {max(ratios):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    store_arguments(parser)
    parser.add_argument("--a", required=True, help="source tree of version A")
    parser.add_argument("--b", required=True, help="source tree of version B")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL server (trust auth)")
    parser.add_argument("--stage", choices=["pass", "commit"], default="pass")
    parser.add_argument("--size", type=int, default=5, help="requests a group")
    parser.add_argument("--batch", type=int, default=50, help="requests a batch")
    parser.add_argument("--batches", type=int, default=10, help="batches counted")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
