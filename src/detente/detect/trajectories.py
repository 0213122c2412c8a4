"""Flights as arrays of straight ECEF pieces with linear time and altitude.

Each leg is split along its geodesic into pieces no longer than `split_length_m` (see `geo`), and
each piece is flown on its chord: position and altitude are linear in time, so the distance between
two aircraft on two pieces is a quadratic in time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from detente.geo import GEOD, ecef
from detente.model import Flight

from ._arrays import expand
from .grid import Boxes, GridSpec, SortedCells, file_boxes

__all__ = ["PieceCache", "Pieces", "flight_pieces"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(slots=True)
class Pieces:
    """Straight pieces of flights. Row k flies from `p0[k]` at `t0[k]` to `p1[k]` at `t1[k]`.

    Build with `Pieces.of(...)`, which derives the chords, velocities and climb rates.
    """

    owner: IntArray  # index of the flight in the item list the pieces were built from
    t0: FloatArray
    t1: FloatArray
    p0: FloatArray  # (n, 3) ECEF of the ground point, m
    p1: FloatArray
    z0: FloatArray  # altitude, m
    z1: FloatArray
    velocity: FloatArray  # (n, 3) m/s
    climb: FloatArray  # m/s
    # The ends of the geodesic each piece stands for, degrees.
    start_lon: FloatArray
    start_lat: FloatArray
    end_lon: FloatArray
    end_lat: FloatArray

    @staticmethod
    def of(
        owner: IntArray,
        t0: FloatArray,
        t1: FloatArray,
        z0: FloatArray,
        z1: FloatArray,
        start: tuple[FloatArray, FloatArray, FloatArray],
        end: tuple[FloatArray, FloatArray, FloatArray],
    ) -> Pieces:
        """Pieces from their ends: (lon, lat, ECEF) at start and end, times and altitudes."""
        (lon0, lat0, p0), (lon1, lat1, p1) = start, end
        dt = t1 - t0
        return Pieces(
            owner,
            t0,
            t1,
            p0,
            p1,
            z0,
            z1,
            (p1 - p0) / dt[:, None],
            (z1 - z0) / dt,
            lon0,
            lat0,
            lon1,
            lat1,
        )

    @staticmethod
    def empty() -> Pieces:
        f = np.empty(0, np.float64)
        p = np.empty((0, 3), np.float64)
        return Pieces.of(np.empty(0, np.int64), f, f, f, f, (f, f, p), (f, f, p))

    def __len__(self) -> int:
        return len(self.t0)

    @staticmethod
    def concat(parts: list[Pieces]) -> Pieces:
        parts = [p for p in parts if len(p)] or parts[:1]
        if len(parts) == 1:
            return parts[0]
        return Pieces(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in Pieces.__slots__)
        )

    def position(self, k: IntArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Ground point (ECEF) and altitude of pieces `k` at times `t`."""
        dt = (t - self.t0[k])[:, None]
        p = self.p0[k] + dt * self.velocity[k]
        z = self.z0[k] + dt[:, 0] * self.climb[k]
        return p, z

    def geodesic_position(self, k: IntArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(lon, lat) of pieces `k` at times `t` on their geodesics (not their chords)."""
        f = (t - self.t0[k]) / (self.t1[k] - self.t0[k])
        lon0, lat0 = self.start_lon[k], self.start_lat[k]
        azimuth, _, length = GEOD.inv(lon0, lat0, self.end_lon[k], self.end_lat[k])
        lon, lat, _ = GEOD.fwd(lon0, lat0, azimuth, np.asarray(length) * f)
        return np.asarray(lon, np.float64), np.asarray(lat, np.float64)

    def boxes(self, margin_m: float, margin_z_m: float) -> Boxes:
        """Bounding boxes of the chords grown by `margin_m`, altitudes grown by `margin_z_m`."""
        return Boxes(
            np.minimum(self.p0, self.p1) - margin_m,
            np.maximum(self.p0, self.p1) + margin_m,
            self.t0.copy(),
            self.t1.copy(),
            np.minimum(self.z0, self.z1) - margin_z_m,
            np.maximum(self.z0, self.z1) + margin_z_m,
        )


def flight_pieces(flights: Sequence[Flight], owners: Sequence[int], max_len_m: float) -> Pieces:
    """Split every leg of `flights` into chord pieces of at most `max_len_m` of geodesic."""
    counts = np.fromiter((len(f.times) for f in flights), np.int64, len(flights))
    n = int(counts.sum())
    lon = np.fromiter(chain.from_iterable(f.lon for f in flights), np.float64, n)
    lat = np.fromiter(chain.from_iterable(f.lat for f in flights), np.float64, n)
    alt = np.fromiter(chain.from_iterable(f.alt_m for f in flights), np.float64, n)
    tim = np.fromiter(chain.from_iterable(f.times for f in flights), np.float64, n)
    owner_of_point = np.repeat(np.asarray(owners, np.int64), counts)
    xyz = ecef(lon, lat)

    start = np.flatnonzero(owner_of_point[:-1] == owner_of_point[1:]).astype(np.int64)
    # Flights whose consecutive positions repeat at the same time carry no motion there.
    start = start[tim[start + 1] > tim[start]]
    end = start + 1
    # The chord is shorter than the geodesic by under 1% for legs up to 2,000 km; longer legs
    # are cut by their geodesic length below.
    chord = np.linalg.norm(xyz[end] - xyz[start], axis=1)
    n_pieces = np.maximum(1, np.ceil(chord * 1.01 / max_len_m).astype(np.int64))
    long_leg = np.flatnonzero(n_pieces > 1)
    az = np.zeros(len(start))
    dist = np.zeros(len(start))
    if len(long_leg):
        s, e = start[long_leg], end[long_leg]
        leg_az, _, leg_dist = GEOD.inv(lon[s], lat[s], lon[e], lat[e])
        az[long_leg], dist[long_leg] = leg_az, leg_dist
        n_pieces[long_leg] = np.maximum(1, np.ceil(dist[long_leg] / max_len_m)).astype(np.int64)

    leg, k = expand(n_pieces)
    f0 = k / n_pieces[leg]
    f1 = (k + 1) / n_pieces[leg]
    s, e = start[leg], end[leg]

    def along(f: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Position (lon, lat, ECEF) at fraction `f` of each piece's leg."""
        at_end = f >= 1.0
        out_lon = np.where(at_end, lon[e], lon[s])
        out_lat = np.where(at_end, lat[e], lat[s])
        out_xyz = np.where(at_end[:, None], xyz[e], xyz[s])
        mid = np.flatnonzero((f > 0.0) & (f < 1.0))
        if len(mid):
            mlon, mlat, _ = GEOD.fwd(
                lon[s[mid]], lat[s[mid]], az[leg[mid]], dist[leg[mid]] * f[mid]
            )
            out_lon[mid], out_lat[mid] = mlon, mlat
            out_xyz[mid] = ecef(mlon, mlat)
        return out_lon, out_lat, out_xyz

    lon0, lat0, p0 = along(f0)
    lon1, lat1, p1 = along(f1)
    t0 = tim[s] + f0 * (tim[e] - tim[s])
    t1 = tim[s] + f1 * (tim[e] - tim[s])
    z0 = alt[s] + f0 * (alt[e] - alt[s])
    z1 = alt[s] + f1 * (alt[e] - alt[s])
    return Pieces.of(owner_of_point[s], t0, t1, z0, z1, (lon0, lat0, p0), (lon1, lat1, p1))


# Columns of a flight's pieces packed in one array (`PieceCache`): every field but `owner`.
_PACKED = (
    ("t0", 1),
    ("t1", 1),
    ("p0", 3),
    ("p1", 3),
    ("z0", 1),
    ("z1", 1),
    ("velocity", 3),
    ("climb", 1),
    ("start_lon", 1),
    ("start_lat", 1),
    ("end_lon", 1),
    ("end_lat", 1),
)
_WIDTH = sum(width for _, width in _PACKED)


# How a flight's boxes are filed: split length, margins, grid.
_Filing = tuple[float, tuple[float, float], GridSpec]
_FILINGS_KEPT = 2


@dataclass(frozen=True, slots=True)
class _FiledFlight:
    """One flight's boxes (packed, one row each), their faces and their cells (box ids from
    0 within the flight); the flight is held so that its identity stays its own."""

    flight: Flight
    boxes: FloatArray
    faces: IntArray
    keys: IntArray
    ids: IntArray


@dataclass(slots=True)
class PieceCache:
    """Flights' pieces kept from one index to the next, first in, first out.

    A store's candidates come back pass after pass as the same flight objects (its cache of
    parsed items), and splitting them again is a large part of a pass. Entries are keyed by the
    flight object (which the entry holds, so that its identity stays its own) and by the split
    length. `filed` keeps each flight's boxes and cells in an index's grid beside its pieces,
    keyed by how they were filed.

    >>> from detente.model import Flight
    >>> f = Flight("blue", "f1", lon=(36.0, 37.0), lat=(35.0, 35.0), alt_m=(9000.0, 9000.0),
    ...            times=(0.0, 600.0))
    >>> cache = PieceCache(10)
    >>> first = cache.pieces([f], [4], 50_000.0)
    >>> again = cache.pieces([f], [7], 50_000.0)
    >>> len(cache), again.owner.tolist() == [7] * len(first), bool((again.p1 == first.p1).all())
    (1, True, True)
    >>> finer = cache.pieces([f], [0], 10_000.0)  # another split length: kept beside
    >>> len(cache), len(finer) > len(first)
    (2, True)
    """

    size: int
    _rows: dict[tuple[int, float], tuple[Flight, FloatArray]] = field(default_factory=dict)
    # By filing, then by flight: one hash of the filing (its grid is a dataclass) a call.
    _filed: dict[_Filing, dict[int, _FiledFlight]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._rows)

    def filed(
        self,
        flights: Sequence[Flight],
        owners: Sequence[int],
        max_len_m: float,
        margins: tuple[float, float],
        spec: GridSpec,
        id_offset: int = 0,
    ) -> tuple[Pieces, Boxes, IntArray, SortedCells]:
        """The flights' pieces, their boxes grown by `margins` (`Pieces.boxes`), the boxes'
        faces and their cells in `spec` (`file_boxes`, ids from `id_offset`): the same arrays
        as made from scratch, each flight's boxes and cells kept like its pieces."""
        pieces = self.pieces(flights, owners, max_len_m)
        if not flights or len(flights) > self.size:
            boxes = pieces.boxes(*margins)
            faces = boxes.faces()
            return pieces, boxes, faces, file_boxes(boxes, spec, id_offset, faces)
        got = self.file(flights, (max_len_m, margins, spec))
        table = np.concatenate([e.boxes for e in got])
        boxes = Boxes(
            table[:, 0:3], table[:, 3:6], table[:, 6], table[:, 7], table[:, 8], table[:, 9]
        )
        faces = np.concatenate([e.faces for e in got])
        # Each flight's box ids moved past the boxes of the flights before it.
        first = np.cumsum([id_offset, *(len(e.faces) for e in got[:-1])])
        keys = np.concatenate([e.keys for e in got])
        ids = np.concatenate([e.ids for e in got]) + np.repeat(first, [len(e.ids) for e in got])
        # Stable: equal keys keep the order of their boxes, as `file_boxes` gives them.
        order = np.argsort(keys, kind="stable")
        return pieces, boxes, faces, SortedCells(keys[order], ids[order])

    def file(self, flights: Sequence[Flight], filing: _Filing) -> list[_FiledFlight]:
        """Each flight's boxes, faces and cells under `filing` (split length, margins, grid),
        made where missing and kept: a later `filed` of them only gathers them. Nothing is
        kept of more flights than the cache holds."""
        if len(flights) > self.size:
            return []
        entries = self._filed.get(filing)
        if entries is None:
            with self._lock:
                # Filings change with the agreement: the latest two are kept.
                entries = self._filed.setdefault(filing, {})
                while len(self._filed) > _FILINGS_KEPT:
                    del self._filed[next(iter(self._filed))]
        kept = [entries.get(id(f)) for f in flights]
        missing = [k for k, entry in enumerate(kept) if entry is None]
        if missing:
            fresh = self._file([flights[k] for k in missing], filing)
            with self._lock:
                for k, entry in zip(missing, fresh, strict=True):
                    entries[id(flights[k])] = kept[k] = entry
                while len(entries) > self.size:
                    del entries[next(iter(entries))]
        return [entry for entry in kept if entry is not None]

    def _file(self, flights: Sequence[Flight], filing: _Filing) -> list[_FiledFlight]:
        """Each flight's boxes, faces and cells (box ids from 0 within the flight)."""
        max_len_m, margins, spec = filing
        pieces = self.pieces(flights, range(len(flights)), max_len_m)
        boxes = pieces.boxes(*margins)
        faces = boxes.faces()
        cells = file_boxes(boxes, spec, faces=faces)
        packed = np.column_stack(
            [boxes.lo, boxes.hi, boxes.t0, boxes.t1, boxes.z0, boxes.z1]
        ).reshape(-1, 10)
        flight_ends = np.arange(len(flights) + 1)
        bounds = np.searchsorted(pieces.owner, flight_ends).tolist()
        # The cells by flight, each flight's in key order still (a stable sort).
        by_flight = np.argsort(pieces.owner[cells.ids], kind="stable")
        keys, ids = cells.keys[by_flight], cells.ids[by_flight]
        cuts = np.searchsorted(pieces.owner[ids], flight_ends).tolist()
        return [
            _FiledFlight(
                flights[k],
                packed[bounds[k] : bounds[k + 1]].copy(),
                faces[bounds[k] : bounds[k + 1]].copy(),
                keys[cuts[k] : cuts[k + 1]].copy(),
                ids[cuts[k] : cuts[k + 1]] - bounds[k],
            )
            for k in range(len(flights))
        ]

    def pieces(self, flights: Sequence[Flight], owners: Sequence[int], max_len_m: float) -> Pieces:
        """`flight_pieces(flights, owners, max_len_m)`, split only where not kept already."""
        if len(flights) > self.size:
            return flight_pieces(flights, owners, max_len_m)
        rows = self._rows
        kept = [rows.get((id(f), max_len_m)) for f in flights]
        missing = [k for k, entry in enumerate(kept) if entry is None]
        if missing:
            fresh = flight_pieces([flights[k] for k in missing], missing, max_len_m)
            packed = np.column_stack(
                [getattr(fresh, name).reshape(len(fresh), -1) for name, _ in _PACKED]
            )
            # `fresh.owner` ascends: each missing flight's pieces are one run.
            bounds: list[int] = np.searchsorted(
                fresh.owner, np.asarray([*missing, len(flights)], np.int64)
            ).tolist()
            with self._lock:
                for n, k in enumerate(missing):
                    entry = (flights[k], packed[bounds[n] : bounds[n + 1]].copy())
                    rows[id(flights[k]), max_len_m] = kept[k] = entry
                while len(rows) > self.size:
                    del rows[next(iter(rows))]
        arrays = [entry[1] for entry in kept if entry is not None]
        table = np.concatenate(arrays) if arrays else np.empty((0, _WIDTH))
        fields: dict[str, FloatArray] = {}
        first = 0
        for name, width in _PACKED:
            column = table[:, first : first + width]
            fields[name] = column if width > 1 else column[:, 0]
            first += width
        counts = [len(a) for a in arrays]
        return Pieces(owner=np.repeat(np.asarray(owners, np.int64), counts), **fields)
