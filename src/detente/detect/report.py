"""From loss intervals to reported conflicts: merge, find the worst instant, name the items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from numpy.typing import NDArray

from detente.geo import geodesic_distance_m, geodetic
from detente.model import Area, Closest, Conflict, ConflictKind, Item, ItemRef

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


def _ref(item: Item) -> ItemRef:
    return ItemRef(item.party, item.id)


def flight_conflicts(items: Sequence[Item], pieces: Pieces, losses: Losses) -> list[Conflict]:
    """Air conflicts between flights: one per disjoint loss interval of a pair."""
    if len(losses.i) == 0:
        return []
    oi, oj = pieces.owner[losses.i], pieces.owner[losses.j]
    involved = np.unique(np.concatenate([oi, oj]))
    rank = np.empty(int(involved.max()) + 1, np.int64)
    rank[involved[np.argsort([_ref(items[k]) for k in involved.tolist()])]] = np.arange(
        len(involved)
    )
    swap = rank[oi] > rank[oj]
    pa = np.where(swap, losses.j, losses.i)
    pb = np.where(swap, losses.i, losses.j)
    oa, ob = pieces.owner[pa], pieces.owner[pb]
    group = oa * (int(oi.max()) + int(oj.max()) + 2) + ob
    order, first, last, worst = _runs(group, losses.start, losses.end, losses.d2_min, losses.t_min)

    t = losses.t_min[worst]
    xa, za = pieces.position(pa[worst], t)
    xb, zb = pieces.position(pb[worst], t)
    lon_a, lat_a, _ = geodetic(xa)
    lon_b, lat_b, _ = geodetic(xb)
    horizontal = geodesic_distance_m(lon_a, lat_a, lon_b, lat_b)
    out = []
    for r in range(len(first)):
        row_first, row_last = order[first[r]], order[last[r]]
        w = worst[r]
        out.append(
            Conflict(
                ConflictKind.AIR,
                _ref(items[int(oa[w])]),
                _ref(items[int(ob[w])]),
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
    xyz, z = pieces.position(parts.piece[worst], t)
    lon, lat, _ = geodetic(xyz)
    band = area.band
    if rule.kind is ConflictKind.STRIKE_AIR:
        vertical = np.maximum(z - band.upper_m, 0.0)
    else:
        vertical = np.maximum(np.maximum(band.lower_m - z, z - band.upper_m), 0.0)
    out = []
    for r in range(len(first)):
        flight_ref = _ref(items[int(owner[worst[r]])])
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
    lon, lat = first.frame.inverse([verdict.x], [verdict.y])
    return Conflict(
        kind,
        first.item.ref,
        second.item.ref,
        verdict.start,
        verdict.end,
        Closest(
            verdict.start,
            float(lon[0]),
            float(lat[0]),
            verdict.alt_m,
            verdict.horizontal_m,
            verdict.vertical_m,
        ),
    )
