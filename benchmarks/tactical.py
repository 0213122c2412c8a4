"""Tactical benchmark: Détente's conflict detector against BlueSky's state-based one.

Random traffic as in the issue: aircraft placed uniformly in a square (1,000 km a side for 8,000
aircraft, the side growing with the square root of the count so the density stays the same),
centred on 50N 10E; flight levels uniform in FL200-FL400 (continuous), ground speeds uniform in
200-250 m/s, headings uniform, level flight. Minima 5 NM / 1,000 ft, look-ahead 300 s.

- Détente: building `TrackArrays` from the columns and `detente.tactical.cpa.encounters` (every
  pair, `same_party=True`, as BlueSky checks every pair), the median of `--repeat` runs, with
  one thread and with `--workers` threads.
- BlueSky (PyPI `bluesky-simulator`, initialised headless: `bluesky.init(mode="sim",
  detached=True)`): the aircraft are created with `traf.cre`, then their latitude, longitude,
  altitude, track, ground speed and vertical speed are overwritten with the same values, and
  the state-based detector's `detect` (the C extension `cstatebased` when it loads, which is
  checked and printed) is timed once.

The two pair sets are compared; every pair only one side finds is listed with its margins in
both earth models (see docs/tactical.md). `--large N` times Détente alone on N aircraft at the
same density (and reports the process's peak resident memory).

    python -m benchmarks.tactical --aircraft 8000 16000 --seed 1
    python -m benchmarks.tactical --large 100000 --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import strategic
from detente.geo import LocalFrame
from detente.tactical import cpa
from detente.tactical.arrays import TrackArrays

H_M = 5 * 1852.0
V_M = 1000 * 0.3048
LOOKAHEAD_S = 300.0
CENTRE = (10.0, 50.0)
BASE_SIDE_M = 1_000_000.0
BASE_COUNT = 8000
# BlueSky's flat-earth frame (tools/geo/src_cpp/geo.hpp): a sphere of this radius.
BLUESKY_RADIUS_M = 6371000.0


@dataclass
class Traffic:
    lon: np.ndarray
    lat: np.ndarray
    alt_m: np.ndarray
    track_deg: np.ndarray
    speed_mps: np.ndarray

    def __len__(self) -> int:
        return len(self.lon)

    def arrays(self) -> TrackArrays:
        course = np.radians(self.track_deg)
        n = len(self)
        return TrackArrays(
            np.arange(n) % 4,
            self.lon,
            self.lat,
            self.alt_m,
            self.speed_mps * np.sin(course),
            self.speed_mps * np.cos(course),
            np.zeros(n),
        )


def side_m(count: int) -> float:
    return BASE_SIDE_M * math.sqrt(count / BASE_COUNT)


def traffic(count: int, seed: int) -> Traffic:
    """`count` aircraft, uniform in a square (azimuthal equidistant around the centre)."""
    rng = np.random.default_rng(seed)
    half = side_m(count) / 2
    x = rng.uniform(-half, half, count)
    y = rng.uniform(-half, half, count)
    lon, lat = LocalFrame(*CENTRE).inverse(x, y)
    return Traffic(
        lon=lon,
        lat=lat,
        alt_m=rng.uniform(20_000, 40_000, count) * 0.3048,
        track_deg=rng.uniform(0, 360, count),
        speed_mps=rng.uniform(200, 250, count),
    )


def detente_cycle(t: Traffic, workers: int) -> cpa.Encounters:
    return cpa.encounters(
        t.arrays(),
        horizontal_m=H_M,
        vertical_m=V_M,
        lookahead_s=LOOKAHEAD_S,
        same_party=True,
        workers=workers,
    )


def time_detente(t: Traffic, workers: int, repeat: int) -> tuple[list[float], cpa.Encounters]:
    detente_cycle(t, workers)  # warm-up
    seconds = []
    found = cpa.Encounters.empty()
    for _ in range(repeat):
        start = time.perf_counter()
        found = detente_cycle(t, workers)
        seconds.append(time.perf_counter() - start)
    return seconds, found


class BlueSky:
    """BlueSky initialised headless, once per process."""

    def __init__(self) -> None:
        import bluesky as bs

        bs.init(mode="sim", detached=True)
        from bluesky.traffic.asas import statebased

        self.bs = bs
        compiled = hasattr(statebased, "CStateBased")
        chosen = statebased.CStateBased if compiled else statebased.StateBased
        chosen.select()
        self.implementation = chosen.__name__
        cd = bs.traf.cd
        if compiled:
            from bluesky.traffic.asas import cstatebased

            compiled = cd.detect is cstatebased.detect
        self.compiled = compiled
        self.version = _version("bluesky-simulator")

    def detect(self, t: Traffic) -> tuple[float, dict[tuple[int, int], float]]:
        """Seconds taken by `detect`, and each pair found with its time of loss (s)."""
        traf = self.bs.traf
        traf.reset()
        n = len(t)
        traf.cre(
            acid=[f"A{k}" for k in range(n)],
            actype="B744",
            aclat=t.lat,
            aclon=t.lon,
            achdg=t.track_deg,
            acalt=t.alt_m,
            acspd=t.speed_mps,
        )
        traf.lat[:] = t.lat
        traf.lon[:] = t.lon
        traf.alt[:] = t.alt_m
        traf.trk[:] = t.track_deg
        traf.gs[:] = t.speed_mps
        traf.vs[:] = 0.0
        cd = traf.cd
        cd.rpz[:] = H_M
        cd.hpz[:] = V_M
        cd.dtlookahead[:] = LOOKAHEAD_S
        start = time.perf_counter()
        result = cd.detect(traf, traf, cd.rpz, cd.hpz, cd.dtlookahead)
        seconds = time.perf_counter() - start
        pairs: dict[tuple[int, int], float] = {}
        for (a, b), t_in in zip(result[0], result[8], strict=True):
            i, j = int(a[1:]), int(b[1:])
            pairs[(min(i, j), max(i, j))] = max(float(t_in), 0.0)
        return seconds, pairs


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# Margins of a pair in both earth models -----------------------------------------------------


def _motion_detente(t: Traffic, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """Relative position and velocity of pairs in Détente's midpoint plane (3-D vectors)."""
    g = cpa._geometry(t.arrays())
    n = g.u[:, i] + g.u[:, j]
    n /= np.sqrt(cpa._dot(n, n))
    d = g.p[:, j] - g.p[:, i]
    d -= cpa._dot(d, n) * n
    w = cpa._transport(g.v[:, j], g.u[:, j], n) - cpa._transport(g.v[:, i], g.u[:, i], n)
    return d, w


def _motion_bluesky(t: Traffic, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same in BlueSky's frame: equirectangular on a sphere, each track's own north."""
    lat1, lon1 = np.radians(t.lat[i]), np.radians(t.lon[i])
    lat2, lon2 = np.radians(t.lat[j]), np.radians(t.lon[j])
    dlat, dlon = lat2 - lat1, lon2 - lon1
    cavelat = np.cos(0.5 * (lat1 + lat2))
    dist = BLUESKY_RADIUS_M * np.sqrt(dlat * dlat + dlon * dlon * cavelat * cavelat)
    q = np.arctan2(dlon * cavelat, dlat)
    d = np.stack([dist * np.sin(q), dist * np.cos(q), np.zeros_like(dist)])
    trk = np.radians(t.track_deg)
    u = t.speed_mps * np.sin(trk)
    v = t.speed_mps * np.cos(trk)
    w = np.stack([u[j] - u[i], v[j] - v[i], np.zeros_like(dist)])
    return d, w


def _margins(d: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Distance now, least distance within the look-ahead less H, and entry time."""
    a = cpa._dot(w, w)
    b = cpa._dot(d, w)
    c = cpa._dot(d, d)
    tcpa = -b / np.maximum(a, 1e-12)
    t = np.clip(tcpa, 0.0, LOOKAHEAD_S)
    hmin = np.sqrt(np.maximum(c + t * (2 * b + a * t), 0.0))
    dcpa2 = np.maximum(c - b * b / np.maximum(a, 1e-12), 0.0)
    t_in = tcpa - np.sqrt(np.maximum(H_M * H_M - dcpa2, 0.0) / np.maximum(a, 1e-12))
    return {
        "d0": np.sqrt(c),
        "h_margin": hmin - H_M,
        "t_in": np.where(dcpa2 < H_M**2, t_in, np.nan),
    }


def differences(
    t: Traffic, ours: set[tuple[int, int]], theirs: set[tuple[int, int]]
) -> list[dict[str, Any]]:
    rows = sorted(ours ^ theirs)
    if not rows:
        return []
    i = np.array([r[0] for r in rows])
    j = np.array([r[1] for r in rows])
    mine = _margins(*_motion_detente(t, i, j))
    blue = _margins(*_motion_bluesky(t, i, j))
    v_margin = np.abs(t.alt_m[j] - t.alt_m[i]) - V_M
    out = []
    for k, pair in enumerate(rows):
        edge = any(
            abs(x - LOOKAHEAD_S) < 10.0
            for x in (mine["t_in"][k], blue["t_in"][k])
            if not math.isnan(x)
        )
        out.append(
            {
                "pair": pair,
                "found_by": "Détente" if pair in ours else "BlueSky",
                "v_margin_m": float(v_margin[k]),
                "d0_detente_m": float(mine["d0"][k]),
                "d0_bluesky_m": float(blue["d0"][k]),
                "h_margin_detente_m": float(mine["h_margin"][k]),
                "h_margin_bluesky_m": float(blue["h_margin"][k]),
                "t_in_detente_s": float(mine["t_in"][k]),
                "t_in_bluesky_s": float(blue["t_in"][k]),
                "threshold": "look-ahead" if edge else "horizontal",
            }
        )
    return out


# Report ----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine (as the strategic benchmark reports it), numpy's version and the time."""
    return {
        **strategic.machine(),
        "numpy": np.__version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_large(count: int, seed: int, workers: int, repeat: int) -> None:
    t = traffic(count, seed)
    print(f"{count} aircraft in {side_m(count) / 1000:.0f} km x {side_m(count) / 1000:.0f} km")
    for w in sorted({1, workers}):
        seconds, found = time_detente(t, w, repeat)
        print(
            f"  workers={w}: median {statistics.median(seconds):.3f} s, "
            f"min {min(seconds):.3f} s, max {max(seconds):.3f} s over {repeat} cycles; "
            f"{len(found)} pairs"
        )
    full_cycle(t, workers, repeat)
    print(f"  peak resident memory of the process: {peak_rss_mb():.0f} MB")


def full_cycle(t: Traffic, workers: int, repeat: int) -> None:
    """The whole cycle the server runs each second (`TacticalPicture.cycle`): reports on the
    board, dead reckoning, detection, alert levels and hysteresis for every pair. The first
    cycle raises every alert at once; the others, one simulated second apart, are steady."""
    from detente.model import Agreement, TrackReport
    from detente.tactical.picture import TacticalPicture

    parties = ("blue", "red", "green", "amber")
    picture = TacticalPicture(Agreement(), workers=workers)
    for k in range(len(t)):
        picture.accept(
            TrackReport(
                parties[k % 4], f"t{k}", 0.0, float(t.lon[k]), float(t.lat[k]),
                float(t.alt_m[k]), float(t.track_deg[k]), float(t.speed_mps[k]),
            )
        )  # fmt: skip
    seconds = []
    for step in range(repeat + 1):
        start = time.perf_counter()
        cycle = picture.cycle(float(step))
        seconds.append(time.perf_counter() - start)
        if step == 0:
            print(
                f"  full cycle, first (raises {len(cycle.separation)} alerts): {seconds[0]:.3f} s"
            )
    steady = seconds[1:]
    print(
        f"  full cycle, steady (workers={workers}): median {statistics.median(steady):.3f} s, "
        f"max {max(steady):.3f} s over {len(steady)} cycles"
    )


def run_compare(counts: list[int], seed: int, workers: int, repeat: int) -> None:
    blue = BlueSky()
    kind = "C extension cstatebased" if blue.compiled else "pure-Python fallback"
    print(f"BlueSky {blue.version}, {blue.implementation} ({kind})")
    rows = []
    for count in counts:
        t = traffic(count, seed)
        one, found = time_detente(t, 1, repeat)
        many, _ = time_detente(t, workers, repeat)
        keys = zip(found.i.tolist(), found.j.tolist(), strict=True)
        t_los = dict(zip(keys, found.t_los.tolist(), strict=True))
        ours = set(t_los)
        blue_s, their_t_los = blue.detect(t)
        theirs = set(their_t_los)
        diff = differences(t, ours, theirs)
        gaps = [abs(t_los[p] - their_t_los[p]) for p in ours & theirs]
        # Level flight: a pair within the vertical minimum conflicts in a model exactly when its
        # least horizontal distance over [0, look-ahead] in that model is below H.
        explained = sum(
            r["v_margin_m"] < 0
            and (r["h_margin_detente_m"] < 0) == (r["found_by"] == "Détente")
            and (r["h_margin_bluesky_m"] < 0) == (r["found_by"] == "BlueSky")
            for r in diff
        )
        rows.append((count, one, many, blue_s, ours, theirs, diff))
        print(
            f"{count} aircraft: t_los of common pairs differs by median "
            f"{statistics.median(gaps):.3f} s, 95th percentile {np.percentile(gaps, 95):.2f} s, "
            f"max {max(gaps):.2f} s; {explained} of {len(diff)} differing pairs follow from "
            "each model's own margins (level flight, |dz| < V)"
        )
    print()
    print(
        f"{'aircraft':>8}  {'Détente 1 thr':>13}  {f'Détente {workers} thr':>13}  "
        f"{'BlueSky':>8}  {'ratio':>7}  {'pairs D':>8}  {'pairs B':>8}  {'common':>8}  "
        f"{'differ':>6}"
    )
    for count, one, many, blue_s, ours, theirs, diff in rows:
        best = min(statistics.median(one), statistics.median(many))
        print(
            f"{count:>8}  {statistics.median(one):>11.4f} s  {statistics.median(many):>11.4f} s  "
            f"{blue_s:>6.3f} s  {blue_s / best:>6.0f}x  {len(ours):>8}  {len(theirs):>8}  "
            f"{len(ours & theirs):>8}  {len(diff):>6}"
        )
    for count, *_, diff in rows:
        if not diff:
            continue
        print(f"\nDiffering pairs at {count} aircraft (margins: negative = lost; m, s):")
        print(
            f"{'pair':>13}  {'found by':>8}  {'|dz|-V':>7}  {'d0 D':>9}  {'d0 B':>9}  "
            f"{'hmin-H D':>8}  {'hmin-H B':>8}  {'t_in D':>6}  {'t_in B':>6}  threshold"
        )
        for r in diff:
            print(
                f"{r['pair']!s:>13}  {r['found_by']:>8}  {r['v_margin_m']:>7.1f}  "
                f"{r['d0_detente_m']:>9.1f}  {r['d0_bluesky_m']:>9.1f}  "
                f"{r['h_margin_detente_m']:>8.1f}  {r['h_margin_bluesky_m']:>8.1f}  "
                f"{r['t_in_detente_s']:>6.1f}  {r['t_in_bluesky_s']:>6.1f}  {r['threshold']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aircraft", type=int, nargs="*", default=[8000, 16000])
    parser.add_argument("--large", type=int, default=0, help="time Détente alone on N aircraft")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    info = machine()
    print(
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, numpy {info['numpy']}, "
        f"{info['date']}"
    )
    if args.large:
        run_large(args.large, args.seed, args.workers, args.repeat)
    else:
        run_compare(args.aircraft, args.seed, args.workers, args.repeat)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
