"""Track reports as JSON records (`POST /v1/tracks`) and as CSV files (`detente replay`).

A record is an object with `uid`, `time` (ISO 8601), `lon`, `lat`, `alt_m` and optionally
`course_deg`, `speed_mps`, `vertical_mps`, `stale` (ISO 8601), `callsign`, `plan_id` and
`airborne`. A CSV file has a header naming these columns plus `party`.

>>> report = track_from_record(
...     {"uid": "u1", "time": "2015-10-01T06:00:00Z", "lon": 36.0, "lat": 35.0, "alt_m": 7000},
...     "blue", index=0)
>>> report.party, report.uid, report.alt_m, report.speed_mps
('blue', 'u1', 7000.0, None)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from detente.errors import TrackError
from detente.model import TrackReport

from ._files import Unreadable, read_bytes
from ._values import Invalid, describe, finite_number, instant
from .results import format_instant

__all__ = [
    "CSV_COLUMNS",
    "MAX_SPEED_MPS",
    "read_track_csv",
    "track_from_record",
    "track_record",
]

#: Faster than this is a mistake (about Mach 6 at sea level).
MAX_SPEED_MPS = 2_000.0
#: Altitudes beyond [-500 m, 100 km] are mistakes.
ALT_RANGE_M = (-500.0, 100_000.0)
MAX_TEXT = 128
CSV_COLUMNS = (
    "time",
    "party",
    "uid",
    "lon",
    "lat",
    "alt_m",
    "course_deg",
    "speed_mps",
    "vertical_mps",
    "stale",
    "callsign",
    "plan_id",
    "airborne",
)
_REQUIRED = ("uid", "time", "lon", "lat", "alt_m")
_KNOWN = frozenset(CSV_COLUMNS) - {"party"}


def track_from_record(
    record: object, party: str, *, index: int | None = None, source: str = "tracks"
) -> TrackReport:
    """Check one JSON record and make it a `TrackReport` of `party`."""
    try:
        return _track(record, party)
    except Invalid as exc:
        raise TrackError(source, exc.field, exc.reason, index=index) from None


def track_record(report: TrackReport) -> dict[str, Any]:
    """A report as a JSON record (the inverse of `track_from_record`, without `party`)."""
    record: dict[str, Any] = {
        "uid": report.uid,
        "time": format_instant(report.time),
        "lon": report.lon,
        "lat": report.lat,
        "alt_m": report.alt_m,
    }
    optional = {
        "course_deg": report.course_deg,
        "speed_mps": report.speed_mps,
        "vertical_mps": report.vertical_mps or None,
        "stale": None if report.stale is None else format_instant(report.stale),
        "callsign": report.callsign,
        "plan_id": report.plan_id,
    }
    record.update({k: v for k, v in optional.items() if v is not None})
    if not report.airborne:
        record["airborne"] = False
    return record


def read_track_csv(path: str | Path) -> Iterator[TrackReport]:
    """The reports of a CSV track file, in file order; a bad line raises `TrackError`
    naming the line."""
    source = str(path)
    try:
        text = read_bytes(Path(path)).decode("utf-8-sig")
    except Unreadable as exc:
        raise TrackError(source, None, exc.reason) from None
    except UnicodeDecodeError as exc:
        raise TrackError(source, None, f"not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("party", *_REQUIRED) if c not in header]
    if missing:
        raise TrackError(source, None, f"the header lacks the column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        known = ", ".join(CSV_COLUMNS)
        raise TrackError(source, None, f"unknown column(s) {', '.join(unknown)}; known: {known}")
    for row in reader:
        line = reader.line_num
        where = f"{source}: line {line}"
        party = (row.get("party") or "").strip()
        if not party:
            raise TrackError(where, "party", "is empty")
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:
                raise TrackError(where, None, "more fields than the header names")
            if key == "party" or value is None or value.strip() == "":
                continue
            record[key] = _csv_value(key, value.strip(), where)
        yield track_from_record(record, party, source=where)


def _csv_value(key: str, value: str, where: str) -> object:
    if key in ("uid", "time", "stale", "callsign", "plan_id"):
        return value
    if key == "airborne":
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise TrackError(where, key, f"must be true or false, not {value!r}")
    try:
        return float(value)
    except ValueError:
        raise TrackError(where, key, f"must be a number, not {value!r}") from None


def _track(record: object, party: str) -> TrackReport:
    if not isinstance(record, dict):
        raise Invalid(None, f"must be an object, not {describe(record)}")
    unknown = sorted(k for k in record if k not in _KNOWN)
    if unknown:
        raise Invalid(
            unknown[0], f"unknown field; the known fields are {', '.join(sorted(_KNOWN))}"
        )
    for key in _REQUIRED:
        if record.get(key) is None:
            raise Invalid(key, "is required")
    time = instant(record["time"], "time")
    lon = _within(record["lon"], "lon", -180.0, 180.0)
    lat = _within(record["lat"], "lat", -90.0, 90.0)
    alt = _within(record["alt_m"], "alt_m", *ALT_RANGE_M)
    course = speed = None
    if record.get("course_deg") is not None:
        course = _within(record["course_deg"], "course_deg", 0.0, 360.0) % 360.0
    if record.get("speed_mps") is not None:
        speed = _within(record["speed_mps"], "speed_mps", 0.0, MAX_SPEED_MPS)
    if (course is None) != (speed is None) and speed != 0.0:
        field = "course_deg" if course is None else "speed_mps"
        raise Invalid(field, "course_deg and speed_mps go together (give both or neither)")
    vertical = 0.0
    if record.get("vertical_mps") is not None:
        vertical = _within(record["vertical_mps"], "vertical_mps", -500.0, 500.0)
    stale = None if record.get("stale") is None else instant(record["stale"], "stale")
    if stale is not None and stale <= time:
        raise Invalid("stale", "must be after time")
    airborne = record.get("airborne", True)
    if not isinstance(airborne, bool):
        raise Invalid("airborne", f"must be true or false, not {describe(airborne)}")
    return TrackReport(
        party=party,
        uid=_text(record["uid"], "uid"),
        time=time,
        lon=lon,
        lat=lat,
        alt_m=alt,
        course_deg=course,
        speed_mps=speed,
        vertical_mps=vertical,
        stale=stale,
        callsign=_optional_text(record.get("callsign"), "callsign"),
        plan_id=_optional_text(record.get("plan_id"), "plan_id"),
        airborne=airborne,
    )


def _within(value: object, field: str, low: float, high: float) -> float:
    number = finite_number(value, field)
    if not low <= number <= high:
        raise Invalid(field, f"must be within [{low:g}, {high:g}], not {number:g}")
    return number


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(field, f"must be a non-empty string, not {describe(value)}")
    if len(value) > MAX_TEXT:
        raise Invalid(field, f"must be at most {MAX_TEXT} characters")
    return value


def _optional_text(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field)
