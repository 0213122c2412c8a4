"""The engine's pass of a group of writes alone, by group size: what it costs a group and a
request.

    python -m benchmarks.pass_alone --reuse /tmp/stores [--backend sqlite|postgresql]
        [--items 50000] [--seed 1] [--requests 600] [--sizes 1,3,8]

It takes the store that `benchmarks.server_load --backend BACKEND --reuse FOLDER` saved (run that
once first: a SQLite file, or a PostgreSQL template), copies it, warms a `Store` as the pass
process does (`Store.warm(file_pieces=True)`) and makes the passes of the load's first revisions
(the same kind of plans as `server_load --plans revise`), in groups of each size: `Groups.read`,
then `Groups.detect`, nothing written. The first half of the requests warms the caches, the second
is timed. From the per-request times t_n and t_m of two sizes n < m, a request's own share is about
v = (m t_m - n t_n) / (m - n) and a group's F = n (t_n - v): see `docs/benchmarks.md`.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from benchmarks import scenario
from benchmarks.server_load import (
    PG_ADMIN,
    SavedStore,
    as_revisions,
    fresh_store,
    plain,
    submission_plans,
)
from detente.interop import parse_plan
from detente.model import Item
from detente.server.groups import _Pending
from detente.server.parties import Party
from detente.server.plans import Change
from detente.server.store import Store

#: The scenario's day start (2015-10-01T00:00:00Z), the clock of the passes.
NOW = 1443657600.0


def requests_of(
    store: Store, items: int, seed: int, plan_seed: int, count: int
) -> list[tuple[Party, list[Change], list[Item]]]:
    """`count` revisions of flights stored from the scenario of `seed`, made from the flights
    of `plan_seed`'s (the load's: seed + 10), parsed: (party, changes, items) each."""
    parties = {p.name: p for p in store.parties()}
    stored = plain(scenario.generate(items, seed).collection)["features"]
    plans = submission_plans(items, plan_seed, 1, count, "load0")
    (revised,), _ = as_revisions([plans], stored, seed)
    out = []
    for party, plan in revised:
        changes = [Change(f["id"], f, f["version"]) for f in plan["features"]]
        out.append((parties[party], changes, parse_plan(plan)))
    return out


def passes(
    store: Store, requests: list[tuple[Party, list[Change], list[Item]]], size: int
) -> tuple[float, float, float]:
    """Read and engine ms a request, candidates a request, over `requests` in groups."""
    groups = store.writer.groups
    read_s = detect_s = 0.0
    candidates = 0
    for first in range(0, len(requests), size):
        group = [_Pending(p, c, list(i), NOW) for p, c, i in requests[first : first + size]]
        began = time.perf_counter()
        with store.db.reading() as conn:
            found = groups.read(conn, group, last=True)
        read = time.perf_counter()
        assert found is not None
        groups.detect(found)
        read_s += read - began
        detect_s += time.perf_counter() - read
        candidates += len(found.stored)
    n = len(requests)
    return 1000 * read_s / n, 1000 * detect_s / n, candidates / n


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name `server_load`'s saved store."""
    parser.add_argument("--reuse", type=Path, required=True, help="server_load's --reuse folder")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)


def saved_store(
    args: argparse.Namespace, backend: str = "sqlite", pg_admin: str = ""
) -> SavedStore:
    """`server_load`'s saved store of `backend` (on the PostgreSQL server `pg_admin`) named by
    `store_arguments`; exits if there is none."""
    saved = SavedStore(args.reuse, backend, args.items, args.seed, pg_admin)
    if not saved.keys():
        raise SystemExit(
            f"no saved {backend} store in {args.reuse}: run benchmarks.server_load --backend"
            f" {backend} --items {args.items} --seed {args.seed} --reuse {args.reuse} first"
        )
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    store_arguments(parser)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL server (trust auth)")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--sizes", default="1,3,8")
    args = parser.parse_args()
    saved = saved_store(args, args.backend, args.pg_admin)
    with fresh_store(args.backend, args.pg_admin, saved) as (url, _keys):
        store = Store(url, generic_plans=True)
        began = time.perf_counter()
        warmed = store.warm(file_pieces=True)
        print(f"{warmed} items warmed in {time.perf_counter() - began:.1f} s")
        gc.collect()
        gc.freeze()
        for size in [int(s) for s in args.sizes.split(",")]:
            # New requests for each size: their flights are split as in a live pass.
            requests = requests_of(
                store, args.items, args.seed, args.seed + 10 + size, args.requests
            )
            half = len(requests) // 2
            passes(store, requests[:half], size)
            read_ms, detect_ms, candidates = passes(store, requests[half:], size)
            print(
                f"groups of {size}: read {read_ms:.3f} + engine {detect_ms:.3f}"
                f" = {read_ms + detect_ms:.3f} ms a request; {candidates:.1f} candidates"
            )
        store.close()


if __name__ == "__main__":
    main()
