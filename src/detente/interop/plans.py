"""Plan files: GeoJSON FeatureCollections of plan items, read and checked against the contract.

Each Feature becomes a `Flight` or an `Area` (see `detente.model`). Every rule of the plan-file
contract is checked; a broken one raises `PlanError` naming the file, the feature (index in the
`features` array and id), the field and the reason. One bad feature rejects the whole input unless
`skip_invalid` is set, in which case bad features are left out and each error goes to `warn`.

How items come out:

- a flight keeps its positions and times; a position repeated at the same time is dropped;
- polygon rings are closed (first vertex == last), exterior first, as `(lon, lat)` tuples;
- a circle is `Shape(center=(lon, lat), radius_m=r)`; a strike's aim point is a circle of radius 0
  and its effects radius is the item's `reach_m`; its band runs from the ground to `alt_upper_m`
  (15000 m when not given);
- an airspace's or zone's band is `[alt_lower_m, alt_upper_m]`, open ends infinite.

>>> items = parse_plan(
...     '{"type": "FeatureCollection", "features": [{"type": "Feature", "id": "s1",'
...     ' "geometry": {"type": "Point", "coordinates": [37.3, 36.8]},'
...     ' "properties": {"kind": "strike", "party": "red", "radius_m": 2500,'
...     ' "start": "2015-10-01T06:00:00Z", "end": "2015-10-01T06:30:00Z"}}]}',
...     "plan.geojson",
... )
>>> items[0].reach_m, items[0].band.upper_m, items[0].shape.center
(2500.0, 15000.0, (37.3, 36.8))
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from detente.errors import PlanError
from detente.interop._files import Unreadable, read_bytes
from detente.interop._geometry import point, polygons, trajectory
from detente.interop._values import (
    Invalid,
    describe,
    instant,
    instants,
    optional_number,
    optional_string,
    show,
)
from detente.model import Area, Band, Flight, Item, Kind, Shape

__all__ = ["DEFAULT_STRIKE_CEILING_M", "load_plan_files", "parse_plan"]

#: A strike's hazard ceiling when the plan gives no `alt_upper_m`, metres.
DEFAULT_STRIKE_CEILING_M = 15000.0

Warn = Callable[[PlanError], None]

_KINDS = ", ".join(kind.value for kind in Kind)
_KIND_OF = {kind.value: kind for kind in Kind}
_AREA_GEOMETRIES = ("Polygon", "MultiPolygon", "Point")
_MISSING: Any = object()


def load_plan_files(
    paths: Sequence[str | Path],
    *,
    skip_invalid: bool = False,
    warn: Warn | None = None,
) -> list[Item]:
    """Read and check plan files, in order; `(party, id)` must be unique across all of them.

    Raises `PlanError` for a file that cannot be read, is not JSON or not a FeatureCollection
    (whatever `skip_invalid` says), and for the first invalid feature unless `skip_invalid`.
    """
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    items: list[Item] = []
    for path in paths:
        source = str(path)
        try:
            raw = read_bytes(Path(path))
        except Unreadable as exc:
            raise PlanError(source, None, exc.reason) from None
        with _collector_paused():
            document = _decode(raw, source)
            del raw  # the parsed document replaces the bytes
            items.extend(_items(document, source, True, seen, skip_invalid, warn))
    return items


def parse_plan(
    data: bytes | str | dict[str, Any],
    source: str = "<plan>",
    *,
    skip_invalid: bool = False,
    warn: Warn | None = None,
) -> list[Item]:
    """Check one plan given as JSON text or as an already parsed object (left unchanged).

    `source` names the input in errors. See `load_plan_files` for what raises.
    """
    with _collector_paused():
        if isinstance(data, str | bytes | bytearray | memoryview):
            return _items(_decode(data, source), source, True, {}, skip_invalid, warn)
        return _items(data, source, False, {}, skip_invalid, warn)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large, acyclic document is built and read.

    Parsing allocates millions of containers and none of them forms a cycle; left running, the
    collector would walk the growing tree again and again and double the time taken.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _decode(raw: bytes | bytearray | memoryview | str, source: str) -> Any:
    """Parse JSON text; a malformed document is a `PlanError` giving line and column."""
    if isinstance(raw, str):
        text: bytes | bytearray | memoryview | str = raw[1:] if raw.startswith("\ufeff") else raw
    else:
        text = memoryview(raw)[3:] if bytes(raw[:3]) == b"\xef\xbb\xbf" else raw
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise PlanError(source, None, f"not valid JSON at {where}: {exc.msg}") from None


def _features(document: Any, source: str) -> list[Any]:
    """The features of a FeatureCollection, or a lone Feature as a list of one."""
    if not isinstance(document, dict):
        raise PlanError(
            source, None, f"must be a GeoJSON FeatureCollection object, not {describe(document)}"
        )
    kind = document.get("type", _MISSING)
    if kind == "FeatureCollection":
        features = document.get("features", _MISSING)
        if features is _MISSING:
            raise PlanError(
                source, "features", "missing; a FeatureCollection needs a features array"
            )
        if not isinstance(features, list):
            raise PlanError(source, "features", f"must be an array, not {describe(features)}")
        return features
    if kind == "Feature":
        return [document]
    found = "missing" if kind is _MISSING else f"not {describe(kind)}"
    raise PlanError(source, "type", f"must be 'FeatureCollection' (or a single 'Feature'), {found}")


def _items(
    document: Any,
    source: str,
    owned: bool,
    seen: dict[tuple[str, str], tuple[str, int]],
    skip_invalid: bool,
    warn: Warn | None,
) -> list[Item]:
    """Check every feature; `owned` lets each parsed feature be freed once it is checked."""
    features = _features(document, source)
    items: list[Item] = []
    for index in range(len(features)):
        feature = features[index]
        if owned:
            features[index] = None
        try:
            item = _item(feature)
            key = (item.party, item.id)
            first = seen.get(key)
            if first is not None:
                raise Invalid(
                    "id",
                    f"duplicate: party {show(item.party)} already has an item {show(item.id)}"
                    f" (feature {first[1]} of {first[0]})",
                )
        except Invalid as exc:
            error = PlanError(source, exc.field, exc.reason, index=index, item_id=_id_of(feature))
            if not skip_invalid:
                raise error from None
            if warn is not None:
                warn(error)
            continue
        seen[key] = (source, index)
        items.append(item)
    return items


def _id_of(feature: object) -> str | None:
    """The feature's id for an error message, when it is a usable one."""
    item_id = feature.get("id") if isinstance(feature, dict) else None
    return item_id if isinstance(item_id, str) and item_id.strip() else None


def _item(feature: object) -> Item:
    if not isinstance(feature, dict):
        raise Invalid(None, f"must be a GeoJSON Feature object, not {describe(feature)}")
    feature_type = feature.get("type", _MISSING)
    if feature_type != "Feature":
        found = "missing" if feature_type is _MISSING else f"not {describe(feature_type)}"
        raise Invalid("type", f"must be 'Feature', {found}")
    item_id = _item_id(feature.get("id", _MISSING))
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise Invalid("properties", f"must be an object (kind, party ...), not {describe(props)}")
    kind_value = _required(props, "kind")
    kind = _KIND_OF.get(kind_value) if isinstance(kind_value, str) else None
    if kind is None:
        raise Invalid("kind", f"unknown kind {describe(kind_value)}; the kinds are {_KINDS}")
    party = _required(props, "party")
    if not isinstance(party, str) or not party.strip():
        what = describe(party) if not isinstance(party, str) else "an empty string"
        raise Invalid("party", f"must be a non-empty string, not {what}")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        raise Invalid("geometry", f"must be a GeoJSON geometry object, not {describe(geometry)}")
    if kind is Kind.FLIGHT:
        return _flight(party, item_id, geometry, props)
    return _area(kind, party, item_id, geometry, props)


def _required(props: dict[str, Any], key: str) -> Any:
    value = props.get(key, _MISSING)
    if value is _MISSING:
        raise Invalid(key, "missing")
    return value


def _item_id(value: object) -> str:
    if value is _MISSING:
        raise Invalid("id", "missing; every feature needs a string id, unique within its party")
    if isinstance(value, str):
        if not value.strip():
            raise Invalid("id", "must be a non-empty string")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise Invalid("id", f'must be a string, not the number {value!r} (write it as "{value}")')
    raise Invalid("id", f"must be a string, not {describe(value)}")


def _geometry_type(geometry: dict[str, Any], kind: Kind, allowed: tuple[str, ...]) -> str:
    geometry_type = geometry.get("type", _MISSING)
    if geometry_type not in allowed:
        found = "none is given" if geometry_type is _MISSING else f"not {describe(geometry_type)}"
        names = " or ".join(allowed)
        raise Invalid("geometry.type", f"a {kind.value} must be a {names}; {found}")
    return str(geometry_type)


def _flight(party: str, item_id: str, geometry: dict[str, Any], props: dict[str, Any]) -> Flight:
    _geometry_type(geometry, Kind.FLIGHT, ("LineString",))
    lon, lat, alt = trajectory(geometry.get("coordinates"), "geometry.coordinates")
    raw_times = _required(props, "coordTimes")
    if not isinstance(raw_times, list | tuple):
        raise Invalid(
            "coordTimes", f"must be an array of times, one per position, not {describe(raw_times)}"
        )
    if len(raw_times) != len(lon):
        raise Invalid(
            "coordTimes",
            f"has {len(raw_times)} times for {len(lon)} positions; give one time per position",
        )
    times = instants(raw_times, "coordTimes")
    if not all(map(operator.lt, times, times[1:])):
        lon, lat, alt, times = _checked_order(lon, lat, alt, times, raw_times)
    return Flight(
        party=party,
        id=item_id,
        lon=lon,
        lat=lat,
        alt_m=alt,
        times=tuple(times),
        callsign=optional_string(props, "callsign"),
        aircraft=optional_string(props, "aircraft"),
    )


def _checked_order(
    lon: tuple[float, ...],
    lat: tuple[float, ...],
    alt: tuple[float, ...],
    times: list[float],
    raw_times: Sequence[Any],
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], list[float]]:
    """Check that times never decrease; drop a position repeated at the same time."""
    keep = [0]
    for k in range(1, len(times)):
        if times[k] > times[k - 1]:
            keep.append(k)
            continue
        previous = f"coordTimes[{k - 1}] {show(raw_times[k - 1])}"
        if times[k] < times[k - 1]:
            raise Invalid(
                f"coordTimes[{k}]",
                f"{show(raw_times[k])} is before {previous}; times must be non-decreasing",
            )
        if not _same_place(lon[k - 1], lat[k - 1], alt[k - 1], lon[k], lat[k], alt[k]):
            raise Invalid(
                f"coordTimes[{k}]",
                f"{show(raw_times[k])} is the time of {previous} too, but positions {k - 1} and"
                f" {k} differ: that would be infinite speed",
            )
    if len(keep) < 2:
        raise Invalid("coordTimes", "the flight lasts no time: its first and last times are equal")
    return (
        tuple(lon[k] for k in keep),
        tuple(lat[k] for k in keep),
        tuple(alt[k] for k in keep),
        [times[k] for k in keep],
    )


def _same_place(
    lon1: float, lat1: float, alt1: float, lon2: float, lat2: float, alt2: float
) -> bool:
    """Equal positions, counting lon -180 as 180 and every longitude at a pole as one."""
    if lat1 != lat2 or alt1 != alt2:
        return False
    return lon1 == lon2 or abs(lat1) == 90.0 or abs(lon1 - lon2) == 360.0


def _area(
    kind: Kind, party: str, item_id: str, geometry: dict[str, Any], props: dict[str, Any]
) -> Area:
    geometry_type = _geometry_type(geometry, kind, _AREA_GEOMETRIES)
    coords = geometry.get("coordinates", _MISSING)
    if coords is _MISSING:
        raise Invalid("geometry.coordinates", "missing")
    start = instant(_required(props, "start"), "start")
    end = instant(_required(props, "end"), "end")
    if not start < end:
        raise Invalid("end", f"{show(props['end'])} must be after start {show(props['start'])}")
    radius = optional_number(props, "radius_m")
    if radius is not None and not radius > 0.0:
        raise Invalid("radius_m", f"must be greater than 0, not {radius!r}")
    field = "geometry.coordinates"
    if kind is Kind.STRIKE:
        if radius is None:
            raise Invalid("radius_m", "missing; a strike needs its effects radius in metres")
        ceiling = optional_number(props, "alt_upper_m")
        if geometry_type == "Point":
            shape = Shape(center=point(coords, field), radius_m=0.0)
        else:
            shape = Shape(polygons=polygons(geometry_type, coords, field))
        band = Band(upper_m=DEFAULT_STRIKE_CEILING_M if ceiling is None else ceiling)
        reach = radius
    else:
        if geometry_type == "Point":
            if radius is None:
                raise Invalid(
                    "radius_m", f"missing; a {kind.value} given as a Point needs a radius in metres"
                )
            shape = Shape(center=point(coords, field), radius_m=radius)
        else:
            if radius is not None:
                raise Invalid(
                    "radius_m",
                    f"only a Point takes a radius for a {kind.value}, not a {geometry_type}",
                )
            shape = Shape(polygons=polygons(geometry_type, coords, field))
        band = _band(props) if kind in (Kind.AIRSPACE, Kind.ZONE) else Band()
        reach = 0.0
    return Area(
        kind=kind,
        party=party,
        id=item_id,
        shape=shape,
        start=start,
        end=end,
        band=band,
        reach_m=reach,
        name=optional_string(props, "name"),
        zone_type=optional_string(props, "zone_type") if kind is Kind.ZONE else None,
    )


def _band(props: dict[str, Any]) -> Band:
    lower = optional_number(props, "alt_lower_m")
    upper = optional_number(props, "alt_upper_m")
    if lower is not None and upper is not None and not lower < upper:
        raise Invalid("alt_upper_m", f"{upper!r} must be above alt_lower_m {lower!r}")
    return Band(
        lower_m=-math.inf if lower is None else lower,
        upper_m=math.inf if upper is None else upper,
    )
