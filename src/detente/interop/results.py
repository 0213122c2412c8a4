"""Conflicts out: the JSON result of the contract, and GeoJSON for GIS tools."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from detente.model import Conflict, Item, ItemRef

__all__ = ["conflicts_geojson", "conflicts_json", "format_instant"]

# Where an item is during a conflict's interval: a GeoJSON geometry type and its coordinates.
Clipper = Callable[[Item, float, float], tuple[str, Any]]


def format_instant(t: float) -> str:
    """An epoch time as an ISO 8601 UTC instant, to the millisecond, without trailing zeros.

    >>> format_instant(1443679924.2)
    '2015-10-01T06:12:04.2Z'
    >>> format_instant(1443679920.0)
    '2015-10-01T06:12:00Z'
    """
    millis = round(t * 1000)
    seconds, ms = divmod(millis, 1000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{ms:03d}".rstrip("0").rstrip(".")
    return f"{stamp}{fraction}Z"


def _round(value: float, places: int) -> float:
    return round(value, places) if math.isfinite(value) else value


def conflict_record(conflict: Conflict) -> dict[str, Any]:
    """One conflict as the contract's JSON object."""
    c = conflict.closest
    return {
        "kind": conflict.kind.value,
        "a": {"party": conflict.a.party, "id": conflict.a.id},
        "b": {"party": conflict.b.party, "id": conflict.b.id},
        "start": format_instant(conflict.start),
        "end": format_instant(conflict.end),
        "closest": {
            "time": format_instant(c.time),
            "position": [_round(c.lon, 7), _round(c.lat, 7), _round(c.alt_m, 1)],
            "horizontal_m": _round(c.horizontal_m, 1),
            "vertical_m": _round(c.vertical_m, 1),
        },
    }


def conflicts_json(conflicts: Sequence[Conflict], items: int, seconds: float) -> bytes:
    """The contract's result document: conflicts and stats."""
    return orjson.dumps(
        {
            "conflicts": [conflict_record(c) for c in conflicts],
            "stats": {"items": items, "conflicts": len(conflicts), "seconds": round(seconds, 3)},
        },
        option=orjson.OPT_INDENT_2,
    )


def conflicts_geojson(
    conflicts: Sequence[Conflict], items: Mapping[ItemRef, Item], clip: Clipper
) -> bytes:
    """A FeatureCollection per conflict: the worst point, and both items during the conflict.

    Every feature carries `conflict` (its index in the list) and `role`: `closest`, `a` or `b`.
    """
    features: list[dict[str, Any]] = []
    for n, conflict in enumerate(conflicts):
        record = conflict_record(conflict)
        base = {
            "conflict": n,
            "kind": record["kind"],
            "start": record["start"],
            "end": record["end"],
            "a_party": conflict.a.party,
            "a_id": conflict.a.id,
            "b_party": conflict.b.party,
            "b_id": conflict.b.id,
        }
        closest = record["closest"]
        features.append(
            {
                "type": "Feature",
                "id": f"conflict-{n}",
                "geometry": {"type": "Point", "coordinates": closest["position"]},
                "properties": {
                    **base,
                    "role": "closest",
                    "time": closest["time"],
                    "horizontal_m": closest["horizontal_m"],
                    "vertical_m": closest["vertical_m"],
                },
            }
        )
        for role, ref in (("a", conflict.a), ("b", conflict.b)):
            item = items[ref]
            geometry_type, coordinates = clip(item, conflict.start, conflict.end)
            features.append(
                {
                    "type": "Feature",
                    "id": f"conflict-{n}-{role}",
                    "geometry": {"type": geometry_type, "coordinates": coordinates},
                    "properties": {
                        **base,
                        "role": role,
                        "party": ref.party,
                        "item": ref.id,
                        "item_kind": item.kind.value,
                    },
                }
            )
    return orjson.dumps(
        {"type": "FeatureCollection", "features": features}, option=orjson.OPT_INDENT_2
    )
