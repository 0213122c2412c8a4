"""Agreement with the oracle: the engine's answer on a benchmark scenario, judged pair by pair.

The scenario (`benchmarks.scenario`) is written to a temporary plan file, read back with
`load_plan_files` and checked with `detente.check` under the default agreement. Then every pair
the engine could have missed or got wrong is judged by the slow oracle of `tests/oracle.py`:

- candidates: every pair of items of different parties that a rule of the contract pairs, whose
  windows overlap and whose lon/lat bounding boxes, grown by a margin (0.5 degree, longitude
  scaled by the latitude; circles by their radius and a strike's reach), intersect. Found with a
  numpy sweep over start times; no pair of items farther apart can conflict;
- plus every pair the engine reported, candidate or not.

`--sample N` judges N random (seeded) candidates the engine did not report, and every reported
pair. A disagreement is a sure conflict (beyond the oracle's tolerance band) the engine missed, a
reported pair the oracle surely clears, a wrong kind or item order, or reported intervals that
miss sure-loss instants, cover sure-clear ones or are too few or too many; pairs within the band
are left out. The exit status is 1 on any disagreement.

    python -m benchmarks.oracle_check --flights 1000 --seed 1 --zones 20 --strikes 40
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import detente
from benchmarks import scenario
from detente.interop import load_plan_files
from detente.model import Agreement, Conflict, ConflictKind, Flight, Item, Kind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import oracle

EPS_S = 1e-6
SPLIT = "interval split within the band"  # noted, not a disagreement (see `_most`)
M_PER_DEG = 110_574.0  # metres per degree of latitude, least (at the equator)
CODE = {Kind.FLIGHT: 0, Kind.AIRSPACE: 1, Kind.GROUND: 2, Kind.STRIKE: 3, Kind.ZONE: 4}
PAIRED = np.zeros((5, 5), bool)  # which kinds a rule of the contract pairs
for _x, _y in ((0, 0), (0, 1), (0, 3), (0, 4), (1, 1), (1, 3), (1, 4), (2, 3)):
    PAIRED[_x, _y] = PAIRED[_y, _x] = True

_items: list[Item] = []
_agreement = Agreement()


def boxes(items: Sequence[Item], margin_deg: float, buffer_s: float) -> np.ndarray:
    """Per item: lon0, lat0, lon1, lat1 (grown by the margin), t0, t1 and its kind's code."""
    out = np.empty((len(items), 7))
    for k, item in enumerate(items):
        if isinstance(item, Flight):
            lon, lat, grow = np.asarray(item.lon), np.asarray(item.lat), 0.0
            t0, t1 = item.start, item.end
        else:
            lon, lat = (np.asarray(c) for c in zip(*item.shape.vertices(), strict=True))
            grow = item.shape.radius_m + item.reach_m
            t0, t1 = item.start - buffer_s, item.end + buffer_s
        dlat = margin_deg + grow / M_PER_DEG
        lat0, lat1 = lat.min() - dlat, lat.max() + dlat
        top = max(abs(lat0), abs(lat1))
        lon0, lon1 = lon.min(), lon.max()
        if top >= 89.0 or lon1 - lon0 > 180.0:  # near a pole or across the antimeridian
            lon0, lon1 = -540.0, 540.0
        dlon = dlat / math.cos(math.radians(top))
        out[k] = (lon0 - dlon, lat0, lon1 + dlon, lat1, t0, t1, CODE[item.kind])
    return out


def candidates(items: Sequence[Item], box: np.ndarray, chunk: int = 4_000_000) -> np.ndarray:
    """Index pairs (i < j) of paired kinds and different parties whose grown boxes meet."""
    party = np.unique([item.party for item in items], return_inverse=True)[1]
    order = np.argsort(box[:, 4], kind="stable")
    b, p = box[order], party[order]
    n = len(items)
    upto = np.searchsorted(b[:, 4], b[:, 5], side="right")  # j < upto[i]: starts before i ends
    count = np.maximum(upto - np.arange(n) - 1, 0)
    found: list[np.ndarray] = []
    first = 0
    while first < n:
        last = int(np.searchsorted(np.cumsum(count[first:]), chunk)) + first + 1
        rows = np.arange(first, min(last, n))
        i = np.repeat(rows, count[rows])
        step = np.arange(len(i)) - np.repeat(np.cumsum(count[rows]) - count[rows], count[rows])
        j = i + 1 + step
        bi, bj = b[i], b[j]
        keep = (
            (p[i] != p[j])
            & PAIRED[bi[:, 6].astype(int), bj[:, 6].astype(int)]
            & (bi[:, 0] <= bj[:, 2])
            & (bj[:, 0] <= bi[:, 2])
            & (bi[:, 1] <= bj[:, 3])
            & (bj[:, 1] <= bi[:, 3])
        )
        found.append(np.sort(np.stack([order[i[keep]], order[j[keep]]], axis=1), axis=1))
        first = min(last, n)
    return np.concatenate(found) if found else np.empty((0, 2), np.int64)


def _inside(times: np.ndarray, found: Sequence[Conflict], shrink: float = 0.0) -> np.ndarray:
    hit = np.zeros(len(times), bool)
    for c in found:
        if c.end - c.start > 2 * shrink:
            hit |= (times >= c.start - EPS_S + shrink) & (times <= c.end + EPS_S - shrink)
    return hit


def _most(scores: np.ndarray) -> int:
    """Most loss intervals a correct engine may report: runs of sure-loss or of in-band instants.

    `Verdict.interval_bounds` counts runs of instants that are not sure-clear, so it refuses a
    split where the pair comes back within the band of the minimum for a moment (say 0.01 m
    beyond it for a second) and then loses separation again, which the exact answer is.
    """
    cls = np.where(scores < -1.0, -1, np.where(scores > 1.0, 1, 0))
    return int(np.count_nonzero((cls != 1) & np.concatenate(([True], cls[1:] != cls[:-1]))))


def judge(task: tuple[int, int, tuple[Conflict, ...]]) -> tuple[str, list[tuple[str, str]]]:
    """The oracle's verdict on one pair ('conflict', 'clear', 'band') and the disagreements."""
    i, j, found = task
    x, y = _items[i], _items[j]
    v = oracle.judge(x, y, _agreement)
    name = f"{x.party}/{x.id} x {y.party}/{y.id}"
    if v is None:
        return "none", [("no rule", name)] if found else []
    status = "conflict" if v.sure_conflict else "clear" if v.sure_clear else "band"
    problems: list[tuple[str, str]] = []
    for c in found:
        if c.kind is not v.kind:
            problems.append(("kind/order", f"{name}: {c.kind.value}, oracle {v.kind.value}"))
        elif c.kind is not ConflictKind.AIR and (c.a, c.b) != (v.a, v.b):
            problems.append(("kind/order", f"{name}: {c.kind.value} {c.a} first, oracle {v.a}"))
    where = f"{name} (score {v.score:.2f}, worst at {v.worst_time})"
    if v.sure_conflict and not found:
        problems.append(("missed", where))
    if v.sure_clear and found:
        problems.append(("false alarm", where))
    if found and not v.sure_clear and len(v.times):
        sure = v.sure_loss_times()
        if (~_inside(sure, found)).any():
            problems.append(("interval", f"{where}: sure losses outside the intervals"))
        if _inside(v.sure_clear_times(), found, EPS_S).any():
            problems.append(("interval", f"{where}: intervals cover sure-clear instants"))
        if isinstance(x, Flight) and isinstance(y, Flight):
            (least, most), split, n = v.interval_bounds(), _most(v.scores), len(found)
            if not least <= n <= split:
                problems.append(("interval", f"{where}: {n} intervals, not {least}-{split}"))
            elif n > most:
                problems.append((SPLIT, f"{where}: {n} intervals, {least}-{most} strictly"))
    return status, problems


def _start(items: list[Item], agreement: Agreement) -> None:
    global _items, _agreement
    _items, _agreement = items, agreement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.oracle_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--flights", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    for kind in ("airspaces", "zones", "strikes", "grounds"):
        parser.add_argument(f"--{kind}", type=int, default=0, help=f"{kind} to add")
    parser.add_argument("--sample", type=int, help="judge this many unreported candidates")
    parser.add_argument("--margin-deg", type=float, default=0.5)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    clock = time.perf_counter()
    made = scenario.generate(
        args.flights, args.seed, airspaces=args.airspaces, zones=args.zones,
        strikes=args.strikes, grounds=args.grounds,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plans.geojson"
        scenario.write(made, plan)
        items = load_plan_files([plan])
    agreement = Agreement()
    start = time.perf_counter()
    conflicts = detente.check(items, agreement)
    engine_s = time.perf_counter() - start

    index = {item.ref: k for k, item in enumerate(items)}
    reported: dict[tuple[int, int], list[Conflict]] = {}
    for c in conflicts:
        key = tuple(sorted((index[c.a], index[c.b])))
        reported.setdefault((key[0], key[1]), []).append(c)
    box = boxes(items, args.margin_deg, agreement.time_buffer_s)
    pairs = {(int(i), int(j)) for i, j in candidates(items, box)}
    outside = len(reported.keys() - pairs)
    others = sorted(pairs - reported.keys())
    rng = np.random.default_rng(args.seed)
    if args.sample is not None and args.sample < len(others):
        others = [others[k] for k in sorted(rng.choice(len(others), args.sample, replace=False))]
    tasks = [(i, j, tuple(reported.get((i, j), ()))) for i, j in [*reported, *others]]
    rng.shuffle(tasks)
    print(
        f"{len(items)} items, {len(conflicts)} conflicts on {len(reported)} pairs "
        f"(engine {engine_s:.2f} s); {len(pairs)} candidate pairs, {outside} reported pairs "
        f"not among them; judging {len(tasks)} pairs",
        file=sys.stderr,
    )
    judging = time.perf_counter()
    status: Counter[str] = Counter()
    problems: list[tuple[str, str]] = []
    agree = disagree = 0
    context = mp.get_context("fork")
    with context.Pool(args.processes, _start, (items, agreement)) as pool:
        for done, (what, found) in enumerate(pool.imap_unordered(judge, tasks, 16), 1):
            status[what] += 1
            problems += found
            wrong = any(kind != SPLIT for kind, _ in found)
            agree += what in ("conflict", "clear") and not wrong
            disagree += wrong
            if done % max(len(tasks) // 10, 1) == 0:
                print(f"  {done}/{len(tasks)} judged, {time.perf_counter() - judging:.0f} s",
                      file=sys.stderr)  # fmt: skip
    kinds = Counter(kind for kind, _ in problems)
    print(f"flights {args.flights}, seed {args.seed}, items {len(items)}")
    print(f"engine conflicts {len(conflicts)} on {len(reported)} pairs, in {engine_s:.2f} s")
    print(f"candidate pairs {len(pairs)}; reported pairs outside them {outside}")
    print(f"judged {len(tasks)} pairs in {time.perf_counter() - judging:.0f} s")
    print(
        f"oracle: sure conflict {status['conflict']}, sure clear {status['clear']}, "
        f"in band {status['band']}, no rule {status['none']}"
    )
    print(f"pairs in disagreement: {disagree}")
    for kind in ("missed", "false alarm", "kind/order", "interval", "no rule"):
        print(f"  {kind}: {kinds[kind]}")
    print(f"agreements (outside the band): {agree}")
    print(f"noted, not a disagreement: {SPLIT}: {kinds[SPLIT]}")
    print(f"total wall time {time.perf_counter() - clock:.0f} s")
    for kind, text in problems[:20]:
        print(f"    {kind}: {text}")
    return 1 if disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())
