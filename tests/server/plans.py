"""Plan-file features for the server tests, on 2015-10-01 (see `conftest.DAY`)."""

from __future__ import annotations

from typing import Any

T0 = "2015-10-01T06:00:00Z"
T1 = "2015-10-01T07:00:00Z"


def flight(
    item_id: str,
    coords: list[tuple[float, float, float]] | None = None,
    times: list[str] | None = None,
    **props: Any,
) -> dict[str, Any]:
    """A flight feature; by default west to east along 36N at 6000 m, 06:00-07:00."""
    coords = coords or [(36.0, 36.0, 6000.0), (37.0, 36.0, 6000.0)]
    return {
        "type": "Feature",
        "id": item_id,
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]},
        "properties": {"kind": "flight", "coordTimes": times or [T0, T1], **props},
    }


def crossing_flight(item_id: str, **props: Any) -> dict[str, Any]:
    """A flight south to north across the default flight's path at its middle, same level."""
    return flight(item_id, [(36.5, 35.5, 6000.0), (36.5, 36.5, 6000.0)], **props)


def distant_flight(item_id: str, **props: Any) -> dict[str, Any]:
    """A flight far from the others (over 30N)."""
    return flight(item_id, [(36.0, 30.0, 6000.0), (37.0, 30.0, 6000.0)], **props)


def area(
    item_id: str, kind: str, lon: float, lat: float, radius_m: float, **props: Any
) -> dict[str, Any]:
    """A circular area (airspace, ground, zone) or a strike (its radius is `radius_m`)."""
    return {
        "type": "Feature",
        "id": item_id,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"kind": kind, "radius_m": radius_m, "start": T0, "end": T1, **props},
    }


def plan(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}
