"""The PostGIS side of the strategic benchmark: flight conflicts the way a GIS engineer does it.

From the same plan file that Détente reads, end to end:

1. read and parse the GeoJSON, and build one EWKB `LINESTRING ZM` per flight (lon, lat,
   altitude in metres, M = epoch seconds) in Python;
2. `COPY` the rows into a staging table (psycopg 3);
3. project them in SQL to an azimuthal equidistant projection centred on the data's extent
   (`ST_Transform` to a custom SRID), keeping Z and M, and derive the horizontal track
   (`ST_Force3DM`: x, y, M);
4. build an n-D GiST index on the tracks (`gist_geometry_ops_nd`: boxes in x, y and time) and
   `ANALYZE`;
5. run the self-join: pairs of flights of different parties whose n-D boxes, grown by the
   horizontal minimum in x and y, overlap (`&&&`), whose horizontal closest point of approach is
   within the minimum (`ST_CPAWithin` on the x, y, M tracks, so 2-D), with the vertical distance
   at that instant (`ST_LocateAlong` on the x, y, Z, M trajectories) checked against the vertical
   minimum.

What the query computes, against Détente's rule (SPEC section 4, flight x flight):

- one row per pair of flights, not the intervals of loss of separation;
- the horizontal condition is the minimum over time of the 2-D distance in the projection, so a
  pair is a 2-D candidate exactly when the tracks ever come within the minimum while both
  flights are airborne; the projection stretches distances across the track (up to 0.13% at
  400 km from the centre, 1.3% at 1,800 km, 14% at 5,700 km) where Détente measures geodesics;
- the vertical condition is checked only at the instant of least horizontal distance, while the
  rule asks for both conditions at the same instant at any time: a pair that loses vertical
  separation only while horizontally close but not at the closest instant is missed, so the
  PostGIS pairs are a subset of the true ones (up to projection error), and the 2-D candidates a
  superset;
- `ST_CPAWithin` counts a distance equal to the minimum as within (the rule is strict); the
  vertical check allows `VERTICAL_TOL_M` (a micrometre) because two adjacent flight levels are
  exactly the vertical minimum apart and their difference in binary floating point can come out
  a few 1e-13 m short of it.

Usage (after `bash benchmarks/setup_postgis.sh`):

    python -m benchmarks.postgis plans.geojson
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg

__all__ = ["DSN", "PostgisResult", "run"]

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "detente_bench"
LOCAL_SRID = 990001
VERTICAL_TOL_M = 1e-6
_EWKB_LINESTRING_ZM_SRID = 0x80000000 | 0x40000000 | 0x20000000 | 2

Pair = tuple[tuple[str, str], tuple[str, str]]


@dataclass
class PostgisResult:
    """Pairs found by PostGIS and how long each phase took (seconds)."""

    flights: int
    seconds: float
    phases: dict[str, float]
    pairs: set[Pair]
    candidates_2d: set[Pair]
    postgis_version: str
    densify_m: float = 0.0
    settings: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "flights": self.flights,
            "seconds": self.seconds,
            "phases": self.phases,
            "pairs": len(self.pairs),
            "candidates_2d": len(self.candidates_2d),
            "postgis_version": self.postgis_version,
            "densify_m": self.densify_m,
            "settings": self.settings,
        }


def pair(a: tuple[str, str], b: tuple[str, str]) -> Pair:
    """An unordered pair of (party, id) as a canonical tuple."""
    return (a, b) if a <= b else (b, a)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _ewkb_hex(coords: list[list[float]], times: list[str]) -> str:
    """EWKB (hex) of a `LINESTRING ZM` in SRID 4326 with M = epoch seconds."""
    points = np.empty((len(coords), 4))
    points[:, :3] = coords
    points[:, 3] = [_epoch(t) for t in times]
    header = struct.pack("<BIII", 1, _EWKB_LINESTRING_ZM_SRID, 4326, len(coords))
    return (header + points.astype("<f8").tobytes()).hex()


def read_flights(path: str | Path) -> list[tuple[int, str, str, str]]:
    """Rows (serial, party, id, EWKB hex) for every flight of a plan file."""
    data = orjson.loads(Path(path).read_bytes())
    rows = []
    for feature in data["features"]:
        props = feature["properties"]
        if props.get("kind") != "flight":
            continue
        ewkb = _ewkb_hex(feature["geometry"]["coordinates"], props["coordTimes"])
        rows.append((len(rows), str(props["party"]), str(feature["id"]), ewkb))
    return rows


def _fresh_database(dsn: str, database: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)


JOIN_SQL = """
SELECT a.id, b.id,
       abs(ST_Z(ST_GeometryN(ST_LocateAlong(a.traj, c.m), 1))
           - ST_Z(ST_GeometryN(ST_LocateAlong(b.traj, c.m), 1))) AS dz
FROM flights a
JOIN flights b
  ON a.id < b.id
 AND a.party <> b.party
 AND ST_Expand(a.track, %(h)s, %(h)s, 0, 0) &&& b.track
 AND ST_CPAWithin(a.track, b.track, %(h)s)
CROSS JOIN LATERAL (SELECT ST_ClosestPointOfApproach(a.track, b.track) AS m) c
"""


def run(
    path: str | Path,
    *,
    horizontal_m: float = 9260.0,
    vertical_m: float = 304.8,
    dsn: str = DSN,
    database: str = DATABASE,
    densify_m: float = 0.0,
    log: bool = False,
) -> PostgisResult:
    """Load the plan file's flights into a fresh database and find conflicting pairs.

    With `densify_m`, legs are first cut into pieces of at most that length along great
    circles (`ST_Segmentize` on geography, which interpolates Z and M), so that the straight
    lines in the projection follow the geodesics more closely.
    """
    url = _fresh_database(dsn, database)
    phases: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
        version = str(conn.execute("SELECT postgis_lib_version()").fetchone()[0])  # type: ignore[index]
        settings = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in (
                "server_version",
                "shared_buffers",
                "work_mem",
                "max_parallel_workers_per_gather",
            )
        }

        def phase(name: str, start: float) -> float:
            now = time.perf_counter()
            phases[name] = now - start
            if log:
                print(f"  postgis {name}: {phases[name]:.2f} s", file=sys.stderr)
            return now

        t0 = t = time.perf_counter()
        rows = read_flights(path)
        t = phase("read", t)

        conn.execute("CREATE TABLE raw (id int, party text, fid text, traj geometry)")
        with conn.cursor() as cur, cur.copy("COPY raw (id, party, fid, traj) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        t = phase("copy", t)

        xmin, ymin, xmax, ymax = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
            " FROM (SELECT ST_Extent(traj) AS e FROM raw) s"
        ).fetchone()  # type: ignore[misc]
        proj = (
            f"+proj=aeqd +lat_0={(ymin + ymax) / 2} +lon_0={(xmin + xmax) / 2}"
            " +datum=WGS84 +units=m +no_defs"
        )
        conn.execute(
            "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text, srtext)"
            " VALUES (%s, 'detente', %s, %s, '')",
            (LOCAL_SRID, LOCAL_SRID, proj),
        )
        source = f"ST_Segmentize(traj::geography, {densify_m:f})::geometry" if densify_m else "traj"
        conn.execute(
            "CREATE TABLE flights AS SELECT id, party, fid, traj, ST_Force3DM(traj) AS track"
            f" FROM (SELECT id, party, fid, ST_Transform({source}, {LOCAL_SRID}) AS traj"
            " FROM raw) s"
        )
        t = phase("project", t)

        conn.execute(
            "CREATE INDEX flights_track ON flights USING GIST (track gist_geometry_ops_nd)"
        )
        conn.execute("ANALYZE flights")
        t = phase("index", t)

        found = conn.execute(JOIN_SQL, {"h": horizontal_m}).fetchall()
        t = phase("join", t)
        total = t - t0

        names = {row[0]: (row[1], row[2]) for row in rows}
    candidates = {pair(names[a], names[b]) for a, b, _ in found}
    pairs = {
        pair(names[a], names[b])
        for a, b, dz in found
        if dz is not None and dz < vertical_m - VERTICAL_TOL_M
    }
    return PostgisResult(
        flights=len(rows),
        seconds=total,
        phases=phases,
        pairs=pairs,
        candidates_2d=candidates,
        postgis_version=version,
        densify_m=densify_m,
        settings=settings,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.postgis", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("plan", help="plan file (GeoJSON)")
    parser.add_argument("--horizontal-m", type=float, default=9260.0)
    parser.add_argument("--vertical-m", type=float, default=304.8)
    parser.add_argument("--dsn", default=DSN)
    parser.add_argument(
        "--densify-m", type=float, default=0.0, help="cut legs along great circles first"
    )
    args = parser.parse_args(argv)
    result = run(
        args.plan,
        horizontal_m=args.horizontal_m,
        vertical_m=args.vertical_m,
        dsn=args.dsn,
        densify_m=args.densify_m,
        log=True,
    )
    print(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
