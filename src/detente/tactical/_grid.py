"""Broad phase of the tactical detector: boxes on a cube-face grid, swept in altitude.

Each track is one box: an ECEF box (`lo`, `hi`, metres) and an altitude range (`z0`, `z1`). As in
`detente.detect.grid`, the surface is cut into square cells on the six faces of a cube around the
Earth: a box is filed on every face whose region (the points whose largest ECEF coordinate, in
magnitude, is that face's axis) it reaches, in every cell its projection on the face's two other
axes covers. Nothing depends on longitude or latitude, so the poles and the antimeridian are
ordinary places.

Altitude needs no bins: entries of a cell are kept in order of `z0`, so each entry pairs only
with the run of later entries whose `z0` does not exceed its `z1` (a sweep, found by one binary
search per entry; altitudes are quantised outwards, which can only add pairs). A pair whose
boxes meet is reported once, from the lowest face both reach and the cell holding the low
corner of the intersection of their projections.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

__all__ = ["PairJob", "TrackBoxes", "pair_jobs"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PairJob = Callable[[], tuple[IntArray, IntArray]]

_AXIS_BITS = 14
_AXIS_TOP = (1 << _AXIS_BITS) - 1
_AXIS_OFFSET_M = 7_400_000.0
_Z_BITS = 31
# The two in-plane ECEF axes of faces +X, -X, +Y, -Y, +Z, -Z.
_U_AXIS = np.array([1, 1, 0, 0, 0, 0])
_V_AXIS = np.array([2, 2, 2, 2, 1, 1])


@dataclass(frozen=True, slots=True)
class TrackBoxes:
    """One box per track: `lo`, `hi` of shape (3, n) in ECEF metres; `z0`, `z1` altitudes (m).

    `grow` (m) is how far each box was grown around its track's segment (for the caller).
    """

    lo: FloatArray
    hi: FloatArray
    z0: FloatArray
    z1: FloatArray
    grow: FloatArray

    def __len__(self) -> int:
        return len(self.z0)


@dataclass(frozen=True, slots=True)
class _Filed:
    """Grid entries sorted by (cell, `z0`), with what the pair tests read copied per entry.

    Entries of one cell sit together, so reading them by entry index stays in cache.
    """

    boxes: IntArray  # box of each entry
    ends: IntArray  # for each entry, one past the last later entry it may pair with
    lo: FloatArray  # (3, entries): the entry's box
    hi: FloatArray
    first: NDArray[np.int8]  # bit 0: the cell is the box's lowest in u on this face; bit 1: in v
    faces: NDArray[np.int8]  # bit mask of the faces the box reaches
    lower: NDArray[np.int8]  # bits of the faces below this entry's face


def pair_jobs(boxes: TrackBoxes, cell_m: float, chunk_pairs: int) -> list[PairJob]:
    """Jobs that together give each pair of tracks whose boxes meet, once, as `(i, j)`, `i < j`.

    Each job tests about `chunk_pairs` grid pairs, which bounds its memory; jobs are
    independent and may run on several threads.

    >>> lo = np.array([[6.0e6, 6.0e6, 6.1e6], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    >>> boxes = TrackBoxes(lo, lo + 2.0, np.zeros(3), np.ones(3), np.ones(3))
    >>> [(int(i), int(j)) for job in pair_jobs(boxes, 10_000.0, 100) for i, j in zip(*job())]
    [(0, 1)]
    """
    if len(boxes) < 2:
        return []
    filed = _file(boxes, cell_m)
    counts = filed.ends - np.arange(len(filed.ends)) - 1
    total = np.r_[0, np.cumsum(counts)]
    cuts = np.searchsorted(total, np.arange(chunk_pairs, int(total[-1]), chunk_pairs))
    bounds = np.unique(np.r_[0, cuts, len(counts)])
    return [
        partial(_pairs, filed, int(a), int(b))
        for a, b in itertools.pairwise(bounds)
        if total[b] > total[a]
    ]


def _faces(lo: FloatArray, hi: FloatArray) -> IntArray:
    """Bit mask of the cube faces each box reaches (bit 2a for +axis a, 2a + 1 for -axis a)."""
    least = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    mask = np.zeros(lo.shape[1], np.int64)
    for axis in range(3):
        b, c = (a for a in range(3) if a != axis)
        bound = np.maximum(least[b], least[c])
        mask |= ((hi[axis] > 0) & (hi[axis] >= bound)).astype(np.int64) << (2 * axis)
        mask |= ((lo[axis] < 0) & (-lo[axis] >= bound)).astype(np.int64) << (2 * axis + 1)
    return mask


def _cells(v: FloatArray, cell_m: float) -> IntArray:
    return np.clip(np.floor((v + _AXIS_OFFSET_M) / cell_m), 0, _AXIS_TOP).astype(np.int64)


def _pack(face: IntArray, iu: IntArray, iv: IntArray) -> IntArray:
    return (face << (2 * _AXIS_BITS)) | (iu << _AXIS_BITS) | iv


def _file(boxes: TrackBoxes, cell_m: float) -> _Filed:
    lo, hi = boxes.lo, boxes.hi
    faces = _faces(lo, hi)
    box, face = np.nonzero((faces[:, None] >> np.arange(6)) & 1)
    u, v = _U_AXIS[face], _V_AXIS[face]
    n = lo.shape[1]
    u0 = _cells(lo.ravel().take(u * n + box), cell_m)
    v0 = _cells(lo.ravel().take(v * n + box), cell_m)
    nu = _cells(hi.ravel().take(u * n + box), cell_m) - u0 + 1
    nv = _cells(hi.ravel().take(v * n + box), cell_m) - v0 + 1
    count = nu * nv
    row = np.repeat(np.arange(len(count)), count)
    k = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    du, dv = k % nu.take(row), k // nu.take(row)
    keys = _pack(face.take(row), u0.take(row) + du, v0.take(row) + dv)
    # Altitude quantised on 31 bits, rounded outwards, beside the cell key: sorting this one
    # array puts each cell's entries together, in order of z0.
    base = float(boxes.z0.min())
    step = max((float(boxes.z1.max()) - base) / float(1 << _Z_BITS), 1e-6)
    zq0 = np.floor((boxes.z0 - base) / step).astype(np.int64)
    zq1 = np.minimum(np.floor((boxes.z1 - base) / step).astype(np.int64) + 1, 1 << _Z_BITS)
    entry_box = box.take(row)
    composite = (keys << (_Z_BITS + 1)) | zq0.take(entry_box)
    sort = np.argsort(composite)
    composite, keys, row, entry_box = (
        composite.take(sort),
        keys.take(sort),
        row.take(sort),
        entry_box.take(sort),
    )
    ends = np.searchsorted(composite, (keys << (_Z_BITS + 1)) | zq1.take(entry_box), side="right")
    first = (du.take(sort) == 0).astype(np.int8) | ((dv.take(sort) == 0).astype(np.int8) << 1)
    return _Filed(
        boxes=entry_box,
        ends=ends,
        lo=lo.take(entry_box, axis=1),
        hi=hi.take(entry_box, axis=1),
        first=first.astype(np.int8),
        faces=faces.take(entry_box).astype(np.int8),
        lower=((1 << face.take(row)) - 1).astype(np.int8),
    )


def _pairs(filed: _Filed, first: int, last: int) -> tuple[IntArray, IntArray]:
    """Pairs of entries `first` to `last` with later entries of their cell, tested and deduped."""
    counts = filed.ends[first:last] - np.arange(first, last) - 1
    a = np.repeat(np.arange(first, last), counts)
    b = a + 1 + np.arange(len(a)) - np.repeat(np.cumsum(counts) - counts, counts)
    # Reported once: from the cell holding the low corner of the two boxes' intersection on
    # the lowest face both reach (a cell is the low corner's when it is either box's lowest).
    keep = ((filed.first.take(a) | filed.first.take(b)) == 3) & (
        (filed.faces.take(a) & filed.faces.take(b) & filed.lower.take(a)) == 0
    )
    a, b = a[keep], b[keep]
    lo, hi = filed.lo, filed.hi
    for axis in range(3):
        lo_axis, hi_axis = lo[axis], hi[axis]
        keep = (lo_axis.take(a) <= hi_axis.take(b)) & (lo_axis.take(b) <= hi_axis.take(a))
        a, b = a[keep], b[keep]
    i, j = filed.boxes.take(a), filed.boxes.take(b)
    return np.minimum(i, j), np.maximum(i, j)
