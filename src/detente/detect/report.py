"""From loss intervals to reported conflicts: merge, find the worst instant, name the items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from numpy.typing import NDArray

from detente.geo import geodesic_distance_m
from detente.model import Area, Closest, Conflict, ConflictKind, Item

from .areas import PreparedArea
from .crossing import AreaParts
from .kinematics import Losses, merge_spans
from .overlap import AreaPairVerdict
from .rules import AreaRule
from .trajectories import Pieces

__all__ = ["area_conflict", "crossing_conflicts", "flight_conflicts"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def _runs(
    group: IntArray, start: FloatArray, end: FloatArray, badness: FloatArray, t_min: FloatArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Merge touching intervals per group.

    Returns the order of rows, run labels in that order, each run's first and last row
    positions (in that order) and each run's worst row (least `badness`, earliest on ties).
    """
    order = np.lexsort((start, group))
    run = merge_spans(group[order], start[order], end[order])
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    last = np.r_[first[1:] - 1, len(run) - 1]
    worst_order = np.lexsort((t_min[order], badness[order], run))
    worst_first = np.flatnonzero(np.r_[True, run[worst_order][1:] != run[worst_order][:-1]])
    worst = order[worst_order[worst_first]]
    return order, first, last, worst


def _geodesic_d2(pieces: Pieces, ka: IntArray, kb: IntArray, t: FloatArray) -> FloatArray:
    lon_a, lat_a = pieces.geodesic_position(ka, t)
    lon_b, lat_b = pieces.geodesic_position(kb, t)
    return geodesic_distance_m(lon_a, lat_a, lon_b, lat_b) ** 2


def _refine_closest(
    pieces: Pieces,
    ka: IntArray,
    kb: IntArray,
    t: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    step_s: float = 1.0,
    rounds: int = 2,
) -> FloatArray:
    """Move the closest instant from the chords' minimum to the geodesics' one.

    The chords put each aircraft within about a metre of its geodesic, which can shift the
    least distance by seconds when two aircraft close slowly. Near its minimum the squared
    geodesic distance is a parabola in time: fit it on three instants and take its vertex,
    kept inside the piece pair's interval; earlier instants win ties.
    """
    for _ in range(rounds):
        before = np.maximum(t - step_s, lo)
        after = np.minimum(t + step_s, hi)
        d_before = _geodesic_d2(pieces, ka, kb, before)
        d_here = _geodesic_d2(pieces, ka, kb, t)
        d_after = _geodesic_d2(pieces, ka, kb, after)
        h1, h2 = t - before, after - t
        with np.errstate(divide="ignore", invalid="ignore"):
            # Divided differences of the parabola through the three points.
            s1 = (d_here - d_before) / h1
            s2 = (d_after - d_here) / h2
            curvature = (s2 - s1) / (h1 + h2)
            slope = s1 + curvature * h1  # derivative at t
            vertex = t - slope / (2.0 * curvature)
        usable = (h1 > 0) & (h2 > 0) & (curvature > 0) & np.isfinite(vertex)
        candidate = np.clip(np.where(usable, vertex, t), lo, hi)
        better = _geodesic_d2(pieces, ka, kb, candidate) < d_here
        t = np.where(better, candidate, t)
    return t


def flight_conflicts(items: Sequence[Item], pieces: Pieces, losses: Losses) -> list[Conflict]:
    """Air conflicts between flights: one per disjoint loss interval of a pair."""
    if len(losses.i) == 0:
        return []
    oi, oj = pieces.owner[losses.i], pieces.owner[losses.j]
    involved = np.unique(np.concatenate([oi, oj]))
    rank = np.empty(int(involved.max()) + 1, np.int64)
    by_ref = sorted(involved.tolist(), key=lambda k: items[k].ref)
    rank[by_ref] = np.arange(len(involved))
    swap = rank[oi] > rank[oj]
    pa = np.where(swap, losses.j, losses.i)
    pb = np.where(swap, losses.i, losses.j)
    oa, ob = pieces.owner[pa], pieces.owner[pb]
    group = oa * (int(oi.max()) + int(oj.max()) + 2) + ob
    order, first, last, worst = _runs(group, losses.start, losses.end, losses.d2_min, losses.t_min)

    ka, kb = pa[worst], pb[worst]
    t = _refine_closest(pieces, ka, kb, losses.t_min[worst], losses.start[worst], losses.end[worst])
    _, za = pieces.position(ka, t)
    _, zb = pieces.position(kb, t)
    lon_a, lat_a = pieces.geodesic_position(ka, t)
    lon_b, lat_b = pieces.geodesic_position(kb, t)
    horizontal = geodesic_distance_m(lon_a, lat_a, lon_b, lat_b)
    out = []
    for r in range(len(first)):
        row_first, row_last = order[first[r]], order[last[r]]
        w = worst[r]
        out.append(
            Conflict(
                ConflictKind.AIR,
                items[int(oa[w])].ref,
                items[int(ob[w])].ref,
                float(losses.start[row_first]),
                float(losses.end[row_last]),
                Closest(
                    float(t[r]),
                    float(lon_a[r]),
                    float(lat_a[r]),
                    float(za[r]),
                    float(horizontal[r]),
                    float(abs(za[r] - zb[r])),
                ),
            )
        )
    return out


def crossing_conflicts(
    items: Sequence[Item], area_index: int, rule: AreaRule, pieces: Pieces, parts: AreaParts
) -> list[Conflict]:
    """Conflicts of flights with one area: one per disjoint interval of each flight."""
    if len(parts.piece) == 0:
        return []
    area = cast(Area, items[area_index])
    owner = pieces.owner[parts.piece]
    order, first, last, worst = _runs(owner, parts.start, parts.end, parts.d_min, parts.t_min)
    t = parts.t_min[worst]
    _, z = pieces.position(parts.piece[worst], t)
    lon, lat = pieces.geodesic_position(parts.piece[worst], t)
    band = area.band
    if rule.kind is ConflictKind.STRIKE_AIR:
        vertical = np.maximum(z - band.upper_m, 0.0)
    else:
        vertical = np.maximum(np.maximum(band.lower_m - z, z - band.upper_m), 0.0)
    out = []
    for r in range(len(first)):
        flight_ref = items[int(owner[worst[r]])].ref
        a, b = (flight_ref, area.ref) if rule.flight_is_a else (area.ref, flight_ref)
        out.append(
            Conflict(
                rule.kind,
                a,
                b,
                float(parts.start[order[first[r]]]),
                float(parts.end[order[last[r]]]),
                Closest(
                    float(t[r]),
                    float(lon[r]),
                    float(lat[r]),
                    float(z[r]),
                    float(parts.d_min[worst[r]]),
                    float(vertical[r]),
                ),
            )
        )
    return out


def area_conflict(
    first: PreparedArea, second: PreparedArea, kind: ConflictKind, verdict: AreaPairVerdict
) -> Conflict:
    """The conflict between two areas, positioned on the first."""
    return Conflict(
        kind,
        first.item.ref,
        second.item.ref,
        verdict.start,
        verdict.end,
        Closest(
            verdict.start,
            verdict.lon,
            verdict.lat,
            verdict.alt_m,
            verdict.horizontal_m,
            verdict.vertical_m,
        ),
    )
