"""Seeded generator of theatre-like plan files for the strategic benchmark.

A scenario is one day of air operations by four parties that share one sky, written as a plan
file (a GeoJSON FeatureCollection of `flight` features, optionally with a few airspace blocks,
zones, strikes and ground positions).

Every sortie leaves one of its party's air bases, climbs, cruises on a flight level to a target
area, flies a racetrack orbit there (a few straight legs), changes to a return flight level,
cruises back, descends and lands. Cruise and orbit altitudes are flight levels, every 1000 ft
from FL150 to FL400, so that vertical separation matters: two aircraft on adjacent levels are
exactly at the vertical minimum. Cruise ground speeds are 200-260 m/s; the times of the positions
follow from the geodesic length of each leg and its speed.

Density. The theatre is a square of side `800 km * sqrt(flights / 1000)` (800 km for 1k
flights, 2,530 km for 10k, 8,000 km for 100k) centred on 30N 38E, with bases and target areas
spread uniformly across it and sorties of bounded length (targets 200-600 km from their base),
so the number of aircraft airborne per km^2 is about the same at every size: 0.9-1.0 aircraft
per 10,000 km^2 on average over the day (one per ~100 km x 100 km square; sorties last about
1.3 h, so some 55 aircraft are airborne at once for 1k flights, 5,500 for 100k).

Deterministic for a seed (numpy's Generator). Usage:

    python -m benchmarks.scenario --flights 10000 --seed 1 --out plans.geojson
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pyproj import Geod, Transformer

__all__ = ["DAY_START", "PARTIES", "Scenario", "generate", "side_m", "write"]

PARTIES = ("blue", "red", "green", "amber")
AIRCRAFT = {
    "blue": ("F-16C", "F-15E", "KC-135R", "E-3G"),
    "red": ("Su-34", "Su-30SM", "Su-24M", "A-50U"),
    "green": ("F-16D", "KC-30A", "E-7A", "Typhoon"),
    "amber": ("Rafale", "Mirage 2000", "A330 MRTT", "Tornado"),
}
CENTRE_LON, CENTRE_LAT = 38.0, 30.0
DAY_START = 1443657600.0  # 2015-10-01T00:00:00Z
DAY_S = 86400.0
FT_M = 0.3048
FLIGHT_LEVELS = np.arange(150, 401, 10)  # FL150 ... FL400, every 1000 ft
SIDE_1K_M = 800e3
BASES_PER_1K = 8
AREAS_PER_1K = 12
TARGET_RANGE_M = (200e3, 600e3)
MAX_ORBIT_LEGS = 8
_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def side_m(flights: int) -> float:
    """Side of the square theatre for `flights` sorties a day (constant airborne density).

    >>> round(side_m(10_000) / 1000)
    2530
    """
    return SIDE_1K_M * math.sqrt(max(flights, 1) / 1000.0)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A generated plan file and facts about it."""

    collection: dict[str, Any]
    flights: int
    positions: int
    side_m: float
    airborne_per_10k_km2: float


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local azimuthal equidistant metres around the theatre centre -> WGS84 degrees."""
    proj = f"+proj=aeqd +lat_0={CENTRE_LAT} +lon_0={CENTRE_LON} +datum=WGS84 +units=m +no_defs"
    transformer = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def _alt_m(levels: np.ndarray) -> np.ndarray:
    """Flight levels (hundreds of feet) to metres, rounded to the centimetre."""
    return np.round(levels * 100.0 * FT_M, 2)


def _pick_targets(
    rng: np.random.Generator, base_xy: np.ndarray, area_xy: np.ndarray, base_of: np.ndarray
) -> np.ndarray:
    """For each sortie, a target area 200-600 km from its base (the nearest ones if none is)."""
    dist = np.hypot(
        base_xy[:, None, 0] - area_xy[None, :, 0], base_xy[:, None, 1] - area_xy[None, :, 1]
    )
    target = np.empty(base_of.size, dtype=np.int64)
    order = np.argsort(base_of, kind="stable")
    counts = np.bincount(base_of, minlength=len(base_xy))
    start = 0
    for b, count in enumerate(counts):
        if count == 0:
            continue
        eligible = np.flatnonzero((dist[b] >= TARGET_RANGE_M[0]) & (dist[b] <= TARGET_RANGE_M[1]))
        if eligible.size == 0:
            eligible = np.argsort(np.abs(dist[b] - TARGET_RANGE_M[0]))[:3]
        target[order[start : start + count]] = rng.choice(eligible, size=count)
        start += count
    return target


def _along(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The point `dist` metres from (x0, y0) towards (x1, y1), at most 70% of the way."""
    total = np.hypot(x1 - x0, y1 - y0)
    frac = np.minimum(dist / np.maximum(total, 1.0), 0.7)
    return x0 + frac * (x1 - x0), y0 + frac * (y1 - y0)


def _flights(
    rng: np.random.Generator, n: int, side: float
) -> tuple[list[dict[str, Any]], int, float]:
    """The flight features, their number of positions and the mean airborne count."""
    n_bases = max(2 * len(PARTIES), round(BASES_PER_1K * n / 1000))
    n_areas = max(4, round(AREAS_PER_1K * n / 1000))
    base_xy = rng.uniform(-0.45 * side, 0.45 * side, size=(n_bases, 2))
    base_party = np.arange(n_bases) % len(PARTIES)
    base_elev = np.round(rng.uniform(0.0, 800.0, size=n_bases), 1)
    area_xy = rng.uniform(-0.5 * side, 0.5 * side, size=(n_areas, 2))

    base_of = rng.integers(0, n_bases, size=n)
    target = _pick_targets(rng, base_xy, area_xy, base_of)
    bx, by = base_xy[base_of, 0], base_xy[base_of, 1]
    elev = base_elev[base_of]

    # Racetrack orbit around the target area: corners visited in order, `legs` straight legs.
    cx = area_xy[target, 0] + rng.normal(0.0, 15e3, n)
    cy = area_xy[target, 1] + rng.normal(0.0, 15e3, n)
    heading = rng.uniform(0.0, math.pi, n)
    half_len = rng.uniform(20e3, 45e3, n)
    half_wid = rng.uniform(6e3, 12.5e3, n)
    legs = rng.integers(3, MAX_ORBIT_LEGS + 1, n)
    corner_u = np.array([-1.0, 1.0, 1.0, -1.0])
    corner_v = np.array([-1.0, -1.0, 1.0, 1.0])
    cos_h, sin_h = np.cos(heading), np.sin(heading)

    orbit_alt = _alt_m(rng.choice(FLIGHT_LEVELS, n))
    return_alt = _alt_m(rng.choice(FLIGHT_LEVELS, n))
    cruise = rng.uniform(200.0, 260.0, n)
    climb_rate = rng.uniform(12.0, 20.0, n)
    descent_rate = rng.uniform(8.0, 15.0, n)
    depart = DAY_START + rng.uniform(0.0, DAY_S, n)
    callsign_no = rng.integers(1, 1000, n)
    aircraft_no = rng.integers(0, 4, n)

    # Positions on a padded grid: base, top of climb, corners 0..legs, level change,
    # top of descent, base; points past a flight's own count are dropped below.
    width = MAX_ORBIT_LEGS + 6
    k = np.arange(width)[None, :]
    legs_c = legs[:, None]
    corner = np.clip(k - 2, 0, None) % 4
    ox = cx[:, None] + half_len[:, None] * corner_u[corner] * cos_h[:, None]
    ox = ox - half_wid[:, None] * corner_v[corner] * sin_h[:, None]
    oy = cy[:, None] + half_len[:, None] * corner_u[corner] * sin_h[:, None]
    oy = oy + half_wid[:, None] * corner_v[corner] * cos_h[:, None]
    last = legs + 2
    lx_last, ly_last = ox[np.arange(n), last], oy[np.arange(n), last]

    climb_speed = 0.75 * cruise
    toc_x, toc_y = _along(bx, by, ox[:, 2], oy[:, 2], (orbit_alt - elev) / climb_rate * climb_speed)
    lc_x, lc_y = _along(lx_last, ly_last, bx, by, np.full(n, 60e3))
    tod_x, tod_y = _along(bx, by, lc_x, lc_y, (return_alt - elev) / descent_rate * climb_speed)

    x, y = ox.copy(), oy.copy()
    alt = np.broadcast_to(orbit_alt[:, None], (n, width)).copy()
    speed = np.broadcast_to((0.85 * cruise)[:, None], (n, width)).copy()
    for col_x, col_y, col_alt, col_speed, where in (
        (bx, by, elev, climb_speed, k == 0),
        (toc_x, toc_y, orbit_alt, cruise, k == 1),
        (lc_x, lc_y, return_alt, cruise, k == legs_c + 3),
        (tod_x, tod_y, return_alt, climb_speed, k == legs_c + 4),
        (bx, by, elev, climb_speed, k >= legs_c + 5),
    ):
        x = np.where(where, col_x[:, None], x)
        y = np.where(where, col_y[:, None], y)
        alt = np.where(where, col_alt[:, None], alt)
        speed = np.where(where, col_speed[:, None], speed)
    # The leg from the last corner to the level change is flown at cruise speed.
    speed = np.where(k == legs_c + 2, cruise[:, None], speed)

    lon, lat = _to_lonlat(x.ravel(), y.ravel())
    lon = np.round(lon.reshape(n, width), 6)
    lat = np.round(lat.reshape(n, width), 6)
    _, _, leg_m = Geod(ellps="WGS84").inv(
        lon[:, :-1].ravel(), lat[:, :-1].ravel(), lon[:, 1:].ravel(), lat[:, 1:].ravel()
    )
    leg_s = np.asarray(leg_m).reshape(n, width - 1) / speed[:, :-1]
    times = depart[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(leg_s, axis=1)], axis=1)
    stamp_ms = np.round(times * 1000.0).astype(np.int64)

    count = legs + 6
    valid = k < count[:, None]
    coords = np.stack([lon[valid], lat[valid], alt[valid]], axis=1)
    stamps = stamp_ms[valid].astype("datetime64[ms]")
    offsets = np.concatenate([[0], np.cumsum(count)])
    duration = (stamp_ms[np.arange(n), count - 1] - stamp_ms[:, 0]) / 1000.0

    features: list[dict[str, Any]] = []
    for i in range(n):
        party = PARTIES[base_party[base_of[i]]]
        lo, hi = offsets[i], offsets[i + 1]
        features.append(
            {
                "type": "Feature",
                "id": f"{party}-{i:06d}",
                "geometry": {"type": "LineString", "coordinates": coords[lo:hi]},
                "properties": {
                    "kind": "flight",
                    "party": party,
                    "callsign": f"{party.upper()}{callsign_no[i]:03d}",
                    "aircraft": AIRCRAFT[party][aircraft_no[i]],
                    "coordTimes": stamps[lo:hi],
                },
            }
        )
    return features, int(offsets[-1]), float(duration.sum() / DAY_S)


def _iso(t: float) -> str:
    return str(np.datetime64(round(t * 1000.0), "ms")) + "Z"


def _lonlat_list(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    lon, lat = _to_lonlat(x, y)
    return np.round(np.stack([lon, lat], axis=1), 6).tolist()


def _areas(
    rng: np.random.Generator, side: float, airspaces: int, zones: int, strikes: int, grounds: int
) -> list[dict[str, Any]]:
    """A few airspace blocks (rectangles), zones and ground positions (circles) and strikes."""
    features: list[dict[str, Any]] = []

    def window(min_h: float, max_h: float) -> tuple[str, str]:
        start = DAY_START + rng.uniform(0.0, DAY_S)
        return _iso(start), _iso(start + rng.uniform(min_h, max_h) * 3600.0)

    def feature(kind: str, i: int, geometry: dict[str, Any], **props: Any) -> None:
        party = PARTIES[int(rng.integers(len(PARTIES)))]
        start, end = window(*{"strike": (0.1, 0.5)}.get(kind, (2.0, 8.0)))
        features.append(
            {
                "type": "Feature",
                "id": f"{party}-{kind}-{i:04d}",
                "geometry": geometry,
                "properties": {"kind": kind, "party": party, "start": start, "end": end, **props},
            }
        )

    def point() -> dict[str, Any]:
        x, y = rng.uniform(-0.5 * side, 0.5 * side, size=(2, 1))
        return {"type": "Point", "coordinates": _lonlat_list(x, y)[0]}

    for i in range(airspaces):
        cx, cy = rng.uniform(-0.5 * side, 0.5 * side, 2)
        hx, hy = rng.uniform(10e3, 40e3, 2)
        ring = _lonlat_list(
            cx + hx * np.array([-1, 1, 1, -1, -1]), cy + hy * np.array([-1, -1, 1, 1, -1])
        )
        lower = int(rng.choice(FLIGHT_LEVELS[:-3]))
        feature(
            "airspace",
            i,
            {"type": "Polygon", "coordinates": [ring]},
            alt_lower_m=float(_alt_m(np.array(lower))),
            alt_upper_m=float(_alt_m(np.array(lower + 30))),
            name=f"ROZ {i}",
        )
    for i in range(zones):
        feature(
            "zone",
            i,
            point(),
            radius_m=float(np.round(rng.uniform(15e3, 60e3))),
            alt_upper_m=float(_alt_m(np.array(300))),
            zone_type="air_defense",
        )
    for i in range(strikes):
        feature("strike", i, point(), radius_m=float(np.round(rng.uniform(500.0, 3000.0))))
    for i in range(grounds):
        feature("ground", i, point(), radius_m=float(np.round(rng.uniform(2e3, 20e3))))
    return features


def generate(
    flights: int,
    seed: int,
    *,
    airspaces: int = 0,
    zones: int = 0,
    strikes: int = 0,
    grounds: int = 0,
) -> Scenario:
    """Generate one day of sorties (and optionally a few areas) for a seed.

    >>> s = generate(50, seed=1)
    >>> s.flights, len(s.collection["features"])
    (50, 50)
    >>> generate(50, seed=1).positions == s.positions
    True
    """
    rng = np.random.default_rng(seed)
    side = side_m(flights)
    features, positions, airborne = _flights(rng, flights, side)
    features += _areas(rng, side, airspaces, zones, strikes, grounds)
    density = airborne / (side / 1000.0) ** 2 * 1e4
    return Scenario(
        collection={"type": "FeatureCollection", "features": features},
        flights=flights,
        positions=positions,
        side_m=side,
        airborne_per_10k_km2=density,
    )


def write(scenario: Scenario, path: str | Path) -> None:
    """Write the scenario as a plan file (GeoJSON)."""
    Path(path).write_bytes(orjson.dumps(scenario.collection, option=_OPTS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenario", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--flights", type=int, default=1000, help="sorties in the day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="plan file to write ('-' for stdout)")
    parser.add_argument("--airspaces", type=int, default=0, help="airspace blocks to add")
    parser.add_argument("--zones", type=int, default=0, help="air-defence zones to add")
    parser.add_argument("--strikes", type=int, default=0, help="strikes to add")
    parser.add_argument("--grounds", type=int, default=0, help="ground positions to add")
    args = parser.parse_args(argv)
    if args.flights < 1:
        parser.error("--flights must be at least 1")
    scenario = generate(
        args.flights,
        args.seed,
        airspaces=args.airspaces,
        zones=args.zones,
        strikes=args.strikes,
        grounds=args.grounds,
    )
    if args.out == "-":
        sys.stdout.buffer.write(orjson.dumps(scenario.collection, option=_OPTS))
    else:
        write(scenario, args.out)
    print(
        f"{scenario.flights} flights, {scenario.positions} positions, "
        f"theatre {scenario.side_m / 1000:.0f} km square, "
        f"{scenario.airborne_per_10k_km2:.2f} airborne per 10,000 km^2 on average",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
