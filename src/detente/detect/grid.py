"""Broad phase: a space-time grid on the six faces of a cube around the Earth.

Every item is a set of boxes (min/max corner in ECEF metres, an altitude range and a time range).
The surface is two-dimensional, so each box is filed in 2-D cells: on the face of the cube its
points look out of (the ECEF axis of largest magnitude), over the two other axes, and in time and
altitude bins. Projecting onto a
face's plane never separates boxes that meet, and a box near a face edge is filed in both faces.
Two boxes are candidates when they share a cell and their boxes meet; each pair is reported once,
from the lowest face both are filed in and the cell holding the low corner of their intersection,
so no de-duplication pass is needed.

Cost grows with the number of boxes and of boxes near each other, never with all pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from ._arrays import expand

__all__ = [
    "Boxes",
    "GridSpec",
    "PairJob",
    "SortedCells",
    "cross_pairs",
    "file_boxes",
    "run_all",
    "self_pairs",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

PairJob = Callable[[], tuple[IntArray, IntArray]]

# Grid entries handled by one pair job: bounds memory (a few hundred MB at most per job).
CHUNK_ENTRIES = 1 << 18

_AXIS_BITS = 14
_FACE_BITS = 3
_ALT_BITS = 6
_TIME_BITS = 63 - _FACE_BITS - 2 * _AXIS_BITS - _ALT_BITS
# A key, from its high bits: face, u, v, time bin, altitude bin.
_V_SHIFT = _TIME_BITS + _ALT_BITS
_U_SHIFT = _V_SHIFT + _AXIS_BITS
_FACE_SHIFT = _U_SHIFT + _AXIS_BITS
_ALT_OFFSET_M = 2_000.0
_AXIS_OFFSET_M = 7_400_000.0
# For each axis, the two others; the face bits of each axis's two sides.
_FIRST_OTHER = np.array([1, 0, 0])
_SECOND_OTHER = np.array([2, 2, 1])
_POSITIVE_BITS = np.array([1 << 0, 1 << 2, 1 << 4], np.int64)
_NEGATIVE_BITS = np.array([1 << 1, 1 << 3, 1 << 5], np.int64)
# The two in-plane ECEF axes of faces +X, -X, +Y, -Y, +Z, -Z.
_U_AXIS = np.array([1, 1, 0, 0, 0, 0])
_V_AXIS = np.array([2, 2, 2, 2, 1, 1])


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Cell edge (m, at least 1 km), time bin (s) and altitude bin (m); a bin of 0 is no bin.

    Altitude bins above the top one (64 bins) all fall in the top one.
    """

    cell_m: float
    bin_s: float
    alt_bin_m: float = 0.0

    def __post_init__(self) -> None:
        if self.cell_m < 1_000.0:
            raise ValueError("cell_m must be at least 1 km")


@dataclass(slots=True)
class Boxes:
    """Axis-aligned boxes: `lo`/`hi` (n, 3) ECEF metres, `t0`/`t1` seconds, `z0`/`z1` altitude."""

    lo: FloatArray
    hi: FloatArray
    t0: FloatArray
    t1: FloatArray
    z0: FloatArray
    z1: FloatArray

    def __len__(self) -> int:
        return len(self.t0)

    @staticmethod
    def empty() -> Boxes:
        p = np.empty((0, 3), np.float64)
        f = np.empty(0, np.float64)
        return Boxes(p, p, f, f, f, f)

    def subset(self, idx: IntArray) -> Boxes:
        return Boxes(
            self.lo[idx], self.hi[idx], self.t0[idx], self.t1[idx], self.z0[idx], self.z1[idx]
        )

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        return Boxes(
            np.concatenate([p.lo for p in parts]).reshape(-1, 3),
            np.concatenate([p.hi for p in parts]).reshape(-1, 3),
            np.concatenate([p.t0 for p in parts]),
            np.concatenate([p.t1 for p in parts]),
            np.concatenate([p.z0 for p in parts]),
            np.concatenate([p.z1 for p in parts]),
        )

    def faces(self) -> IntArray:
        """Bit mask of the cube faces each box reaches (bit f for face f): face 2a (2a + 1)
        where the box reaches past 0 on axis a, positive (negative) side, at least as far as
        its least value on each other axis."""
        lo, hi = self.lo, self.hi
        if len(lo) == 0:
            return np.zeros(0, np.int64)
        # The least |value| a box reaches on each axis (0 when it straddles 0), and for each
        # axis the larger of the other two's (all three axes at once: few calls on few boxes).
        least = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
        bound = np.maximum(least[:, _FIRST_OTHER], least[:, _SECOND_OTHER])
        positive = (hi > 0) & (hi >= bound)
        negative = (lo < 0) & (-lo >= bound)
        return positive @ _POSITIVE_BITS | negative @ _NEGATIVE_BITS


@dataclass(slots=True)
class SortedCells:
    """Grid entries sorted by cell key: `keys[k]` holds box `ids[k]`."""

    keys: IntArray
    ids: IntArray

    @staticmethod
    def empty() -> SortedCells:
        return SortedCells(np.empty(0, np.int64), np.empty(0, np.int64))

    def merged(self, other: SortedCells) -> SortedCells:
        if len(other.keys) == 0:
            return self
        if len(self.keys) == 0:
            return other
        keys = np.concatenate([self.keys, other.keys])
        ids = np.concatenate([self.ids, other.ids])
        order = np.argsort(keys, kind="stable")
        return SortedCells(keys[order], ids[order])


def _cells(v: FloatArray, cell_m: float) -> IntArray:
    return np.floor((v + _AXIS_OFFSET_M) / cell_m).astype(np.int64)


def _bins(t: FloatArray, bin_s: float) -> IntArray:
    if bin_s <= 0:
        return np.zeros(t.shape, np.int64)
    return np.floor(t / bin_s).astype(np.int64)


def _alts(z: FloatArray, alt_bin_m: float) -> IntArray:
    if alt_bin_m <= 0:
        return np.zeros(z.shape, np.int64)
    top = (1 << _ALT_BITS) - 1
    return np.clip(np.floor((z + _ALT_OFFSET_M) / alt_bin_m), 0, top).astype(np.int64)


def _pack(face: IntArray, iu: IntArray, iv: IntArray, it: IntArray, iz: IntArray) -> IntArray:
    # Place first, then time and altitude: the keys of one item are near one another, so a
    # store's B-tree files an item's cells in few pages.
    mask = (1 << _AXIS_BITS) - 1
    tmask = (1 << _TIME_BITS) - 1
    return (
        (face << _FACE_SHIFT)
        | ((iu & mask) << _U_SHIFT)
        | ((iv & mask) << _V_SHIFT)
        | ((it & tmask) << _ALT_BITS)
        | iz
    )


def _face_of(key: IntArray) -> IntArray:
    return (key >> _FACE_SHIFT) & ((1 << _FACE_BITS) - 1)


def _lowest_bit(mask: IntArray) -> IntArray:
    """Index of the lowest set bit (mask > 0)."""
    low = mask & -mask
    return np.log2(low).astype(np.int64)


def file_boxes(
    boxes: Boxes, spec: GridSpec, id_offset: int = 0, faces: IntArray | None = None
) -> SortedCells:
    """File every box under each face cell, time bin and altitude bin it touches; `faces`:
    the boxes' `Boxes.faces`, when already known."""
    if len(boxes) == 0:
        return SortedCells.empty()
    if faces is None:
        faces = boxes.faces()
    box, face = np.nonzero((faces[:, None] >> np.arange(6)) & 1)
    u, v = _U_AXIS[face], _V_AXIS[face]
    u0 = _cells(boxes.lo[box, u], spec.cell_m)
    v0 = _cells(boxes.lo[box, v], spec.cell_m)
    t0 = _bins(boxes.t0[box], spec.bin_s)
    nu = _cells(boxes.hi[box, u], spec.cell_m) - u0 + 1
    nv = _cells(boxes.hi[box, v], spec.cell_m) - v0 + 1
    nt = _bins(boxes.t1[box], spec.bin_s) - t0 + 1
    z0 = _alts(boxes.z0[box], spec.alt_bin_m)
    nz = _alts(boxes.z1[box], spec.alt_bin_m) - z0 + 1
    row, rank = expand(nu * nv * nt * nz)
    du = rank % nu[row]
    rank //= nu[row]
    dv = rank % nv[row]
    rank //= nv[row]
    dt = rank % nt[row]
    dz = rank // nt[row]
    keys = _pack(face[row], u0[row] + du, v0[row] + dv, t0[row] + dt, z0[row] + dz)
    order = np.argsort(keys, kind="stable")
    return SortedCells(keys[order], box[row][order] + id_offset)


def _chunks(keys: IntArray, starts: IntArray, chunk_entries: int) -> list[tuple[int, int]]:
    """Split sorted entries into ranges of about `chunk_entries`, never inside a run of a key."""
    cuts = np.searchsorted(starts, np.arange(chunk_entries, len(keys), chunk_entries))
    bounds = np.unique(np.r_[0, starts[np.minimum(cuts, len(starts) - 1)], len(keys)])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def self_pairs(
    cells: SortedCells,
    boxes: Boxes,
    faces: IntArray,
    spec: GridSpec,
    chunk_entries: int = CHUNK_ENTRIES,
) -> list[PairJob]:
    """Jobs that together give each pair of meeting boxes once, as index arrays.

    Each job covers about `chunk_entries` grid entries, which bounds its memory; jobs are
    independent and may run on several threads.
    """
    keys, ids = cells.keys, cells.ids
    if len(keys) < 2:
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return [
        partial(_pairs_within, keys[lo:hi], ids[lo:hi], boxes, faces, spec)
        for lo, hi in _chunks(keys, starts, chunk_entries)
    ]


def _pairs_within(
    keys: IntArray, ids: IntArray, boxes: Boxes, faces: IntArray, spec: GridSpec
) -> tuple[IntArray, IntArray]:
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    big = sizes > 1
    starts, sizes = starts[big], sizes[big]
    # Only entries in shared cells take part; copy their boxes in cell order, so that the
    # pairs below read memory close together.
    pos = np.repeat(starts, sizes) + expand(sizes)[1]
    box = ids[pos]
    local = boxes.subset(box)
    local_faces = faces[box]
    # Within a run of equal keys, each entry pairs with those after it.
    after = np.repeat(np.cumsum(sizes), sizes) - np.arange(len(pos)) - 1
    first, rank = expand(after)
    second = first + 1 + rank
    fa, fb = _report_once(
        local, first, local, second, keys[pos[first]], local_faces, local_faces, spec
    )
    return box[fa], box[fb]


def cross_pairs(
    query: Boxes,
    target_cells: SortedCells,
    target: Boxes,
    target_faces: IntArray,
    spec: GridSpec,
    chunk_entries: int = CHUNK_ENTRIES,
) -> list[PairJob]:
    """Jobs that together give each (query box, target box) pair that meets, once.

    Indices are into `query` and `target`; each job covers about `chunk_entries` query entries.
    """
    if len(query) == 0 or len(target_cells.keys) == 0:
        return []
    query_faces = query.faces()
    qcells = file_boxes(query, spec, faces=query_faces)
    return [
        partial(
            _pairs_across,
            qcells.keys[first : first + chunk_entries],
            qcells.ids[first : first + chunk_entries],
            query,
            query_faces,
            target_cells,
            target,
            target_faces,
            spec,
        )
        for first in range(0, len(qcells.keys), chunk_entries)
    ]


def _pairs_across(
    keys: IntArray,
    ids: IntArray,
    query: Boxes,
    query_faces: IntArray,
    target_cells: SortedCells,
    target: Boxes,
    target_faces: IntArray,
    spec: GridSpec,
) -> tuple[IntArray, IntArray]:
    lo = np.searchsorted(target_cells.keys, keys, side="left")
    hi = np.searchsorted(target_cells.keys, keys, side="right")
    row, rank = expand(hi - lo)
    i = ids[row]
    j = target_cells.ids[lo[row] + rank]
    return _report_once(query, i, target, j, keys[row], query_faces, target_faces, spec)


def run_all(jobs: list[PairJob]) -> tuple[IntArray, IntArray]:
    """Run pair jobs in this thread and join their results."""
    results = [job() for job in jobs]
    if not results:
        empty = np.empty(0, np.int64)
        return empty, empty
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def _report_once(
    a: Boxes,
    ia: IntArray,
    b: Boxes,
    ib: IntArray,
    key: IntArray,
    faces_a: IntArray,
    faces_b: IntArray,
    spec: GridSpec,
) -> tuple[IntArray, IntArray]:
    """Pairs whose boxes meet, each kept only in the one cell that reports it."""
    idx = np.flatnonzero((a.t0[ia] <= b.t1[ib]) & (b.t0[ib] <= a.t1[ia]))
    ja, jb = ia[idx], ib[idx]
    idx = idx[(a.z0[ja] <= b.z1[jb]) & (b.z0[jb] <= a.z1[ja])]
    for axis in range(3):
        ja, jb = ia[idx], ib[idx]
        idx = idx[(a.lo[ja, axis] <= b.hi[jb, axis]) & (b.lo[jb, axis] <= a.hi[ja, axis])]
    ia, ib, key = ia[idx], ib[idx], key[idx]
    face = _face_of(key)
    keep = _lowest_bit(faces_a[ia] & faces_b[ib]) == face
    ia, ib, key, face = ia[keep], ib[keep], key[keep], face[keep]
    u, v = _U_AXIS[face], _V_AXIS[face]
    ref = _pack(
        face,
        _cells(np.maximum(a.lo[ia, u], b.lo[ib, u]), spec.cell_m),
        _cells(np.maximum(a.lo[ia, v], b.lo[ib, v]), spec.cell_m),
        _bins(np.maximum(a.t0[ia], b.t0[ib]), spec.bin_s),
        _alts(np.maximum(a.z0[ia], b.z0[ib]), spec.alt_bin_m),
    )
    keep = ref == key
    return ia[keep], ib[keep]
