"""What track formats (Cursor-on-Target, SBS-1) share: their errors, units and instants."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from detente.errors import TrackError

__all__ = [
    "FPM",
    "FT",
    "KT",
    "NotATrackError",
    "TrackFormatError",
    "cot_instant",
    "parse_cot_instant",
]

FT = 0.3048
"""One foot in metres."""
KT = 1852.0 / 3600.0
"""One knot in metres per second."""
FPM = FT / 60.0
"""One foot per minute in metres per second."""


class TrackFormatError(TrackError):
    """A track message (a CoT event, an SBS line) is unusable: `fmt` says which format,
    `field` where (None for the whole message), `reason` why; `uid` names the track if known.

    >>> str(TrackFormatError("CoT", "point/@lat", "must be within [-90, 90], got '91'", uid="a1"))
    "CoT event a1: point/@lat: must be within [-90, 90], got '91'"
    >>> str(TrackFormatError("SBS", None, "expected 22 fields, got 3"))
    'SBS line: expected 22 fields, got 3'
    """

    def __init__(self, fmt: str, field: str | None, reason: str, *, uid: str | None = None) -> None:
        self.fmt = fmt
        self.uid = uid
        what = "CoT event" if fmt == "CoT" else f"{fmt} line"
        super().__init__(f"{what} {uid}" if uid else what, field, reason)


class NotATrackError(TrackFormatError):
    """A well-formed message that carries no track (a TAK ping, a drawing, an SBS status line).

    Feeds count these as ignored, not malformed.
    """


def show(value: str, limit: int = 40) -> str:
    """Quote a piece of untrusted input for an error message, cut to `limit` characters.

    >>> show("x" * 50)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"
    """
    return repr(value[:limit] + "...") if len(value) > limit else repr(value)


def number(text: str) -> float:
    """A finite float from text, or ValueError.

    >>> number(" 12.5 ")
    12.5
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_cot_instant(text: str) -> float:
    """Epoch seconds from an XML Schema dateTime as CoT writes it (UTC when no offset is given).

    >>> parse_cot_instant("2024-05-01T12:00:00.5Z")
    1714564800.5
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def cot_instant(epoch_s: float) -> str:
    """The CoT form of an instant: UTC, milliseconds, `Z`.

    >>> cot_instant(1714564800.5)
    '2024-05-01T12:00:00.500Z'
    """
    moment = datetime.fromtimestamp(round(epoch_s, 3), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
