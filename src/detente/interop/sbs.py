"""SBS-1 / BaseStation lines (ADS-B receivers, TCP port 30003) into `TrackReport`s.

A line is 22 comma-separated fields; `MSG` lines carry one transmission type each, and each type
fills only some fields: 1 the callsign, 2 a surface position, 3 an airborne position and
altitude, 4 ground speed, track and vertical rate, 5 to 8 altitude, squawk and flags.
`SbsAggregator` merges them per aircraft (hex ident) into reports. Feet, knots and feet per
minute become metres and metres per second; dates and times are read as UTC.

>>> board = SbsAggregator("blue")
>>> board.accept("MSG,1,1,1,4CA2D6,1,2024/05/01,12:00:00.000,2024/05/01,12:00:00.000,RYR12,"
...              ",,,,,,,,,,0", now=0.0) is None
True
>>> report = board.accept("MSG,3,1,1,4CA2D6,1,2024/05/01,12:00:01.000,2024/05/01,12:00:01.000,"
...                       ",35000,,,51.5,-0.1,,,0,0,0,0", now=0.0)
>>> report.uid, report.callsign, round(report.alt_m, 1), report.time
('4CA2D6', 'RYR12', 10668.0, 1714564801.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from detente.interop._tracks import FPM, FT, KT, NotATrackError, TrackFormatError, number, show
from detente.interop.track_records import ALT_RANGE_M, MAX_SPEED_MPS, MAX_TEXT
from detente.model import TrackReport

__all__ = ["NotATrackError", "SbsAggregator", "SbsMessage", "TrackFormatError", "parse_line"]

_FIELDS = 22
_HEX = re.compile(r"~?[0-9A-Fa-f]{6}")
_OTHER_KINDS = frozenset({"SEL", "ID", "AIR", "STA", "CLK"})
_MAX_LINE = 1024
_MAX_VERTICAL_MPS = 500.0


@dataclass(frozen=True, slots=True)
class SbsMessage:
    """One `MSG` line, in the line's own units; None where the line leaves a field empty."""

    transmission: int
    hex_ident: str
    time: float | None
    callsign: str | None = None
    altitude_ft: float | None = None
    ground_speed_kt: float | None = None
    track_deg: float | None = None
    lat: float | None = None
    lon: float | None = None
    vertical_rate_fpm: float | None = None
    squawk: str | None = None
    on_ground: bool | None = None


def _fail(field: str | None, reason: str, uid: str | None = None) -> TrackFormatError:
    return TrackFormatError("SBS", field, reason, uid=uid)


def parse_line(line: str | bytes) -> SbsMessage:
    """Read one SBS-1 line, or raise `TrackFormatError` saying why (`NotATrackError` for the
    status lines SEL, ID, AIR, STA and CLK).

    >>> parse_line("MSG,4,1,1,4CA2D6,1,2024/05/01,12:00:00,,,,,420,271.5,,,-640,,,,,0")
    ... # doctest: +NORMALIZE_WHITESPACE
    SbsMessage(transmission=4, hex_ident='4CA2D6', time=1714564800.0, callsign=None,
               altitude_ft=None, ground_speed_kt=420.0, track_deg=271.5, lat=None, lon=None,
               vertical_rate_fpm=-640.0, squawk=None, on_ground=False)
    >>> parse_line("MSG,3,1,1,4CA2D6")
    Traceback (most recent call last):
    detente.interop._tracks.TrackFormatError: SBS line: expected 22 fields, got 5
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            raise _fail(None, "is not ASCII text") from None
    if len(line) > _MAX_LINE:
        raise _fail(None, f"is longer than {_MAX_LINE} characters")
    fields = [field.strip() for field in line.strip().split(",")]
    kind = fields[0]
    if kind in _OTHER_KINDS:
        raise NotATrackError("SBS", None, f"a {kind} line carries no track")
    if kind != "MSG":
        raise _fail(None, f"must start with MSG, got {show(kind)}")
    if len(fields) != _FIELDS:
        raise _fail(None, f"expected {_FIELDS} fields, got {len(fields)}")
    hex_ident = fields[4]
    if not _HEX.fullmatch(hex_ident):
        raise _fail("hex ident", f"must be six hex digits, got {show(hex_ident)}")
    uid = hex_ident.upper()
    if fields[1] not in {"1", "2", "3", "4", "5", "6", "7", "8"}:
        raise _fail("transmission type", f"must be 1 to 8, got {show(fields[1])}", uid)
    values = {
        name: _number(fields[index], name, uid)
        for index, name in (
            (11, "altitude"),
            (12, "ground speed"),
            (13, "track"),
            (14, "latitude"),
            (15, "longitude"),
            (16, "vertical rate"),
        )
    }
    lat, lon = values["latitude"], values["longitude"]
    if (lat is None) != (lon is None):
        raise _fail("latitude", "latitude and longitude come together", uid)
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise _fail("latitude", f"must be within [-90, 90], got {lat!r}", uid)
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise _fail("longitude", f"must be within [-180, 180], got {lon!r}", uid)
    speed = values["ground speed"]
    if speed is not None and not 0.0 <= speed * KT <= MAX_SPEED_MPS:
        raise _fail("ground speed", f"must be within [0, {MAX_SPEED_MPS / KT:.0f}] kt", uid)
    altitude = values["altitude"]
    low, high = ALT_RANGE_M
    if altitude is not None and not low <= altitude * FT <= high:
        raise _fail("altitude", f"must be within [{low / FT:.0f}, {high / FT:.0f}] ft", uid)
    vertical = values["vertical rate"]
    if vertical is not None and abs(vertical * FPM) > _MAX_VERTICAL_MPS:
        raise _fail("vertical rate", f"must be within ±{_MAX_VERTICAL_MPS / FPM:.0f} ft/min", uid)
    if len(fields[10]) > MAX_TEXT:
        raise _fail("callsign", f"is longer than {MAX_TEXT} characters", uid)
    track = values["track"]
    time = _instant(fields[6], fields[7], uid)
    return SbsMessage(
        transmission=int(fields[1]),
        hex_ident=uid,
        time=time if time is not None else _instant(fields[8], fields[9], uid),
        callsign=fields[10] or None,
        altitude_ft=altitude,
        ground_speed_kt=speed,
        track_deg=None if track is None else track % 360.0,
        lat=lat,
        lon=lon,
        vertical_rate_fpm=vertical,
        squawk=fields[17] or None,
        on_ground=_flag(fields[21], uid),
    )


def _number(text: str, name: str, uid: str) -> float | None:
    if not text:
        return None
    try:
        return number(text)
    except ValueError:
        raise _fail(name, f"must be a number, got {show(text)}", uid) from None


def _flag(text: str, uid: str) -> bool | None:
    if not text:
        return None
    if text in {"-1", "1"}:
        return True
    if text == "0":
        return False
    raise _fail("on ground", f"must be -1, 1 or 0, got {show(text)}", uid)


def _instant(date: str, time: str, uid: str) -> float | None:
    """Epoch seconds from `YYYY/MM/DD` and `HH:MM:SS.sss`, read as UTC; None if either is empty."""
    if not date or not time:
        return None
    try:
        moment = datetime.strptime(f"{date} {time}", "%Y/%m/%d %H:%M:%S.%f")
    except ValueError:
        try:
            moment = datetime.strptime(f"{date} {time}", "%Y/%m/%d %H:%M:%S")
        except ValueError:
            raise _fail(
                "date and time",
                f"must read YYYY/MM/DD HH:MM:SS.sss, got {show(date + ' ' + time)}",
                uid,
            ) from None
    return moment.replace(tzinfo=UTC).timestamp()


@dataclass(slots=True)
class _Aircraft:
    seen: float
    callsign: str | None = None
    time: float | None = None  # of the last position
    lat: float | None = None
    lon: float | None = None
    altitude_ft: float | None = None
    ground_speed_kt: float | None = None
    track_deg: float | None = None
    vertical_rate_fpm: float | None = None
    on_ground: bool = False


class SbsAggregator:
    """Merge SBS messages per aircraft into `TrackReport`s of `party`.

    `update` returns a report for each message of type 1 to 4 once the aircraft's position
    (and, airborne, its altitude) is known, else None. A report is stale `stale_s` after its
    position; aircraft not heard for `forget_s` are forgotten. Lines without a date and time
    are dated `now`. Surface positions (type 2) give ground tracks at the last known altitude,
    else 0 m.
    """

    def __init__(self, party: str, *, stale_s: float = 60.0, forget_s: float = 300.0) -> None:
        self.party = party
        self.stale_s = stale_s
        self.forget_s = forget_s
        self._aircraft: dict[str, _Aircraft] = {}
        self._pruned = float("-inf")

    def __len__(self) -> int:
        return len(self._aircraft)

    def accept(self, line: str | bytes, *, now: float) -> TrackReport | None:
        """Parse `line` and merge it (`parse_line` errors pass through)."""
        return self.update(parse_line(line), now=now)

    def update(self, message: SbsMessage, *, now: float) -> TrackReport | None:
        """Merge one message; the aircraft's report if this message moves it on, else None."""
        if now - self._pruned > min(self.forget_s, 10.0):
            self.prune(now)
        state = self._aircraft.get(message.hex_ident)
        if state is None:
            state = self._aircraft[message.hex_ident] = _Aircraft(seen=now)
        state.seen = now
        time = message.time if message.time is not None else now
        if message.callsign:
            state.callsign = message.callsign
        if message.altitude_ft is not None:
            state.altitude_ft = message.altitude_ft
        if message.on_ground is not None:
            state.on_ground = message.on_ground
        if message.lat is not None and message.lon is not None:
            state.lat, state.lon, state.time = message.lat, message.lon, time
            if message.transmission == 2:
                state.on_ground = True
        if message.ground_speed_kt is not None:
            state.ground_speed_kt = message.ground_speed_kt
        if message.track_deg is not None:
            state.track_deg = message.track_deg
        if message.vertical_rate_fpm is not None:
            state.vertical_rate_fpm = message.vertical_rate_fpm
        if message.transmission > 4:
            return None
        return self._report(message.hex_ident, state)

    def prune(self, now: float) -> None:
        """Forget aircraft not heard for `forget_s`."""
        self._pruned = now
        gone = [key for key, state in self._aircraft.items() if now - state.seen > self.forget_s]
        for key in gone:
            del self._aircraft[key]

    def _report(self, uid: str, state: _Aircraft) -> TrackReport | None:
        if state.lat is None or state.lon is None or state.time is None:
            return None
        airborne = not state.on_ground
        if state.altitude_ft is None and airborne:
            return None
        speed = state.ground_speed_kt
        return TrackReport(
            party=self.party,
            uid=uid,
            time=state.time,
            lon=state.lon,
            lat=state.lat,
            alt_m=(state.altitude_ft or 0.0) * FT,
            course_deg=state.track_deg,
            speed_mps=None if speed is None else speed * KT,
            vertical_mps=(state.vertical_rate_fpm or 0.0) * FPM if airborne else 0.0,
            stale=state.time + self.stale_s,
            callsign=state.callsign,
            airborne=airborne,
        )
