"""Which filed flight a track flies: by plan id, or else by callsign (spaces and case ignored)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from detente.model import Flight, TrackReport

from .board import TrackKey

__all__ = ["callsign_key", "link_plans"]


def callsign_key(callsign: str | None) -> str:
    """A callsign as compared: no spaces, upper case.

    >>> callsign_key("Viper 11")
    'VIPER11'
    """
    return "".join((callsign or "").split()).upper()


def link_plans(
    reports: Mapping[TrackKey, TrackReport], flights: Iterable[Flight]
) -> dict[TrackKey, Flight]:
    """The flight of each airborne track: its party's flight whose id is the report's
    `plan_id`, or, without one, whose callsign is the report's callsign.

    >>> f = Flight("blue", "f1", (0.0, 1.0), (0.0, 0.0), (0.0, 0.0), (0.0, 60.0), callsign="V 1")
    >>> r = TrackReport("blue", "t", 0.0, 0.0, 0.0, 0.0, callsign="v1")
    >>> link_plans({("blue", "t"): r}, [f])[("blue", "t")].id
    'f1'
    """
    by_id: dict[tuple[str, str], Flight] = {}
    by_callsign: dict[tuple[str, str], Flight] = {}
    for flight in flights:
        by_id[(flight.party, flight.id)] = flight
        if flight.callsign:
            by_callsign[(flight.party, callsign_key(flight.callsign))] = flight
    linked: dict[TrackKey, Flight] = {}
    for key, report in reports.items():
        if not report.airborne:
            continue
        match: Flight | None
        if report.plan_id:
            match = by_id.get((report.party, report.plan_id))
        elif report.callsign:
            match = by_callsign.get((report.party, callsign_key(report.callsign)))
        else:
            match = None
        if match is not None:
            linked[key] = match
    return linked
