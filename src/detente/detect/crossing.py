"""Narrow phase for a flight against an area: when is the flight inside the area's reach.

Within a piece, position, altitude and time are linear in one parameter `f` in [0, 1]. The set of
`f` where the flight is within the grown shape comes from clipping the piece's image in the area's
frame with the grown polygon; the altitude and window conditions are linear in `f`. The loss is the
intersection of the three, mapped back to time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from ._arrays import expand
from .areas import PreparedArea
from .kinematics import Spans, linear_below
from .rules import AreaRule
from .trajectories import Pieces

__all__ = ["AreaParts", "area_crossings"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Pieces are cut into sub-pieces of at most this length before they meet a shape, so that a
# straight line in the area's frame stays within centimetres of the geodesic.
SUBPIECE_M = 25_000.0
# Pieces near a large area are measured in frames centred on tiles of this size.
TILE_M = 300_000.0


@dataclass(slots=True)
class AreaParts:
    """Loss intervals of pieces against one area, with the least distance to its shape in each."""

    piece: IntArray
    start: FloatArray
    end: FloatArray
    t_min: FloatArray
    d_min: FloatArray

    @staticmethod
    def empty() -> AreaParts:
        f = np.empty(0, np.float64)
        return AreaParts(np.empty(0, np.int64), f, f, f, f)

    @staticmethod
    def concat(parts: list[AreaParts]) -> AreaParts:
        if not parts:
            return AreaParts.empty()
        return AreaParts(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in AreaParts.__slots__)
        )


def _subpieces(pieces: Pieces, k: IntArray) -> tuple[IntArray, FloatArray, FloatArray]:
    chord = np.linalg.norm(pieces.p1[k] - pieces.p0[k], axis=1)
    m = np.maximum(1, np.ceil(chord / SUBPIECE_M).astype(np.int64))
    row, q = expand(m)
    return k[row], q / m[row], (q + 1) / m[row]


def _fractions(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, cx: FloatArray, cy: FloatArray
) -> FloatArray:
    """Where points `c` project on segments `a -> b`, as a fraction of the segment."""
    dx, dy = bx - ax, by - ay
    return ((cx - ax) * dx + (cy - ay) * dy) / (dx * dx + dy * dy)


def _clip_spans(
    lines: NDArray[np.object_],
    region: shapely.Geometry,
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
) -> tuple[IntArray, Spans]:
    """Spans of each segment inside `region`: (row of the segment, fraction span)."""
    clipped = shapely.intersection(lines, region)
    parts, row = shapely.get_parts(clipped, return_index=True)
    is_line = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
    parts, row = parts[is_line], row[is_line]
    if len(parts) == 0:
        return row.astype(np.int64), Spans(np.empty(0), np.empty(0))
    coords, owner = shapely.get_coordinates(parts, return_index=True)
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    last = np.r_[first[1:] - 1, len(owner) - 1]
    r = row.astype(np.int64)
    fa = _fractions(ax[r], ay[r], bx[r], by[r], coords[first, 0], coords[first, 1])
    fb = _fractions(ax[r], ay[r], bx[r], by[r], coords[last, 0], coords[last, 1])
    return r, Spans(np.clip(np.minimum(fa, fb), 0, 1), np.clip(np.maximum(fa, fb), 0, 1))


def area_crossings(
    area: PreparedArea, rule: AreaRule, pieces: Pieces, k: IntArray, time_buffer_s: float
) -> AreaParts:
    """Loss intervals of candidate pieces `k` against `area` under `rule`.

    A large area is measured tile by tile, in a frame centred on each tile of pieces.
    """
    if not area.is_large:
        return _crossings_in_frame(area, rule, pieces, k, time_buffer_s)
    x, y = area.frame.forward_ecef((pieces.p0[k] + pieces.p1[k]) / 2.0)
    tx, ty = np.floor(x / TILE_M), np.floor(y / TILE_M)
    tiles = np.unique(np.column_stack([tx, ty]), axis=0)
    parts = []
    for cx, cy in tiles:
        inside = (tx == cx) & (ty == cy)
        lon, lat = area.frame.inverse([(cx + 0.5) * TILE_M], [(cy + 0.5) * TILE_M])
        local = area.reframed(float(lon[0]), float(lat[0]))
        parts.append(_crossings_in_frame(local, rule, pieces, k[inside], time_buffer_s))
    return AreaParts.concat(parts)


def _crossings_in_frame(
    area: PreparedArea, rule: AreaRule, pieces: Pieces, k: IntArray, time_buffer_s: float
) -> AreaParts:
    item = area.item
    w0, w1 = item.start - time_buffer_s, item.end + time_buffer_s
    k = k[(pieces.t0[k] < w1) & (pieces.t1[k] > w0)]
    if len(k) == 0:
        return AreaParts.empty()
    piece, f0, f1 = _subpieces(pieces, k)
    pa, za = pieces.position(piece, pieces.t0[piece] + f0 * (pieces.t1[piece] - pieces.t0[piece]))
    pb, zb = pieces.position(piece, pieces.t0[piece] + f1 * (pieces.t1[piece] - pieces.t0[piece]))
    span_t = (f1 - f0) * (pieces.t1[piece] - pieces.t0[piece])
    ta = pieces.t0[piece] + f0 * (pieces.t1[piece] - pieces.t0[piece])

    window = Spans((w0 - ta) / span_t, (w1 - ta) / span_t) & Spans(
        np.zeros_like(ta), np.ones_like(ta)
    )
    n = len(ta)
    vertical = linear_below(za, zb - za, np.full(n, rule.lower_m), np.full(n, rule.upper_m))
    pre = window & vertical
    live = pre.nonempty
    piece, ta, span_t, za, zb = piece[live], ta[live], span_t[live], za[live], zb[live]
    pre = Spans(pre.lo[live], pre.hi[live])
    ax, ay = area.frame.forward_ecef(pa[live])
    bx, by = area.frame.forward_ecef(pb[live])
    if len(ax) == 0:
        return AreaParts.empty()

    region = area.grown(rule.grow_m)
    still = (ax == bx) & (ay == by)
    rows: list[IntArray] = []
    spans: list[Spans] = []
    if still.any():
        idx = np.flatnonzero(still)
        inside = shapely.contains_xy(region, ax[idx], ay[idx])
        idx = idx[inside]
        rows.append(idx)
        spans.append(Spans(np.zeros(len(idx)), np.ones(len(idx))))
    moving = np.flatnonzero(~still)
    if len(moving):
        lines = shapely.linestrings(
            np.stack(
                [
                    np.column_stack([ax[moving], ay[moving]]),
                    np.column_stack([bx[moving], by[moving]]),
                ],
                axis=1,
            )
        )
        r, s = _clip_spans(lines, region, ax[moving], ay[moving], bx[moving], by[moving])
        rows.append(moving[r])
        spans.append(s)
    row = np.concatenate(rows) if rows else np.empty(0, np.int64)
    if len(row) == 0:
        return AreaParts.empty()
    hspan = Spans(np.concatenate([s.lo for s in spans]), np.concatenate([s.hi for s in spans]))
    loss = hspan & Spans(pre.lo[row], pre.hi[row])
    keep = loss.nonempty
    row, lo, hi = row[keep], loss.lo[keep], loss.hi[keep]
    if len(row) == 0:
        return AreaParts.empty()

    # Least distance to the shape on each clipped part, at its earliest point.
    cx0 = ax[row] + lo * (bx[row] - ax[row])
    cy0 = ay[row] + lo * (by[row] - ay[row])
    cx1 = ax[row] + hi * (bx[row] - ax[row])
    cy1 = ay[row] + hi * (by[row] - ay[row])
    f_min = lo.copy()
    d_min = np.maximum(shapely.distance(shapely.points(cx0, cy0), area.core) - area.radius_m, 0.0)
    moved = (cx0 != cx1) | (cy0 != cy1)
    if moved.any():
        m = np.flatnonzero(moved)
        clipped = shapely.linestrings(
            np.stack([np.column_stack([cx0[m], cy0[m]]), np.column_stack([cx1[m], cy1[m]])], axis=1)
        )
        dist = np.maximum(shapely.distance(clipped, area.core) - area.radius_m, 0.0)
        touching = dist <= 0.0
        where = np.empty(len(m))
        if (~touching).any():
            near = shapely.shortest_line(clipped[~touching], area.core)
            pts = shapely.get_point(near, 0)
            where[~touching] = _fractions(
                cx0[m][~touching],
                cy0[m][~touching],
                cx1[m][~touching],
                cy1[m][~touching],
                shapely.get_x(pts),
                shapely.get_y(pts),
            )
        if touching.any():
            t_idx = np.flatnonzero(touching)
            r, s = _clip_spans(
                clipped[t_idx],
                area.solid,
                cx0[m][t_idx],
                cy0[m][t_idx],
                cx1[m][t_idx],
                cy1[m][t_idx],
            )
            earliest = np.full(len(t_idx), np.inf)
            np.minimum.at(earliest, r, s.lo)
            where[t_idx] = np.where(np.isfinite(earliest), earliest, 0.0)
        f_min[m] = lo[m] + np.clip(where, 0, 1) * (hi[m] - lo[m])
        d_min[m] = dist
    return AreaParts(
        piece=piece[row],
        start=ta[row] + lo * span_t[row],
        end=ta[row] + hi * span_t[row],
        t_min=ta[row] + f_min * span_t[row],
        d_min=d_min,
    )
