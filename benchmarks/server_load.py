"""Server benchmark: plan submissions per second, their latency, and how fast notices arrive.

On a fresh store (a SQLite file in a temporary folder, or a new PostgreSQL database that is
dropped at the end), with four parties made by `detente party add`:

1. `detente serve` starts as a subprocess (uvicorn, plus its pass process) with its exercise
   clock at the start of the scenario's day, so every flight of the day is active;
2. **preload**: the flights of a seeded theatre scenario (`benchmarks.scenario`, `--items`
   flights, four parties) are sent with `POST /v1/plans`, 1,000 a request;
3. **load**: plans of new flights from a second scenario of the same size (seed + 1: the same
   theatre and density) are submitted with `POST /v1/plans` at a fixed rate, open loop: request
   k is due at `k / rate` and its latency runs from then to the end of its answer, so a server
   that falls behind shows it as queueing. With `--plans new` (the default) each flight is a
   new item that stays active all day, so a long phase holds many more than the preload; with
   `--plans revise` each flight replaces one of the party's stored flights (its id, and the
   version it replaces), so the store holds as many active flights as the preload for as long
   as the load runs. Latency is also given 30 s window by window, with the flights active by
   then, and second by second (the slowest request due in each second). The requests go out
   over keep-alive connections from a small HTTP/1.1 client on asyncio streams (cheaper than a
   general-purpose client: the load generator shares the cores with the server);
4. **notices**: party `blue` holds an event stream (SSE) open; `red` files a copy of one of
   blue's stored flights (a sure clash), and the time from sending it to blue receiving the
   `conflict.raised` event about that flight is measured, one probe at a time;
5. **engine alone**: the same submissions, parsed and added one plan at a time to an in-memory
   `PlanIndex` that holds the preloaded flights (no server, no store): the floor under the
   server's latency.

    python -m benchmarks.server_load --backend sqlite --items 50000 --seed 1 \\
        --load 1x300 --load 10x30 --duration 60 --notices 200 --json server-sqlite.json

With `--reuse DIR` the preloaded store is kept in DIR (a SQLite file, or a PostgreSQL database
used as a template) and later runs of the same backend, size and seed start from a copy of it,
on disk before the server starts (a store at rest); the server is restarted after a preload
either way. The server's CPU time counts its child processes. The server runs with
`--timings`, and each load's record holds its own step times (`server_steps`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from benchmarks import scenario, strategic
from benchmarks.strategic import detente_command
from detente.server.timings import TimedLine
from detente.server.timings import parse as parse_timings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432"
DAY_START_ISO = "2015-10-01T00:00:00Z"
PRELOAD_CHUNK = 1000
NOTICE_PARTY, PROBE_PARTY = "blue", "red"
_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def plain(value: Any) -> Any:
    """A scenario document as plain JSON values (numpy arrays and datetimes made lists and text)."""
    return orjson.loads(orjson.dumps(value, option=_OPTS))


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max (milliseconds) of latencies in seconds."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    ms = np.asarray(values) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(ms.max())}


def worst_seconds(seconds: list[dict[str, float]], count: int = 3) -> list[dict[str, float]]:
    """The `count` seconds of the run (its `timeline` by the second) whose slowest request was
    slowest: whether a tail is one episode or spread over the run."""
    seconds = sorted(seconds, key=lambda w: -w["max_ms"])[:count]
    return [
        {"second": int(w["from_s"]), "p99_ms": w["p99_ms"], "max_ms": w["max_ms"]} for w in seconds
    ]


def server_steps(lines: list[TimedLine], wall_from: float, wall_to: float) -> dict[str, Any]:
    """The server's own timing lines (`detente serve --timings`) of the measured part: its
    groups of writes (size, and each step's mean and p99, ms), SQLite's checkpoint ticks and
    log restarts."""
    within = [line for line in lines if wall_from <= line.at <= wall_to]
    groups = [line.values for line in within if line.kind == "group"]
    steps: dict[str, Any] = {"groups": len(groups)}
    if groups:
        requests = sum(g["requests"] for g in groups)
        steps["requests_per_group"] = requests / len(groups)
        for step in ("pass", "turn", "commit", "flush"):
            values = [g[f"{step}_ms"] for g in groups]
            steps[f"{step}_ms"] = {
                "mean": float(np.mean(values)),
                "p99": float(np.percentile(values, 99)),
                "per_request": sum(values) / requests,
            }
    syncs = [line.values["sync_ms"] for line in within if line.kind == "checkpoint"]
    if syncs:
        steps["checkpoint_syncs"] = {
            "count": len(syncs),
            "mean_ms": float(np.mean(syncs)),
            "max_ms": max(syncs),
            "over_100_ms": sum(ms > 100 for ms in syncs),
        }
    holds = [line.values["hold_ms"] for line in within if line.kind == "restart"]
    if holds:
        steps["log_restarts"] = {"count": len(holds), "max_hold_ms": max(holds)}
    return steps


def describe_steps(steps: dict[str, Any]) -> str:
    """`server_steps` in one line."""
    if not steps.get("groups"):
        return "server steps: no group of writes logged"
    text = (
        f"server steps: {steps['groups']} groups of {steps['requests_per_group']:.1f};"
        + ",".join(
            f" {step} {steps[f'{step}_ms']['mean']:.1f} (p99 {steps[f'{step}_ms']['p99']:.0f}) ms"
            for step in ("pass", "turn", "commit", "flush")
        )
    )
    if "checkpoint_syncs" in steps:
        syncs = steps["checkpoint_syncs"]
        text += (
            f"; checkpoint syncs {syncs['count']}, mean {syncs['mean_ms']:.0f} ms,"
            f" max {syncs['max_ms']:.0f} ms"
        )
    if "log_restarts" in steps:
        restarts = steps["log_restarts"]
        text += f"; log restarts {restarts['count']}, longest hold {restarts['max_hold_ms']:.0f} ms"
    return text


def timeline(
    due_s: list[float], latencies: list[float], window_s: float = 30.0
) -> list[dict[str, float]]:
    """Latency window by window of the run (by when requests were due): whether the server
    keeps up as the flights it holds grow."""
    if not latencies:
        return []
    window = (np.asarray(due_s) // window_s).astype(np.int64)
    ms = np.asarray(latencies) * 1000.0
    out = []
    for w in np.unique(window).tolist():
        of_window = ms[window == w]
        p50, p99 = np.percentile(of_window, [50, 99])
        out.append(
            {
                "from_s": w * window_s,
                "requests": len(of_window),
                "p50_ms": float(p50),
                "p99_ms": float(p99),
                "max_ms": float(of_window.max()),
            }
        )
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its child processes (Linux)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the store and the server ------------------------------------------------------------------


@dataclass
class SavedStore:
    """A preloaded store kept in `folder` for later runs of the same backend, size and seed:
    a SQLite file, or a PostgreSQL database used as the template of the next ones."""

    folder: Path
    backend: str
    items: int
    seed: int
    pg_admin: str

    @property
    def name(self) -> str:
        # The folder's own: a PostgreSQL template is shared by the server, while the keys
        # that open it are kept in the folder.
        folder = hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()[:8]
        return f"detente_saved_{self.backend}_{self.items}_{self.seed}_{folder}"

    @property
    def keys_file(self) -> Path:
        return self.folder / f"{self.name}.keys.json"

    def keys(self) -> dict[str, str]:
        """The parties' keys of the saved store; none when it is not there (its keys file
        kept, say, after its PostgreSQL template was dropped)."""
        if not self.keys_file.exists() or not self._store_exists():
            return {}
        keys: dict[str, str] = orjson.loads(self.keys_file.read_bytes())
        return keys

    def _store_exists(self) -> bool:
        if self.backend == "sqlite":
            return (self.folder / f"{self.name}.db").exists()
        import psycopg

        with psycopg.connect(f"{self.pg_admin}/postgres", autocommit=True) as admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,))
            return found.fetchone() is not None

    def restore(self, target: str) -> None:
        if self.backend == "sqlite":
            shutil.copyfile(self.folder / f"{self.name}.db", target)
            # On disk before the server starts, as a store at rest: the copy's dirty pages
            # were otherwise written back during the load, in the commits' syncs.
            fd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def save(self, db: str, keys: dict[str, str]) -> None:
        """Keep `db` (its server stopped) and its parties' keys."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.backend == "sqlite":
            copy = self.folder / f"{self.name}.db"
            with closing(sqlite3.connect(db)) as source, closing(sqlite3.connect(copy)) as to:
                source.backup(to)
        else:
            import psycopg

            with psycopg.connect(f"{self.pg_admin}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
                admin.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{db.rsplit("/", 1)[1]}"')
        self.keys_file.write_bytes(orjson.dumps(keys))


@contextmanager
def fresh_store(
    backend: str, pg_admin: str, saved: SavedStore | None = None
) -> Iterator[tuple[str, dict[str, str]]]:
    """The URL of a store, removed afterwards, and its parties' keys: a copy of `saved` when it
    holds one (keys given), else an empty store (no keys)."""
    keys = saved.keys() if saved is not None else {}
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="detente-load-") as tmp:
            path = str(Path(tmp) / "detente.db")
            if keys and saved is not None:
                saved.restore(path)
            yield path, keys
        return
    import psycopg

    name = f"detente_load_{uuid.uuid4().hex[:8]}"
    template = f' TEMPLATE "{saved.name}"' if keys and saved is not None else ""
    with psycopg.connect(f"{pg_admin}/postgres", autocommit=True) as admin:
        if template and admin.info.server_version >= 150000:
            # The files copied and synced (with checkpoints), as a store at rest: by default
            # PostgreSQL 15 copies a database through its WAL, whose pages the server then
            # writes out in the checkpoints during the load.
            template += " STRATEGY FILE_COPY"
        admin.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield f"{pg_admin}/{name}", keys
    finally:
        with psycopg.connect(f"{pg_admin}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_party(db: str, name: str) -> str:
    """Create a party with the CLI; its key (the last line printed)."""
    out = subprocess.run(
        [*detente_command(), "party", "add", name, "--db", db],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: str, port: int, log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`detente serve` on `db`, its clock at the scenario's day start; stopped afterwards."""
    cmd = [
        *detente_command(),
        "serve",
        "--db",
        db,
        "--port",
        str(port),
        "--clock-start",
        DAY_START_ISO,
        "--timings",
    ]
    with open(log or os.devnull, "wb") as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
        yield from _started(proc, port)


def _started(proc: subprocess.Popen[bytes], port: int) -> Iterator[subprocess.Popen[bytes]]:
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"detente serve exited ({proc.returncode}); see --server-log")
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("detente serve did not start within 60 s") from None
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- a small HTTP/1.1 client ---------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: requests with a body, answers with Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, path: str, key: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while size := int((await self.reader.readline()).strip(), 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return status, b"".join(parts)

    def close(self) -> None:
        self.writer.close()


# -- the phases --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    plan_size: int
    target_rate: float
    duration_s: float
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    #: When each measured request was due, seconds from the start of the measured part.
    due_s: list[float] = field(default_factory=list)
    achieved_rate: float = 0.0
    conflicts: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    #: The measured part's start and end, wall clock (the server's timing lines are matched).
    wall_from: float = 0.0
    wall_to: float = 0.0

    def record(self) -> dict[str, Any]:
        seconds = timeline(self.due_s, self.latencies, 1.0)
        return {
            "plan_size": self.plan_size,
            "target_rate": self.target_rate,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "achieved_rate": self.achieved_rate,
            "items_per_s": self.achieved_rate * self.plan_size,
            "latency_ms": percentiles(self.latencies),
            "worst_seconds": worst_seconds(seconds),
            "timeline": timeline(self.due_s, self.latencies),
            # Second by second (when due): [second, requests, max ms].
            "by_second": [
                [int(w["from_s"]), int(w["requests"]), round(w["max_ms"], 1)] for w in seconds
            ],
            "conflicts": self.conflicts,
            "server_cpu_ms_per_request": 1000 * self.server_cpu_s / max(self.ok, 1),
            "client_cpu_ms_per_request": 1000 * self.client_cpu_s / max(self.ok, 1),
        }


def analyze(db: str) -> None:
    """PostgreSQL: vacuum a store and refresh the planner's statistics (what autovacuum does in
    time on a live store).

    Without statistics, on a table filled since its creation, the planner takes the cell index
    for the grid column alone and reads every cell of a grid for each candidate lookup; until
    a vacuum marks its pages all-visible, a scan of the cell index reads the table too.
    """
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def preload(port: int, keys: dict[str, str], features: list[dict[str, Any]], db: str) -> float:
    """Send the stored flights in plans of `PRELOAD_CHUNK`; returns the seconds taken."""
    by_party: dict[str, list[dict[str, Any]]] = {}
    for f in features:
        by_party.setdefault(f["properties"]["party"], []).append(f)
    start = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        for party, fs in by_party.items():
            for first in range(0, len(fs), PRELOAD_CHUNK):
                plan = {"type": "FeatureCollection", "features": fs[first : first + PRELOAD_CHUNK]}
                r = client.post(
                    "/v1/plans",
                    content=orjson.dumps(plan),
                    headers={
                        "Authorization": f"Bearer {keys[party]}",
                        "Content-Type": "application/json",
                    },
                )
                if r.status_code != 200:
                    raise SystemExit(f"preload failed: {r.status_code} {r.text[:500]}")
                analyze(db)
    return time.perf_counter() - start


def submission_plans(
    items: int, seed: int, size: int, count: int, prefix: str
) -> list[tuple[str, dict[str, Any]]]:
    """`count` plans of `size` new flights each, of one party each: (party, plan)."""
    plans: list[tuple[str, dict[str, Any]]] = []
    pending: dict[str, list[dict[str, Any]]] = {}
    extra = 0
    n = 0
    while len(plans) < count:
        extra += 1
        for f in plain(scenario.generate(items, seed + extra).collection)["features"]:
            party = f["properties"]["party"]
            f["id"] = f"{prefix}-{n:07d}"
            n += 1
            group = pending.setdefault(party, [])
            group.append(f)
            if len(group) == size:
                plans.append((party, {"type": "FeatureCollection", "features": group}))
                pending[party] = []
                if len(plans) == count:
                    break
    return plans


def as_revisions(
    phases: list[list[tuple[str, dict[str, Any]]]],
    stored: list[dict[str, Any]],
    seed: int,
    spare: int = 0,
) -> tuple[list[list[tuple[str, dict[str, Any]]]], set[str]]:
    """The same plans, each flight made a revision of a stored flight of its party.

    The stored flights of each party are taken in a seeded order, over and over, but for the
    last `spare` of each (never revised: the notice probes copy them, however long the load);
    each feature names the version it replaces (1, then 2 the next time round, ...). Returns
    the plans and the ids revised.
    """
    rng = np.random.default_rng(seed)
    ids: dict[str, list[str]] = {}
    for f in stored:
        ids.setdefault(f["properties"]["party"], []).append(f["id"])
    order = {party: [own[int(k)] for k in rng.permutation(len(own))] for party, own in ids.items()}
    taken = dict.fromkeys(order, 0)
    versions: dict[str, int] = {}
    revised: list[list[tuple[str, dict[str, Any]]]] = []
    for plans in phases:
        revised.append([])
        for party, plan in plans:
            features = []
            for f in plan["features"]:
                target = order[party][taken[party] % (len(order[party]) - spare)]
                taken[party] += 1
                version = versions.get(target, 1)
                versions[target] = version + 1
                features.append({**f, "id": target, "version": version})
            revised[-1].append((party, {**plan, "features": features}))
    return revised, set(versions)


async def run_load(
    port: int,
    keys: dict[str, str],
    plans: list[tuple[str, dict[str, Any]]],
    rate: float,
    warmup: int,
    connections: int,
    server_pid: int,
) -> LoadResult:
    """Submit `plans` at `rate` per second (open loop); the first `warmup` are not counted."""
    size = len(plans[0][1]["features"])
    bodies = [(keys[party], orjson.dumps(plan)) for party, plan in plans]
    result = LoadResult(size, rate, (len(plans) - warmup) / rate)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    done_at: list[float] = []

    async def one(k: int, due: float) -> None:
        conn = await pool.get()
        key, body = bodies[k]
        try:
            status, answer = await conn.post("/v1/plans", key, body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            pool.put_nowait(await Connection.open(port))
            if k >= warmup:
                name = type(exc).__name__
                result.errors[name] = result.errors.get(name, 0) + 1
            return
        pool.put_nowait(conn)
        end = time.perf_counter()
        if k < warmup:
            return
        result.latencies.append(end - due)
        result.due_s.append(due - measured_from)
        done_at.append(end)
        if status == 200:
            result.ok += 1
            result.conflicts += answer.count(b'"status":"open"')
        else:
            result.errors[str(status)] = result.errors.get(str(status), 0) + 1

    # Only the requests under way are held: gathering every task of the run at its end took
    # the client's loop for hundreds of ms, and the last answers were read that much late.
    under_way: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    cpu0 = (cpu_seconds(server_pid), own_cpu_seconds())
    measured_from = start + warmup / rate
    result.wall_from = time.time() + warmup / rate
    for k in range(len(plans)):
        if k == warmup:
            cpu0 = (cpu_seconds(server_pid), own_cpu_seconds())
        due = start + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(k, due))
        under_way.add(task)
        task.add_done_callback(under_way.discard)
    await asyncio.gather(*under_way)
    result.wall_to = time.time()
    result.server_cpu_s = cpu_seconds(server_pid) - cpu0[0]
    result.client_cpu_s = own_cpu_seconds() - cpu0[1]
    result.sent = len(plans) - warmup
    if done_at:
        result.achieved_rate = result.ok / (max(done_at) - measured_from)
    while not pool.empty():
        pool.get_nowait().close()
    return result


async def run_notices(
    port: int,
    keys: dict[str, str],
    targets: list[dict[str, Any]],
    gap_s: float,
) -> tuple[list[float], list[float], int]:
    """Probe notice latency: (notice latencies, submission latencies, notices missed)."""
    base = f"http://127.0.0.1:{port}"
    watcher = httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {keys[NOTICE_PARTY]}"}, timeout=None
    )
    sender = httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {keys[PROBE_PARTY]}"}, timeout=30
    )
    last = (await watcher.get("/v1/events", params={"after": 0, "limit": 1})).json()
    # Skip the backlog: read to the end of the feed.
    after = last["last"]
    while True:
        page = (await watcher.get("/v1/events", params={"after": after, "limit": 5000})).json()
        if page["last"] == after:
            break
        after = page["last"]
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Event] = {}
    ready = asyncio.Event()

    async def listen() -> None:
        headers = {"Last-Event-ID": str(after)}
        async with watcher.stream("GET", "/v1/events", headers=headers) as stream:
            ready.set()
            kind = None
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind == "conflict.raised":
                    now = time.perf_counter()
                    own = orjson.loads(line[5:])["conflict"]["own"]["id"]
                    if own in waiting and own not in arrived:
                        arrived[own] = now
                        waiting[own].set()

    listener = asyncio.create_task(listen())
    await ready.wait()
    notice_ms: list[float] = []
    submit_ms: list[float] = []
    missed = 0
    try:
        for k, target in enumerate(targets):
            probe = {
                **target,
                "id": f"probe-{k:05d}",
                "properties": {**target["properties"], "party": PROBE_PARTY},
            }
            waiting[target["id"]] = event = asyncio.Event()
            body = orjson.dumps({"type": "FeatureCollection", "features": [probe]})
            sent = time.perf_counter()
            r = await sender.post(
                "/v1/plans", content=body, headers={"Content-Type": "application/json"}
            )
            submit_ms.append(time.perf_counter() - sent)
            if r.status_code != 200:
                raise SystemExit(f"probe failed: {r.status_code} {r.text[:300]}")
            try:
                await asyncio.wait_for(event.wait(), 10.0)
                notice_ms.append(arrived[target["id"]] - sent)
            except TimeoutError:
                missed += 1
            await asyncio.sleep(gap_s)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await watcher.aclose()
        await sender.aclose()
    return notice_ms, submit_ms, missed


def engine_alone(
    stored: list[dict[str, Any]], plans: list[tuple[str, dict[str, Any]]], whole: int
) -> dict[str, Any]:
    """The same submissions through the engine, without server or store, one plan at a time
    (parsing included):

    - `candidates`: as the server does it, a fresh `PlanIndex` of the plan's candidates (the
      stored items of other parties filed under its cells, from an in-memory cell map) and the
      plan's items, then the plan's items are filed in the map;
    - `whole`: one `PlanIndex` that holds every item, the plan added to it (first `whole` plans).
    """
    from detente.detect import PlanIndex
    from detente.detect.cells import item_cells, query_keys
    from detente.interop.plans import parse_plan
    from detente.model import Agreement

    agreement = Agreement()
    items = parse_plan({"type": "FeatureCollection", "features": stored}, "stored")
    filed: dict[tuple[int, int], list[int]] = {}

    def file(new: list[Any], first: int) -> None:
        rows = item_cells(new, agreement)
        for k, grid, key in zip(
            rows.item.tolist(), rows.grid.tolist(), rows.key.tolist(), strict=True
        ):
            filed.setdefault((grid, key), []).append(first + k)

    file(items, 0)
    out: dict[str, Any] = {"plans": len(plans)}
    latencies: list[float] = []
    conflicts = 0
    start = time.perf_counter()
    for _, plan in plans:
        t = time.perf_counter()
        new = parse_plan(plan, "plan")
        queries = query_keys(item_cells(new, agreement), new)
        lo = min(i.start for i in new) - 2 * agreement.time_buffer_s
        hi = max(i.end for i in new) + 2 * agreement.time_buffer_s
        found = {
            j
            for grid, key in zip(queries.grid.tolist(), queries.key.tolist(), strict=True)
            for j in filed.get((grid, key), ())
        }
        party = new[0].party
        candidates = [
            items[j]
            for j in sorted(found)
            if items[j].party != party and items[j].end > lo and items[j].start < hi
        ]
        index = PlanIndex(agreement, workers=1)
        index.add(candidates, check=False)
        conflicts += len(index.add(new))
        file(new, len(items))
        items += new
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    out["candidates"] = {
        "rate": len(plans) / total,
        "latency_ms": percentiles(latencies),
        "conflicts": conflicts,
    }
    if whole:
        index = PlanIndex(agreement)
        index.add(parse_plan({"type": "FeatureCollection", "features": stored}, "stored"))
        latencies = []
        start = time.perf_counter()
        for _, plan in plans[:whole]:
            t = time.perf_counter()
            index.add(parse_plan(plan, "plan"))
            latencies.append(time.perf_counter() - t)
        total = time.perf_counter() - start
        out["whole"] = {
            "plans": min(whole, len(plans)),
            "rate": min(whole, len(plans)) / total,
            "latency_ms": percentiles(latencies),
        }
    return out


# -- reporting ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine (as the strategic benchmark reports it) and the day."""
    return {**strategic.machine(), "date": dt.date.today().isoformat()}


#: PostgreSQL's settings that the load's figures depend on most (`docs/server.md`).
PG_SETTINGS = ("server_version", "shared_buffers", "autovacuum", "max_wal_size")


def postgresql_settings(pg_admin: str) -> dict[str, str]:
    """The server's `PG_SETTINGS`, as it shows them."""
    import psycopg

    with psycopg.connect(f"{pg_admin}/postgres") as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in PG_SETTINGS}


def parse_load(text: str) -> tuple[int, float]:
    match = re.fullmatch(r"(\d+)x(\d+(?:\.\d+)?)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SIZExRATE, e.g. 1x300")
    return int(match[1]), float(match[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.server_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--items", type=int, default=50_000, help="flights preloaded")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--load",
        type=parse_load,
        action="append",
        help="a load phase: flights per plan x plans per second (repeatable; default 1x300)",
    )
    parser.add_argument(
        "--plans",
        choices=["new", "revise"],
        default="new",
        help="each flight submitted is a new item, or replaces a stored flight of its party",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of each phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not counted")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--notices", type=int, default=200, help="notice probes")
    parser.add_argument("--notice-gap", type=float, default=0.05, help="seconds between probes")
    parser.add_argument(
        "--engine-plans", type=int, default=3000, help="plans for the engine-alone run (0: none)"
    )
    parser.add_argument(
        "--engine-whole",
        type=int,
        default=200,
        help="plans added to one index of every item (it copies its arrays on each add)",
    )
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL server (trust auth)")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--server-log", type=Path, help="write the server's stderr here")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="keep the preloaded store in this folder and start later runs from a copy of it",
    )
    args = parser.parse_args(argv)
    loads = args.load or [(1, 300.0)]

    t = time.perf_counter()
    stored = plain(scenario.generate(args.items, args.seed).collection)["features"]
    phases = []
    for n, (size, rate) in enumerate(loads):
        count = round((args.duration + args.warmup) * rate)
        phases.append(submission_plans(args.items, args.seed + 10 * n, size, count, f"load{n}"))
    submitted, revised = (
        as_revisions(phases, stored, args.seed, spare=args.notices)
        if args.plans == "revise"
        else (phases, set())
    )
    print(f"scenarios made in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    results: dict[str, Any] = {
        "backend": args.backend,
        "items": args.items,
        "seed": args.seed,
        "plans": args.plans,
        "machine": machine(),
        "command": " ".join(["python -m benchmarks.server_load", *(argv or sys.argv[1:])]),
    }
    if args.backend == "postgresql":
        results["postgresql"] = postgresql_settings(args.pg_admin)
        print(
            "postgresql: "
            + ", ".join(f"{name} {value}" for name, value in results["postgresql"].items()),
            file=sys.stderr,
        )
    saved = (
        SavedStore(args.reuse, args.backend, args.items, args.seed, args.pg_admin)
        if args.reuse
        else None
    )
    with (
        fresh_store(args.backend, args.pg_admin, saved) as (db, keys),
        tempfile.TemporaryDirectory(prefix="detente-bench-") as scratch,
    ):
        # The load's server logs its timings here, read after each phase.
        server_log = args.server_log or Path(scratch) / "server.log"
        port = free_port()
        if not keys:
            keys = {party: add_party(db, party) for party in scenario.PARTIES}
            with serving(db, port, args.server_log):
                seconds = preload(port, keys, stored, db)
            results["preload"] = {"seconds": seconds, "items_per_s": args.items / seconds}
            print(f"preloaded {args.items} flights in {seconds:.1f} s", file=sys.stderr)
            if saved is not None:
                saved.save(db, keys)
        with serving(db, port, server_log) as server:
            results["loads"] = []
            # New flights stay active all day: the store grows. Revisions keep it at its size.
            active = args.items
            for (size, rate), plans in zip(loads, submitted, strict=True):
                warmup = round(args.warmup * rate)
                load = asyncio.run(
                    run_load(port, keys, plans, rate, warmup, args.connections, server.pid)
                )
                record = load.record()
                record["server_steps"] = server_steps(
                    parse_timings(server_log.read_text(errors="replace").splitlines()),
                    load.wall_from,
                    load.wall_to,
                )
                added = 0 if revised else size
                first = active + warmup * added
                for window in record["timeline"]:
                    window["active_flights"] = first + round(window["from_s"] * rate) * added
                active += len(plans) * added
                results["loads"].append(record)
                lat = record["latency_ms"]
                print(
                    f"load {size} flight(s) x {rate:g}/s: {record['achieved_rate']:.0f}/s ok,"
                    f" p50 {lat['p50']:.1f} p95 {lat['p95']:.1f} p99 {lat['p99']:.1f}"
                    f" max {lat['max']:.1f} ms, errors {record['errors']},"
                    f" server CPU {record['server_cpu_ms_per_request']:.2f} ms/request;"
                    " slowest seconds "
                    + ", ".join(
                        f"{w['second']} s (max {w['max_ms']:.0f} ms)"
                        for w in record["worst_seconds"]
                    )
                    + "; p99 by 30 s: "
                    + ", ".join(
                        f"{w['p99_ms']:.0f} ms ({w['active_flights']:,} active)"
                        for w in record["timeline"]
                    ),
                    file=sys.stderr,
                )
                print(describe_steps(record["server_steps"]), file=sys.stderr)
            if args.notices:
                # A probe copies a stored flight of blue as preloaded: one not revised since.
                own = [
                    f
                    for f in stored
                    if f["properties"]["party"] == NOTICE_PARTY and f["id"] not in revised
                ]
                rng = np.random.default_rng(args.seed)
                targets = [own[int(k)] for k in rng.choice(len(own), args.notices, replace=False)]
                notice, submit, missed = asyncio.run(
                    run_notices(port, keys, targets, args.notice_gap)
                )
                results["notices"] = {
                    "probes": args.notices,
                    "missed": missed,
                    "notice_ms": percentiles(notice),
                    "submit_ms": percentiles(submit),
                }
                n_ms = results["notices"]["notice_ms"]
                print(
                    f"notices: p50 {n_ms['p50']:.1f} p99 {n_ms['p99']:.1f} ms, missed {missed}",
                    file=sys.stderr,
                )
    if args.engine_plans:
        results["engine_alone"] = []
        for (size, _), plans in zip(loads, phases, strict=True):
            alone = engine_alone(stored, plans[: args.engine_plans], args.engine_whole)
            alone["plan_size"] = size
            results["engine_alone"].append(alone)
            for how in ("candidates", "whole"):
                if how in alone:
                    lat = alone[how]["latency_ms"]
                    print(
                        f"engine alone ({how}), {size} flight(s) a plan:"
                        f" {alone[how]['rate']:.0f}/s,"
                        f" p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} ms",
                        file=sys.stderr,
                    )
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
