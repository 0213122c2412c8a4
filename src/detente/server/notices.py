"""Conflicts as stored, and what each party is told of them (minimum disclosure).

A party sees its own item by reference (and whole through `GET /v1/items`). Of the other
party's item it sees the party, the kind, the conflict's intervals and worst points, and the
item's geometry near the conflict only: a flight's track during the conflict (plus the
agreement's `notice_margin_s` on each side); an area's outline cut to the neighbourhood of the
party's own item during the conflict. Never the other item's id, callsign, aircraft, name,
full route or window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from shapely.geometry import mapping, shape

from detente.detect.clip import item_outline
from detente.interop.results import conflict_record, format_instant
from detente.model import Agreement, Area, Conflict, Flight, Item, ItemRef

__all__ = ["PairConflict", "disclose", "group_pairs", "notice_view"]

_M_PER_DEG = 111_320.0


@dataclass(slots=True)
class PairConflict:
    """Every loss between one pair of items (the engine's `a` and `b`), worst first."""

    a: ItemRef
    b: ItemRef
    kind: str
    runs: list[Conflict]

    @property
    def start(self) -> float:
        return min(c.start for c in self.runs)

    @property
    def end(self) -> float:
        return max(c.end for c in self.runs)

    def detail(self) -> dict[str, Any]:
        runs = [conflict_record(c) for c in self.runs]
        for run in runs:
            del run["a"], run["b"], run["kind"]
        return {"runs": runs}


def group_pairs(conflicts: Sequence[Conflict]) -> list[PairConflict]:
    """Conflicts grouped by item pair, each pair's runs worst first."""
    pairs: dict[tuple[ItemRef, ItemRef], PairConflict] = {}
    for c in conflicts:
        pair = pairs.setdefault((c.a, c.b), PairConflict(c.a, c.b, c.kind.value, []))
        pair.runs.append(c)
    for pair in pairs.values():
        pair.runs.sort(key=lambda c: c.sort_key)
    return list(pairs.values())


def disclose(
    other: Item, own: Item, start: float, end: float, agreement: Agreement
) -> dict[str, Any]:
    """What the party of `own` may see of `other` for a conflict during `[start, end]`."""
    t0, t1 = start - agreement.notice_margin_s, end + agreement.notice_margin_s
    if isinstance(other, Flight):
        t0, t1 = max(t0, other.start), min(t1, other.end)
        kind, coordinates = item_outline(other, t0, t1)
        geometry: dict[str, Any] | None = {"type": kind, "coordinates": coordinates}
    else:
        geometry = _area_near(other, own, start, end, agreement)
    return {
        "party": other.party,
        "kind": other.kind.value,
        "band": _band(other),
        "geometry": geometry,
    }


def _band(item: Item) -> dict[str, float | None] | None:
    if not isinstance(item, Area):
        return None
    lower, upper = item.band.lower_m, item.band.upper_m
    return {
        "lower_m": lower if math.isfinite(lower) else None,
        "upper_m": upper if math.isfinite(upper) else None,
    }


def _area_near(
    other: Area, own: Item, start: float, end: float, agreement: Agreement
) -> dict[str, Any] | None:
    """The other area's outline cut to a box around the own item during the conflict."""
    own_kind, own_coords = item_outline(own, max(start, own.start), min(end, own.end))
    footprint = shape({"type": own_kind, "coordinates": own_coords})
    reach = agreement.horizontal_m + agreement.ground_buffer_m + other.reach_m
    if isinstance(own, Area):
        reach += own.reach_m
    lon0, lat0, lon1, lat1 = footprint.bounds
    # At least a hair's breadth (1e-9 degrees): GEOS refuses an empty box (a tiny `reach`).
    grow_lat = max(reach / _M_PER_DEG, 1e-9)
    grow_lon = max(
        reach / (_M_PER_DEG * max(math.cos(math.radians(max(abs(lat0), abs(lat1)))), 0.01)), 1e-9
    )
    outline_kind, outline_coords = item_outline(other, other.start, other.end)
    outline = shape({"type": outline_kind, "coordinates": outline_coords})
    if outline.geom_type == "Point":
        outline = outline.buffer(1e-9)
    cut = shapely.clip_by_rect(
        outline, lon0 - grow_lon, lat0 - grow_lat, lon1 + grow_lon, lat1 + grow_lat
    )
    if cut.is_empty:
        return None
    return dict(mapping(shapely.set_precision(cut, 1e-7)))


def notice_view(
    row: Any, party: int, *, own_feature: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A conflict as `party` sees it; `row` is a `conflicts` row."""
    role, other_view = ("a", row.b_view) if party == row.a_party else ("b", row.a_view)
    detail = orjson.loads(row.detail)
    runs = detail["runs"]
    own: dict[str, Any] = {
        "id": detail[f"{role}_id"],
        "kind": detail[f"{role}_kind"],
        "version": detail[f"{role}_version"],
    }
    if own_feature is not None:
        own["feature"] = own_feature
    return {
        "id": row.id,
        "status": row.status,
        "kind": row.kind,
        "start": format_instant(row.start_s),
        "end": format_instant(row.end_s),
        "worst": runs[0]["closest"],
        "intervals": runs,
        "own": own,
        "other": orjson.loads(other_view),
        "raised_at": format_instant(row.raised_at),
        "changed_at": format_instant(row.changed_at),
    }
