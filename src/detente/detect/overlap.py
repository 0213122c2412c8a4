"""Narrow phase for two areas: neither moves, so one comparison of shapes, bands and windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely

from detente.model import Agreement, Band, ConflictKind, Kind

from .areas import PreparedArea, shape_in_frame
from .rules import TIE_M

__all__ = ["AreaPairVerdict", "compare_areas"]


@dataclass(frozen=True, slots=True)
class AreaPairVerdict:
    """A conflict between two areas: the interval, and where it is worst."""

    start: float
    end: float
    lon: float
    lat: float
    alt_m: float
    horizontal_m: float
    vertical_m: float


def _representative_alt(first: Band, second: Band) -> float:
    """An altitude for the report: the middle of where the bands meet (ground if unbounded)."""
    lo = max(first.lower_m, second.lower_m)
    hi = min(first.upper_m, second.upper_m)
    if lo > hi:
        lo, hi = hi, lo
    if math.isinf(lo):
        lo = 0.0 if math.isinf(hi) else min(0.0, hi)
    if math.isinf(hi):
        hi = lo
    return (lo + hi) / 2.0


def _solid(core: shapely.Geometry, radius_m: float) -> shapely.Geometry:
    return core.buffer(radius_m, quad_segs=64) if radius_m > 0 else core


def compare_areas(
    a: PreparedArea, b: PreparedArea, kind: ConflictKind, agreement: Agreement
) -> AreaPairVerdict | None:
    """The conflict of kind `kind` between areas `a` and `b` (in that order), if any.

    `agreement` is the strict one (`rules.strict`): its minima already allow for ties.
    """
    tb = agreement.time_buffer_s
    start = max(a.item.start, b.item.start) - tb
    end = min(a.item.end, b.item.end) + tb
    if not start < end:
        return None
    core_b, _ = shape_in_frame(b.item.shape, a.frame)
    if a.is_large or b.is_large:
        # Measure again in a frame centred where the two are closest.
        near = shapely.shortest_line(a.solid, _solid(core_b, b.radius_m))
        lon, lat = a.frame.inverse([near.centroid.x], [near.centroid.y])
        a = a.reframed(float(lon[0]), float(lat[0]))
        core_b, _ = shape_in_frame(b.item.shape, a.frame)
    between = float(shapely.distance(a.core, core_b)) - a.radius_m - b.radius_m
    distance = max(between, 0.0)
    band_a, band_b = a.item.band, b.item.band
    gap = band_a.gap_to(band_b)

    if kind is ConflictKind.AIR:
        hit = distance < agreement.horizontal_m and gap < agreement.vertical_m
    elif kind is ConflictKind.ZONE:
        if a.radius_m > 0 or b.radius_m > 0:
            shapes_overlap = between < 0
        else:
            shapes_overlap = bool(shapely.relate_pattern(a.core, core_b, "T********"))
        hit = shapes_overlap and max(band_a.lower_m, band_b.lower_m) < min(
            band_a.upper_m, band_b.upper_m
        )
    elif kind is ConflictKind.STRIKE_GROUND:
        hit = distance < a.item.reach_m + agreement.ground_buffer_m
    else:  # strike-air against an airspace block
        hit = distance < a.item.reach_m - TIE_M and b.item.band.lower_m < a.item.band.upper_m
        gap = 0.0
    if not hit:
        return None

    solid_b = _solid(core_b, b.radius_m)
    if distance <= 0:
        where = shapely.intersection(a.solid, solid_b)
        point = (
            where.representative_point() if not where.is_empty else a.solid.representative_point()
        )
    else:
        point = shapely.get_point(shapely.shortest_line(a.solid, solid_b), 0)
    alt = (
        0.0
        if kind is ConflictKind.STRIKE_GROUND or b.item.kind is Kind.GROUND
        else (_representative_alt(band_a, band_b))
    )
    lon, lat = a.frame.inverse([point.x], [point.y])
    return AreaPairVerdict(
        float(start), float(end), float(lon[0]), float(lat[0]), float(alt), distance, float(gap)
    )
