"""The pairings of the agreement: which kinds conflict, under what kind, and who is `a`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from detente.model import Agreement, Area, ConflictKind, Kind

__all__ = [
    "PAIRINGS",
    "TIE_M",
    "AreaRule",
    "area_altitudes",
    "area_margin_m",
    "flight_rule",
    "pairing",
    "strict",
]

# Distances within a micrometre of a minimum count as at the minimum, not under it: flight
# levels written in metres are 1000 ft apart exactly, yet 5486.4 - 5181.6 < 304.8 in binary
# floating point.
TIE_M = 1e-6

# (kind of a, kind of b) -> conflict kind; a pair of kinds not listed never conflicts.
PAIRINGS: dict[tuple[Kind, Kind], ConflictKind] = {
    (Kind.FLIGHT, Kind.FLIGHT): ConflictKind.AIR,
    (Kind.FLIGHT, Kind.AIRSPACE): ConflictKind.AIR,
    (Kind.AIRSPACE, Kind.AIRSPACE): ConflictKind.AIR,
    (Kind.FLIGHT, Kind.ZONE): ConflictKind.ZONE,
    (Kind.AIRSPACE, Kind.ZONE): ConflictKind.ZONE,
    (Kind.STRIKE, Kind.GROUND): ConflictKind.STRIKE_GROUND,
    (Kind.STRIKE, Kind.FLIGHT): ConflictKind.STRIKE_AIR,
    (Kind.STRIKE, Kind.AIRSPACE): ConflictKind.STRIKE_AIR,
}


def strict(agreement: Agreement) -> Agreement:
    """The agreement with its minima lowered by `TIE_M`, for comparisons that must be strict.

    >>> strict(Agreement()).vertical_m < 304.8
    True
    """
    return replace(
        agreement,
        horizontal_m=agreement.horizontal_m - TIE_M,
        vertical_m=agreement.vertical_m - TIE_M,
        ground_buffer_m=agreement.ground_buffer_m - TIE_M,
    )


def pairing(first: Kind, second: Kind) -> tuple[ConflictKind, bool] | None:
    """The conflict kind of two item kinds and whether `second` must be reported as `a`.

    >>> pairing(Kind.GROUND, Kind.STRIKE)
    (<ConflictKind.STRIKE_GROUND: 'strike-ground'>, True)
    >>> pairing(Kind.GROUND, Kind.GROUND) is None
    True
    """
    if (first, second) in PAIRINGS:
        return PAIRINGS[(first, second)], False
    if (second, first) in PAIRINGS:
        return PAIRINGS[(second, first)], True
    return None


@dataclass(frozen=True, slots=True)
class AreaRule:
    """How a flight is tested against an area: grow its shape, bound the altitude."""

    kind: ConflictKind
    grow_m: float
    lower_m: float
    upper_m: float
    flight_is_a: bool


def flight_rule(area: Area, agreement: Agreement) -> AreaRule | None:
    """The rule for a flight against `area`, or None if the two never conflict."""
    band = area.band
    if area.kind is Kind.AIRSPACE:
        v = agreement.vertical_m
        return AreaRule(
            ConflictKind.AIR, agreement.horizontal_m, band.lower_m - v, band.upper_m + v, True
        )
    if area.kind is Kind.ZONE:
        return AreaRule(ConflictKind.ZONE, 0.0, band.lower_m, band.upper_m, True)
    if area.kind is Kind.STRIKE:
        return AreaRule(
            ConflictKind.STRIKE_AIR, area.reach_m - TIE_M, -math.inf, band.upper_m, False
        )
    return None


def area_altitudes(area: Area, agreement: Agreement) -> tuple[float, float]:
    """The altitudes at which anything can conflict with `area` (for the broad phase)."""
    band = area.band
    if area.kind is Kind.AIRSPACE:
        return band.lower_m - agreement.vertical_m, band.upper_m + agreement.vertical_m
    if area.kind is Kind.GROUND:
        return -math.inf, math.inf
    return band.lower_m, band.upper_m


def area_margin_m(area: Area, agreement: Agreement) -> float:
    """How far beyond its shape an area can reach a conflict (for the broad phase).

    Two areas can conflict only within the sum of their margins, a flight and an area within the
    area's margin.
    """
    if area.kind is Kind.AIRSPACE:
        return agreement.horizontal_m
    if area.kind is Kind.STRIKE:
        return area.reach_m + agreement.ground_buffer_m
    if area.kind is Kind.GROUND:
        return agreement.ground_buffer_m
    return 0.0
