"""Geometries of plan files: positions, trajectories, points and polygons, checked.

Rings come out closed (first vertex == last), exterior first then holes, as `(lon, lat)` tuples
in the order the file gives them; consecutive repeated vertices are dropped. Polygon edges are
geodesics, so an edge whose ends differ by more than 180 degrees of longitude goes the short way
across the antimeridian; validity (no self-intersection, holes inside the shell ...) is judged on
the polygon with its longitudes unwrapped around its first vertex, or, for a ring around a pole,
in an azimuthal projection centred on that pole.
"""

from __future__ import annotations

import math
import re
from typing import Any

import shapely

from detente.interop._values import Invalid, describe, finite_number
from detente.model import PolygonRings, Ring

__all__ = ["point", "polygons", "trajectory"]

_NUMBER_TYPES = frozenset({float, int})
_INF = math.inf
_REASON_AT = re.compile(r"^(?P<what>.*?)\s*\[(?P<x>\S+) (?P<y>\S+)\]$")


def trajectory(
    coords: object, field: str
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """A LineString's `[lon, lat, alt]` positions (at least 2) as three tuples of floats.

    >>> trajectory([[1, 2, 3], [4.5, 5, 6]], "geometry.coordinates")
    ((1.0, 4.5), (2.0, 5.0), (3.0, 6.0))
    """
    if not isinstance(coords, list | tuple):
        raise Invalid(
            field, f"must be an array of [lon, lat, alt] positions, not {describe(coords)}"
        )
    if len(coords) < 2:
        raise Invalid(field, f"a flight needs at least 2 positions, got {len(coords)}")
    fast = _fast_columns(coords)
    if fast is not None:
        return fast
    lons: list[float] = []
    lats: list[float] = []
    alts: list[float] = []
    for i, position in enumerate(coords):
        lon, lat, alt = _position(position, f"{field}[{i}]", need_alt=True)
        lons.append(lon)
        lats.append(lat)
        alts.append(alt)  # type: ignore[arg-type]
    return tuple(lons), tuple(lats), tuple(alts)


def _fast_columns(
    coords: list[Any] | tuple[Any, ...],
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]] | None:
    """The columns of valid 3-D positions in one tight pass, or None to check one by one.

    Accepts exactly what `_position` accepts (float or int numbers, not booleans); a plain loop
    beats column-wise builtins on the few positions a flight usually has.
    """
    kind = type
    ints = False
    try:
        for position in coords:
            if kind(position) is not list and kind(position) is not tuple:
                return None
            x, y, z = position
            if kind(x) is not float or kind(y) is not float or kind(z) is not float:
                if not (kind(x) in _NUMBER_TYPES and kind(y) in _NUMBER_TYPES):
                    return None
                if kind(z) not in _NUMBER_TYPES:
                    return None
                ints = True
            if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0 and -_INF < z < _INF):
                return None
        lons, lats, alts = zip(*coords, strict=True)
        if ints:
            return tuple(map(float, lons)), tuple(map(float, lats)), tuple(map(float, alts))
    except (TypeError, ValueError, OverflowError):
        return None
    return lons, lats, alts


def _position(position: object, field: str, *, need_alt: bool) -> tuple[float, float, float | None]:
    """One GeoJSON position: `[lon, lat]` or `[lon, lat, alt]` (the altitude required or not)."""
    shape = "[lon, lat, alt]" if need_alt else "[lon, lat] or [lon, lat, alt]"
    if not isinstance(position, list | tuple):
        raise Invalid(field, f"a position must be an array {shape}, not {describe(position)}")
    if len(position) != 3 and (need_alt or len(position) != 2):
        raise Invalid(field, f"a position must be {shape}, got {len(position)} numbers")
    lon = finite_number(position[0], f"{field}[0]")
    lat = finite_number(position[1], f"{field}[1]")
    if not -180.0 <= lon <= 180.0:
        raise Invalid(f"{field}[0]", f"longitude {lon!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise Invalid(f"{field}[1]", f"latitude {lat!r} is outside [-90, 90]")
    alt = finite_number(position[2], f"{field}[2]") if len(position) == 3 else None
    return lon, lat, alt


def point(coords: object, field: str) -> tuple[float, float]:
    """A Point's position as `(lon, lat)`; an altitude, if given, is checked and dropped.

    >>> point([37.5, 36.0, 120.0], "geometry.coordinates")
    (37.5, 36.0)
    """
    lon, lat, _ = _position(coords, field, need_alt=False)
    return lon, lat


def polygons(geometry_type: str, coords: object, field: str) -> tuple[PolygonRings, ...]:
    """The polygons of a Polygon or MultiPolygon, each checked valid.

    >>> polygons("Polygon", [[[0, 0], [1, 0], [1, 1], [0, 0]]], "geometry.coordinates")
    ((((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)),),)
    """
    if geometry_type == "Polygon":
        return (_polygon(coords, field),)
    if not isinstance(coords, list | tuple):
        raise Invalid(
            field, f"a MultiPolygon's coordinates must be an array, not {describe(coords)}"
        )
    if not coords:
        raise Invalid(field, "a MultiPolygon needs at least one polygon")
    return tuple(_polygon(part, f"{field}[{k}]") for k, part in enumerate(coords))


def _polygon(coords: object, field: str) -> PolygonRings:
    if not isinstance(coords, list | tuple):
        raise Invalid(field, f"a polygon must be an array of rings, not {describe(coords)}")
    if not coords:
        raise Invalid(field, "a polygon needs an exterior ring")
    rings = tuple(_ring(ring, f"{field}[{r}]") for r, ring in enumerate(coords))
    _check_valid(rings, field)
    return rings


def _ring(coords: object, field: str) -> Ring:
    if not isinstance(coords, list | tuple):
        raise Invalid(field, f"a ring must be an array of positions, not {describe(coords)}")
    if len(coords) < 4:
        raise Invalid(
            field,
            f"a ring needs at least 4 positions (3 corners and the first again), got {len(coords)}",
        )
    vertices: list[tuple[float, float]] = []
    for i, position in enumerate(coords):
        lon, lat, _ = _position(position, f"{field}[{i}]", need_alt=False)
        if not vertices or vertices[-1] != (lon, lat):
            vertices.append((lon, lat))
    if vertices[0] != vertices[-1]:
        raise Invalid(field, "a ring must be closed: its last position must repeat its first")
    if len(vertices) < 4:
        raise Invalid(field, "degenerate ring: it has fewer than 3 distinct corners")
    return tuple(vertices)


def _check_valid(rings: PolygonRings, field: str) -> None:
    """Raise unless the polygon is valid (OGC rules) once laid flat around its location."""
    flat, pole = _lay_flat(rings)
    polygon = shapely.Polygon(flat[0], flat[1:])
    reason = shapely.is_valid_reason(polygon)
    if reason == "Valid Geometry" and polygon.area > 0.0:
        return
    if reason == "Valid Geometry":
        raise Invalid(field, "degenerate polygon: it has no area")
    match = _REASON_AT.match(reason)
    if match is None:
        raise Invalid(field, f"not a valid polygon: {reason}")
    what = match["what"].lower()
    if pole is None:
        x = float(match["x"])
        lon = x - 360.0 * round(x / 360.0)  # back within [-180, 180]
        lat = float(match["y"])
        raise Invalid(field, f"not a valid polygon: {what} near lon {lon:.6g}, lat {lat:.6g}")
    raise Invalid(field, f"not a valid polygon: {what} (around the {pole} pole)")


def _lay_flat(rings: PolygonRings) -> tuple[list[list[tuple[float, float]]], str | None]:
    """The rings on a plane: unwrapped longitudes, or a polar projection for a ring around a pole.

    Returns the flat rings and the pole ('north' or 'south') when projected.
    """
    reference = rings[0][0][0]
    unwrapped: list[list[tuple[float, float]]] = []
    around_pole = False
    for ring in rings:
        previous = reference
        flat_ring: list[tuple[float, float]] = []
        for lon, lat in ring:
            x = lon
            while x - previous > 180.0:
                x -= 360.0
            while previous - x > 180.0:
                x += 360.0
            flat_ring.append((x, lat))
            previous = x
        if flat_ring[-1][0] != flat_ring[0][0]:
            around_pole = True
        unwrapped.append(flat_ring)
    if not around_pole:
        return unwrapped, None
    north = sum(lat for _, lat in rings[0]) >= 0.0
    sign = 1.0 if north else -1.0
    polar = [
        [
            (
                (90.0 - sign * lat) * math.cos(math.radians(lon)),
                (90.0 - sign * lat) * math.sin(math.radians(lon)),
            )
            for lon, lat in ring
        ]
        for ring in rings
    ]
    return polar, "north" if north else "south"
