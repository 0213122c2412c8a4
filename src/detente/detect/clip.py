"""Where an item is during an interval: a flight's track clipped in time, an area's outline."""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from detente.geo import GEOD
from detente.model import Flight, Item

__all__ = ["flight_position", "item_outline"]

CIRCLE_VERTICES = 72


def flight_position(flight: Flight, t: float) -> tuple[float, float, float]:
    """(lon, lat, alt) of a flight at time `t` (clamped to its span), on the geodesic.

    >>> f = Flight("blue", "v1", (0.0, 1.0), (0.0, 0.0), (1000.0, 2000.0), (0.0, 100.0))
    >>> [round(v, 6) for v in flight_position(f, 50.0)]
    [0.5, 0.0, 1500.0]
    """
    times = flight.times
    t = min(max(t, times[0]), times[-1])
    k = min(max(bisect.bisect_right(times, t) - 1, 0), len(times) - 2)
    t0, t1 = times[k], times[k + 1]
    f = 0.0 if t1 <= t0 else (t - t0) / (t1 - t0)
    lon0, lat0, lon1, lat1 = flight.lon[k], flight.lat[k], flight.lon[k + 1], flight.lat[k + 1]
    alt = flight.alt_m[k] + f * (flight.alt_m[k + 1] - flight.alt_m[k])
    if f <= 0.0:
        return lon0, lat0, alt
    if f >= 1.0:
        return lon1, lat1, alt
    az, _, dist = GEOD.inv(lon0, lat0, lon1, lat1)
    lon, lat, _ = GEOD.fwd(lon0, lat0, az, dist * f)
    return float(lon), float(lat), alt


def _circle(lon: float, lat: float, radius_m: float) -> list[list[float]]:
    az = np.linspace(0.0, 360.0, CIRCLE_VERTICES, endpoint=False)
    lons, lats, _ = GEOD.fwd(
        np.full_like(az, lon), np.full_like(az, lat), az, np.full_like(az, radius_m)
    )
    ring = [[float(x), float(y)] for x, y in zip(lons, lats, strict=True)]
    return [*ring, ring[0]]


def item_outline(item: Item, t0: float, t1: float) -> tuple[str, Any]:
    """A GeoJSON geometry type and coordinates for `item` during `[t0, t1]`.

    A flight gives its track from `t0` to `t1`; an area its shape (a circle as a polygon; a
    strike's aim point as a point).
    """
    if isinstance(item, Flight):
        inner = [k for k, t in enumerate(item.times) if t0 < t < t1]
        track = [flight_position(item, t0)]
        track += [(item.lon[k], item.lat[k], item.alt_m[k]) for k in inner]
        track.append(flight_position(item, t1))
        return "LineString", [list(p) for p in track]
    shape = item.shape
    if shape.center is not None:
        if shape.radius_m > 0:
            return "Polygon", [_circle(shape.center[0], shape.center[1], shape.radius_m)]
        return "Point", list(shape.center)
    polygons = [[[list(p) for p in ring] for ring in polygon] for polygon in shape.polygons]
    if len(polygons) == 1:
        return "Polygon", polygons[0]
    return "MultiPolygon", polygons
