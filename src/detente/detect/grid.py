"""Broad phase: a space-time grid of ECEF cells and time bins.

Every item is a set of boxes (min/max corner in ECEF metres, plus a time range). A box is filed
under every cell and time bin it touches; two boxes are candidates when they share a cell and
their boxes really intersect. Each pair is reported once, from the cell that holds the low corner
of the two boxes' intersection, so no de-duplication pass is needed.

Cost grows with the number of boxes and of boxes near each other, never with all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Boxes", "GridSpec", "SortedCells", "cross_pairs", "file_boxes", "self_pairs"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_AXIS_BITS = 14
_TIME_BITS = 63 - 3 * _AXIS_BITS
_AXIS_OFFSET_M = 6_400_000.0 + 1_000_000.0


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Cell edge (m, at least 1 km) and time bin (s); `bin_s=0` makes a space-only grid."""

    cell_m: float
    bin_s: float

    def __post_init__(self) -> None:
        if self.cell_m < 1_000.0:
            raise ValueError("cell_m must be at least 1 km")


@dataclass(slots=True)
class Boxes:
    """Axis-aligned boxes: `lo`/`hi` (n, 3) ECEF metres, `t0`/`t1` (n,) seconds."""

    lo: FloatArray
    hi: FloatArray
    t0: FloatArray
    t1: FloatArray

    def __len__(self) -> int:
        return len(self.t0)

    def take(self, idx: IntArray) -> Boxes:
        return Boxes(self.lo[idx], self.hi[idx], self.t0[idx], self.t1[idx])

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        return Boxes(
            np.concatenate([p.lo for p in parts]).reshape(-1, 3),
            np.concatenate([p.hi for p in parts]).reshape(-1, 3),
            np.concatenate([p.t0 for p in parts]),
            np.concatenate([p.t1 for p in parts]),
        )


@dataclass(slots=True)
class SortedCells:
    """Grid entries sorted by cell key: `keys[k]` holds box `ids[k]`."""

    keys: IntArray
    ids: IntArray

    @staticmethod
    def empty() -> SortedCells:
        return SortedCells(np.empty(0, np.int64), np.empty(0, np.int64))

    def merged(self, other: SortedCells) -> SortedCells:
        keys = np.concatenate([self.keys, other.keys])
        ids = np.concatenate([self.ids, other.ids])
        order = np.argsort(keys, kind="stable")
        return SortedCells(keys[order], ids[order])

    def without(self, dead: NDArray[np.bool_]) -> SortedCells:
        """Entries whose box is not marked dead."""
        keep = ~dead[self.ids]
        return SortedCells(self.keys[keep], self.ids[keep])


def _axis_cells(v: FloatArray, cell_m: float) -> IntArray:
    return np.floor((v + _AXIS_OFFSET_M) / cell_m).astype(np.int64)


def _time_bins(t: FloatArray, bin_s: float) -> IntArray:
    if bin_s <= 0:
        return np.zeros(t.shape, np.int64)
    return np.floor(t / bin_s).astype(np.int64)


def _pack(ix: IntArray, iy: IntArray, iz: IntArray, it: IntArray) -> IntArray:
    mask = (1 << _AXIS_BITS) - 1
    tmask = (1 << _TIME_BITS) - 1
    return (
        ((it & tmask) << (3 * _AXIS_BITS))
        | ((ix & mask) << (2 * _AXIS_BITS))
        | ((iy & mask) << _AXIS_BITS)
        | (iz & mask)
    )


def _ref_keys(a: Boxes, ia: IntArray, b: Boxes, ib: IntArray, spec: GridSpec) -> IntArray:
    """Key of the cell holding the low corner of each pair's box intersection."""
    lo = np.maximum(a.lo[ia], b.lo[ib])
    t0 = np.maximum(a.t0[ia], b.t0[ib])
    return _pack(
        _axis_cells(lo[:, 0], spec.cell_m),
        _axis_cells(lo[:, 1], spec.cell_m),
        _axis_cells(lo[:, 2], spec.cell_m),
        _time_bins(t0, spec.bin_s),
    )


def _intersect(a: Boxes, ia: IntArray, b: Boxes, ib: IntArray) -> NDArray[np.bool_]:
    return (
        np.all(a.lo[ia] <= b.hi[ib], axis=1)
        & np.all(b.lo[ib] <= a.hi[ia], axis=1)
        & (a.t0[ia] <= b.t1[ib])
        & (b.t0[ib] <= a.t1[ia])
    )


def file_boxes(boxes: Boxes, spec: GridSpec, id_offset: int = 0) -> SortedCells:
    """File every box under each cell and time bin it touches."""
    n = len(boxes)
    if n == 0:
        return SortedCells.empty()
    c0 = np.stack([_axis_cells(boxes.lo[:, k], spec.cell_m) for k in range(3)], axis=1)
    c1 = np.stack([_axis_cells(boxes.hi[:, k], spec.cell_m) for k in range(3)], axis=1)
    b0 = _time_bins(boxes.t0, spec.bin_s)
    b1 = _time_bins(boxes.t1, spec.bin_s)
    span = np.concatenate([c1 - c0 + 1, (b1 - b0 + 1)[:, None]], axis=1)
    counts = np.prod(span, axis=1)
    total = int(counts.sum())
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    rank = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    digits = []
    for k in range(4):
        s = span[owner, k]
        digits.append(rank % s)
        rank = rank // s
    keys = _pack(
        c0[owner, 0] + digits[0],
        c0[owner, 1] + digits[1],
        c0[owner, 2] + digits[2],
        b0[owner] + digits[3],
    )
    order = np.argsort(keys, kind="stable")
    return SortedCells(keys[order], owner[order] + id_offset)


def self_pairs(cells: SortedCells, boxes: Boxes, spec: GridSpec) -> tuple[IntArray, IntArray]:
    """Each pair of intersecting boxes once, as index arrays (i < j not guaranteed)."""
    keys, ids = cells.keys, cells.ids
    if len(keys) < 2:
        empty = np.empty(0, np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    group_end = np.repeat(ends, ends - starts)
    pos = np.arange(len(keys), dtype=np.int64)
    counts = group_end - pos - 1
    total = int(counts.sum())
    first = np.repeat(pos, counts)
    second = first + 1 + np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    i, j = ids[first], ids[second]
    keep = (i != j) & _intersect(boxes, i, boxes, j)
    i, j, cell = i[keep], j[keep], keys[first[keep]]
    keep = _ref_keys(boxes, i, boxes, j, spec) == cell
    return i[keep], j[keep]


def cross_pairs(
    query: Boxes, target_cells: SortedCells, target: Boxes, spec: GridSpec
) -> tuple[IntArray, IntArray]:
    """Each (query box, target box) pair that intersects, once: indices into `query`, `target`."""
    qcells = file_boxes(query, spec)
    if len(qcells.keys) == 0 or len(target_cells.keys) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty
    lo = np.searchsorted(target_cells.keys, qcells.keys, side="left")
    hi = np.searchsorted(target_cells.keys, qcells.keys, side="right")
    counts = hi - lo
    total = int(counts.sum())
    qpos = np.repeat(np.arange(len(qcells.keys), dtype=np.int64), counts)
    tpos = np.repeat(lo, counts) + np.arange(total, dtype=np.int64) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    i, j = qcells.ids[qpos], target_cells.ids[tpos]
    keep = _intersect(query, i, target, j)
    i, j, cell = i[keep], j[keep], qcells.keys[qpos[keep]]
    keep = _ref_keys(query, i, target, j, spec) == cell
    return i[keep], j[keep]
