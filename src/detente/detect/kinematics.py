"""Narrow phase for two flights: exact loss-of-separation intervals in closed form.

On a pair of pieces the relative ground position is linear in time, so the squared horizontal
distance is a quadratic and the altitude difference is linear. Their sub-threshold sets are open
intervals found from the roots; the loss is where both hold inside the common time span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detente.geo import surface_normal

from .trajectories import Pieces

__all__ = ["Losses", "Spans", "flight_losses", "linear_below", "merge_spans"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MERGE_GAP_S = 1e-6


@dataclass(slots=True)
class Spans:
    """Time intervals `[lo, hi]` per row; rows with `lo >= hi` are empty."""

    lo: FloatArray
    hi: FloatArray

    def __and__(self, other: Spans) -> Spans:
        return Spans(np.maximum(self.lo, other.lo), np.minimum(self.hi, other.hi))

    @property
    def nonempty(self) -> BoolArray:
        return self.lo < self.hi


def quadratic_below(a: FloatArray, b: FloatArray, c: FloatArray) -> Spans:
    """Where `a·t² + b·t + c < 0`, for `a >= 0`, as one interval per row (may be empty).

    >>> s = quadratic_below(np.array([1.0]), np.array([0.0]), np.array([-4.0]))
    >>> float(s.lo[0]), float(s.hi[0])
    (-2.0, 2.0)
    """
    inf = np.full(a.shape, np.inf)
    lo, hi = inf.copy(), -inf
    linear = a <= 1e-300
    # Constant: the whole line or nothing.
    whole = linear & (c < 0)
    lo[whole], hi[whole] = -np.inf, np.inf
    disc = b * b - 4.0 * a * c
    ok = ~linear & (disc > 0)
    sq = np.sqrt(np.where(ok, disc, 0.0))
    # Numerically stable roots: q = -(b + sign(b)·sqrt(disc)) / 2.
    q = -0.5 * (b + np.copysign(sq, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(ok, q / np.where(ok, a, 1.0), np.inf)
        r2 = np.where(ok & (q != 0), c / np.where(q != 0, q, 1.0), 0.0)
    lo[ok] = np.minimum(r1, r2)[ok]
    hi[ok] = np.maximum(r1, r2)[ok]
    return Spans(lo, hi)


def linear_below(
    value0: FloatArray, rate: FloatArray, lower: FloatArray, upper: FloatArray
) -> Spans:
    """Where `lower < value0 + rate·t < upper`, as one interval per row (may be empty).

    >>> s = linear_below(np.array([0.0]), np.array([2.0]), np.array([-1.0]), np.array([3.0]))
    >>> float(s.lo[0]), float(s.hi[0])
    (-0.5, 1.5)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = (lower - value0) / rate
        tb = (upper - value0) / rate
    moving = rate != 0
    inside = (lower < value0) & (value0 < upper)
    lo = np.where(moving, np.minimum(ta, tb), np.where(inside, -np.inf, np.inf))
    hi = np.where(moving, np.maximum(ta, tb), np.where(inside, np.inf, -np.inf))
    return Spans(np.nan_to_num(lo, nan=np.inf), np.nan_to_num(hi, nan=-np.inf))


@dataclass(slots=True)
class Losses:
    """Loss intervals between pieces `i` and `j`, with the least distance inside each."""

    i: IntArray
    j: IntArray
    start: FloatArray
    end: FloatArray
    t_min: FloatArray
    d2_min: FloatArray

    @staticmethod
    def concat(parts: list[Losses]) -> Losses:
        if not parts:
            i = np.empty(0, np.int64)
            f = np.empty(0, np.float64)
            return Losses(i, i, f, f, f, f)
        return Losses(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in Losses.__slots__)
        )


def flight_losses(
    pieces: Pieces, i: IntArray, j: IntArray, horizontal_m: float, vertical_m: float
) -> Losses:
    """Loss-of-separation intervals between candidate piece pairs `(i, j)`."""
    ts = np.maximum(pieces.t0[i], pieces.t0[j])
    te = np.minimum(pieces.t1[i], pieces.t1[j])
    # The vertical condition first: it is cheap and clears most pairs.
    za = pieces.z0[i] + pieces.climb[i] * (ts - pieces.t0[i])
    zb = pieces.z0[j] + pieces.climb[j] * (ts - pieces.t0[j])
    n = len(ts)
    vertical = linear_below(
        za - zb, pieces.climb[i] - pieces.climb[j], np.full(n, -vertical_m), np.full(n, vertical_m)
    ) & Spans(np.zeros(n), te - ts)
    live = np.flatnonzero(vertical.nonempty)
    i, j, ts = i[live], j[live], ts[live]
    vertical = Spans(vertical.lo[live], vertical.hi[live])

    pa, _ = pieces.position(i, ts)
    pb, _ = pieces.position(j, ts)
    # Horizontal means in the plane tangent to the ellipsoid here: projecting out the normal
    # removes the different sag of two chords (up to L²/8R) from their distance.
    up = surface_normal((pa + pb) / 2.0)
    d0 = _tangential(pa - pb, up)
    dv = _tangential(pieces.velocity[i] - pieces.velocity[j], up)
    a = np.einsum("ij,ij->i", dv, dv)
    b = 2.0 * np.einsum("ij,ij->i", d0, dv)
    c = np.einsum("ij,ij->i", d0, d0) - horizontal_m * horizontal_m
    loss = vertical & quadratic_below(a, b, c)
    keep = loss.nonempty
    lo, hi = loss.lo[keep], loss.hi[keep]
    a, b, c = a[keep], b[keep], c[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(a > 0, -b / (2.0 * np.where(a > 0, a, 1.0)), lo)
    t_min = np.clip(vertex, lo, hi)
    d2 = (a * t_min + b) * t_min + c + horizontal_m * horizontal_m
    base = ts[keep]
    return Losses(i[keep], j[keep], base + lo, base + hi, base + t_min, np.maximum(d2, 0.0))


def _tangential(v: FloatArray, up: FloatArray) -> FloatArray:
    return v - np.einsum("ij,ij->i", v, up)[:, None] * up


def merge_spans(group: IntArray, start: FloatArray, end: FloatArray) -> IntArray:
    """Label runs of touching intervals within each group; rows must be sorted by (group, start).

    Intervals of one group never overlap (they come from disjoint time slabs), so a new run
    starts where the group changes or where there is a gap after the previous interval.

    >>> group = np.array([0, 0, 0, 1])
    >>> merge_spans(group, np.array([0.0, 1.0, 5.0, 1.0]), np.array([1.0, 2.0, 6.0, 2.0])).tolist()
    [0, 0, 1, 2]
    """
    if len(group) == 0:
        return np.empty(0, np.int64)
    new = np.r_[True, (group[1:] != group[:-1]) | (start[1:] > end[:-1] + MERGE_GAP_S)]
    return np.cumsum(new) - 1
