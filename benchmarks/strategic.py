"""Strategic benchmark: `detente check` against PostGIS on the same seeded theatre scenarios.

For each size, a scenario (see `benchmarks.scenario`) is written to a temporary plan file, then:

- Détente: `detente check --format json --output OUT FILE` runs as a subprocess; the wall time
  covers everything from process start to exit (reading, checking, writing), and the peak
  resident memory is the child's own (`os.wait4`).
- PostGIS: `benchmarks.postgis.run` on the same file, end to end (reading, loading, projecting,
  indexing, the self-join), skipped above `--postgis-max` flights because the n-D GiST join
  slows down faster than linearly.

Then it prints a table and how the two agree on the pairs of flights in conflict. PostGIS
checks the vertical minimum only at the instant of least horizontal distance, so the pairs it
finds should be a subset of Détente's; the pairs only Détente finds are split by why.

    python -m benchmarks.strategic --flights 1000 10000 100000 --seed 1 --json results.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks import postgis, scenario

VERTICAL_M = 304.8
# Détente rounds reported distances to 0.1 m: a conflict whose closest instant is at 304.8 m
# broke the vertical minimum during a climb or descent and is back at it where the aircraft are
# horizontally closest, the one instant PostGIS checks.
AT_MINIMUM_M = VERTICAL_M - 0.05


@dataclass
class DetenteRun:
    """One `detente check` run: wall time, the child's peak memory and what it found."""

    seconds: float
    peak_mb: float
    engine_seconds: float | None
    conflicts: list[dict[str, Any]]
    exit_code: int


def detente_command() -> list[str]:
    """The `detente` entry point next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).with_name("detente")
    if local.exists():
        return [str(local)]
    found = shutil.which("detente")
    if found is None:
        raise SystemExit("detente is not installed: pip install -e . in the project first")
    return [found]


def run_detente(plan: Path, output: Path) -> DetenteRun:
    """Run `detente check` on a plan file and measure it."""
    cmd = [*detente_command(), "check", "--format", "json", "--output", str(output), str(plan)]
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if code not in (0, 1):
        raise SystemExit(f"detente check failed with exit status {code}:\n{stderr}")
    result = orjson.loads(output.read_bytes())
    return DetenteRun(
        seconds=seconds,
        peak_mb=usage.ru_maxrss / 1024.0,
        engine_seconds=result.get("stats", {}).get("seconds"),
        conflicts=result["conflicts"],
        exit_code=code,
    )


def flight_pairs(
    conflicts: list[dict[str, Any]], flights: set[tuple[str, str]]
) -> dict[postgis.Pair, list[dict[str, Any]]]:
    """Air conflicts between two flights, grouped by unordered pair of (party, id)."""
    pairs: dict[postgis.Pair, list[dict[str, Any]]] = {}
    for c in conflicts:
        a, b = (c["a"]["party"], c["a"]["id"]), (c["b"]["party"], c["b"]["id"])
        if c["kind"] == "air" and a in flights and b in flights:
            pairs.setdefault(postgis.pair(a, b), []).append(c)
    return pairs


def agreement(
    detente: dict[postgis.Pair, list[dict[str, Any]]], pg: postgis.PostgisResult
) -> dict[str, Any]:
    """How the pairs found by Détente and by PostGIS compare, with the reason for each gap."""
    d_pairs = set(detente)
    d_only = d_pairs - pg.pairs
    at_minimum = {
        p for p in d_only if all(c["closest"]["vertical_m"] >= AT_MINIMUM_M for c in detente[p])
    }
    rest = d_only - at_minimum
    return {
        "both": len(d_pairs & pg.pairs),
        "detente_only": len(d_only),
        "detente_only_level_change": len(at_minimum),
        "detente_only_vertical_away_from_cpa": len(rest & pg.candidates_2d),
        "detente_only_not_2d_candidate": len(rest - pg.candidates_2d),
        "postgis_only": len(pg.pairs - d_pairs),
        "examples": {
            "detente_only_not_2d_candidate": [list(p) for p in sorted(rest - pg.candidates_2d)[:5]],
            "postgis_only": [list(p) for p in sorted(pg.pairs - d_pairs)[:5]],
        },
    }


def machine() -> dict[str, Any]:
    """The machine the benchmark ran on."""
    model = platform.processor() or "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.strategic", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--flights", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgis-max", type=int, default=10000, help="skip PostGIS above this many flights"
    )
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--keep", type=Path, help="keep the plan files and outputs in this folder")
    parser.add_argument("--dsn", default=postgis.DSN, help="PostgreSQL server (trust auth)")
    parser.add_argument(
        "--densify-m",
        type=float,
        default=0.0,
        help="PostGIS: cut legs into pieces of at most this length along great circles first",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each side this many times, keep the fastest"
    )
    args = parser.parse_args(argv)

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="detente-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in args.flights:
            plan = folder / f"scenario-{n}-seed{args.seed}.geojson"
            t = time.perf_counter()
            scen = scenario.generate(n, args.seed)
            scenario.write(scen, plan)
            gen_s = time.perf_counter() - t
            flights = {
                (f["properties"]["party"], f["id"])
                for f in scen.collection["features"]
                if f["properties"]["kind"] == "flight"
            }
            positions = scen.positions
            del scen
            print(f"{n} flights: scenario written in {gen_s:.1f} s ({plan})", file=sys.stderr)

            det = min(
                (run_detente(plan, folder / f"detente-{n}.json") for _ in range(args.repeat)),
                key=lambda run: run.seconds,
            )
            pairs = flight_pairs(det.conflicts, flights)
            print(
                f"  detente: {det.seconds:.2f} s, {len(det.conflicts)} conflicts", file=sys.stderr
            )
            row: dict[str, Any] = {
                "flights": n,
                "positions": positions,
                "plan_mb": plan.stat().st_size / 1e6,
                "detente": {
                    "seconds": det.seconds,
                    "engine_seconds": det.engine_seconds,
                    "peak_mb": det.peak_mb,
                    "conflicts": len(det.conflicts),
                    "pairs": len(pairs),
                },
                "postgis": None,
                "agreement": None,
            }
            if n <= args.postgis_max:
                pg = min(
                    (
                        postgis.run(plan, dsn=args.dsn, densify_m=args.densify_m, log=True)
                        for _ in range(args.repeat)
                    ),
                    key=lambda run: run.seconds,
                )
                row["postgis"] = pg.as_json()
                row["agreement"] = agreement(pairs, pg)
            else:
                print(
                    f"  postgis: skipped (above --postgis-max {args.postgis_max})", file=sys.stderr
                )
            results.append(row)

    print()
    print(
        f"{'flights':>8} {'Détente s':>10} {'engine s':>9} {'peak MB':>8} {'conflicts':>9}"
        f" {'pairs':>6}"
        f" {'PostGIS s':>10} {'PG pairs':>8} {'ratio':>7}"
    )
    for row in results:
        d, pg = row["detente"], row["postgis"]
        ratio = pg["seconds"] / d["seconds"] if pg else None
        pg_s = _fmt(pg["seconds"], ".2f") if pg else "skipped"
        print(
            f"{row['flights']:>8} {d['seconds']:>10.2f} {_fmt(d['engine_seconds'], '.2f'):>9}"
            f" {d['peak_mb']:>8.0f} {d['conflicts']:>9} {d['pairs']:>6} {pg_s:>10}"
            f" {_fmt(pg and pg['pairs'], 'd'):>8}"
            f" {_fmt(ratio, '.1f') + 'x' if ratio else '-':>7}"
        )
    skipped = [row["flights"] for row in results if row["postgis"] is None]
    if skipped:
        print(f"PostGIS skipped for {skipped} flights (above --postgis-max {args.postgis_max}).")
    print()
    for row in results:
        a = row["agreement"]
        if a is None:
            continue
        print(
            f"{row['flights']} flights: pairs in both {a['both']}, only Détente {a['detente_only']}"
            f" ({a['detente_only_level_change']} lost in a level change, at the minimum at CPA,"
            f" {a['detente_only_vertical_away_from_cpa']} losing vertical separation away from"
            f" the closest horizontal approach, {a['detente_only_not_2d_candidate']} near the"
            f" horizontal minimum), only PostGIS {a['postgis_only']}"
        )

    if args.json:
        report = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": shlex.join(["python", "-m", "benchmarks.strategic", *sys.argv[1:]]),
            "seed": args.seed,
            "repeat": args.repeat,
            "machine": machine(),
            "results": results,
        }
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
