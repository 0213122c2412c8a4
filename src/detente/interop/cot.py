"""Cursor-on-Target: read track events, split TCP streams, emit tracks and alerts.

The input is untrusted: XML is parsed by `defusedxml` with DTDs, entities and external references
refused, and no event may exceed `MAX_EVENT_BYTES`. Détente links a track to its party's filed
plan through an extension element of the event's detail, in the TAK habit of `__`-prefixed
elements: `<detail><__detente plan="PLAN-ID"/></detail>`.

>>> xml = (
...     '<event version="2.0" uid="V1" type="a-f-A-M-F" how="m-g" time="2024-05-01T12:00:00Z"'
...     ' start="2024-05-01T12:00:00Z" stale="2024-05-01T12:01:00Z">'
...     '<point lat="51.5" lon="-0.1" hae="3000" ce="10" le="10"/>'
...     '<detail><track course="90" speed="100"/><contact callsign="VIPER1"/>'
...     '<__detente plan="P-7"/></detail></event>'
... )
>>> report = parse_event(xml, "blue", now=1714564800.0)
>>> report.uid, report.lat, report.alt_m, report.speed_mps, report.callsign, report.plan_id
('V1', 51.5, 3000.0, 100.0, 'VIPER1', 'P-7')
>>> parse_event(track_event(report), "blue", now=1714564800.0) == report
True
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from typing import Final

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from detente.interop._cot_stream import MAX_EVENT_BYTES, CotStreamSplitter
from detente.interop._tracks import (
    FT,
    NotATrackError,
    TrackFormatError,
    cot_instant,
    number,
    parse_cot_instant,
    show,
)
from detente.interop.track_records import ALT_RANGE_M, MAX_SPEED_MPS, MAX_TEXT
from detente.model import TrackReport

__all__ = [
    "MAX_EVENT_BYTES",
    "CotStreamSplitter",
    "NotATrackError",
    "TrackFormatError",
    "alert_event",
    "alert_remarks",
    "alert_uid",
    "parse_event",
    "track_event",
]

UNKNOWN: Final = 9_999_999.0
"""CoT's value for an unknown error, height, course or speed."""
_MAX_VERTICAL_MPS = 500.0
_AIR = frozenset("A")
_SURFACE = frozenset("GSUF")  # ground, sea surface, subsurface, special operations forces
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_LOST_NOW_S = 0.5  # a time to loss of separation under this reads "now"


def _fail(field: str | None, reason: str, uid: str | None = None) -> TrackFormatError:
    return TrackFormatError("CoT", field, reason, uid=uid)


def parse_event(
    data: bytes | str, party: str, *, now: float, max_future_s: float = 300.0
) -> TrackReport:
    """Read one CoT `event` as a `TrackReport` of `party`, or raise `TrackFormatError` saying why.

    Events that carry no track (pings `t-x-c-t`, drawings `u-d-...`) raise `NotATrackError`. An
    event whose `stale` has passed is still returned, its `stale` set: the board drops it. An
    event dated more than `max_future_s` after `now` is refused (a clock out of step).

    >>> parse_event("<event/>", "blue", now=0.0)
    Traceback (most recent call last):
    detente.interop._tracks.TrackFormatError: CoT event: @uid: is missing
    """
    if len(data) > MAX_EVENT_BYTES:
        raise _fail(None, f"is longer than {MAX_EVENT_BYTES} bytes")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ET.ParseError as error:
        raise _fail(None, f"is not well-formed XML ({error})") from None
    except DefusedXmlException:
        raise _fail(None, "declares a DTD or entities, which CoT never needs") from None
    if root.tag != "event":
        raise _fail(None, f"the root element is <{show(str(root.tag))[1:-1]}>, not <event>")
    uid = root.get("uid", "").strip()
    if not uid:
        raise _fail("@uid", "is missing")
    if len(uid) > MAX_TEXT:
        raise _fail("@uid", f"is longer than {MAX_TEXT} characters")
    airborne = _dimension(root.get("type"), uid)
    time = _instant(root, "time", uid)
    _instant(root, "start", uid)
    stale = _instant(root, "stale", uid)
    if stale < time:
        raise _fail("@stale", "precedes @time", uid)
    if time > now + max_future_s:
        raise _fail("@time", f"is {time - now:.0f} s in the future (clocks out of step?)", uid)
    lon, lat, alt_m = _point(root, uid, airborne)
    detail = root.find("detail")
    course = speed = None
    vertical = 0.0
    callsign = plan_id = None
    if detail is not None:
        course, speed, vertical = _motion(detail.find("track"), uid)
        callsign = _text(detail.find("contact"), "callsign", "detail/contact", uid)
        plan_id = _text(detail.find("__detente"), "plan", "detail/__detente", uid)
    return TrackReport(
        party=party,
        uid=uid,
        time=time,
        lon=lon,
        lat=lat,
        alt_m=alt_m,
        course_deg=course,
        speed_mps=speed,
        vertical_mps=vertical,
        stale=stale,
        callsign=callsign,
        plan_id=plan_id,
        airborne=airborne,
    )


def _dimension(cot_type: str | None, uid: str) -> bool:
    """True for an air track, False for a ground or surface one; raise for anything else."""
    if not cot_type:
        raise _fail("@type", "is missing", uid)
    parts = cot_type.split("-")
    if parts[0] != "a":
        raise NotATrackError("CoT", "@type", f"{show(cot_type)} is not a track (a-...)", uid=uid)
    if len(parts) < 3 or parts[2] not in _AIR | _SURFACE:
        raise _fail(
            "@type",
            f"{show(cot_type)} is neither air (a-?-A...) nor ground or surface (a-?-G/S/U/F...)",
            uid,
        )
    return parts[2] in _AIR


def _instant(element: ET.Element, name: str, uid: str) -> float:
    text = element.get(name)
    if text is None:
        raise _fail(f"@{name}", "is missing", uid)
    try:
        return parse_cot_instant(text)
    except (ValueError, OverflowError):
        raise _fail(
            f"@{name}", f"must be an instant such as 2024-05-01T12:00:00Z, got {show(text)}", uid
        ) from None


def _text(element: ET.Element | None, name: str, path: str, uid: str) -> str | None:
    """A text attribute, stripped; None when absent or empty."""
    if element is None:
        return None
    text = (element.get(name) or "").strip()
    if len(text) > MAX_TEXT:
        raise _fail(f"{path}/@{name}", f"is longer than {MAX_TEXT} characters", uid)
    return text or None


def _value(element: ET.Element, name: str, path: str, uid: str) -> float | None:
    """A number attribute; None when absent or CoT's 'unknown'."""
    text = element.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = number(text)
    except ValueError:
        raise _fail(f"{path}/@{name}", f"must be a number, got {show(text)}", uid) from None
    return None if value >= UNKNOWN - 0.5 else value


def _point(event: ET.Element, uid: str, airborne: bool) -> tuple[float, float, float]:
    points = event.findall("point")
    if len(points) != 1:
        raise _fail("point", f"an event needs exactly one point, found {len(points)}", uid)
    point = points[0]
    lat = _value(point, "lat", "point", uid)
    lon = _value(point, "lon", "point", uid)
    hae = _value(point, "hae", "point", uid)
    if lat is None or not -90.0 <= lat <= 90.0:
        raise _fail(
            "point/@lat", f"must be within [-90, 90], got {show(point.get('lat', ''))}", uid
        )
    if lon is None or not -180.0 <= lon <= 180.0:
        raise _fail(
            "point/@lon", f"must be within [-180, 180], got {show(point.get('lon', ''))}", uid
        )
    if hae is None:
        if airborne:
            raise _fail("point/@hae", "an air track needs its height", uid)
        hae = 0.0
    low, high = ALT_RANGE_M
    if not low <= hae <= high:
        raise _fail("point/@hae", f"must be within [{low:g}, {high:g}] m, got {hae:g}", uid)
    return lon, lat, hae


def _motion(track: ET.Element | None, uid: str) -> tuple[float | None, float | None, float]:
    """Course (deg true), ground speed (m/s) and vertical speed (m/s) from `detail/track`."""
    if track is None:
        return None, None, 0.0
    course = _value(track, "course", "detail/track", uid)
    speed = _value(track, "speed", "detail/track", uid)
    slope = _value(track, "slope", "detail/track", uid)
    if course is not None:
        course %= 360.0
    if speed is not None and not 0.0 <= speed <= MAX_SPEED_MPS:
        raise _fail(
            "detail/track/@speed", f"must be within [0, {MAX_SPEED_MPS:g}] m/s, got {speed:g}", uid
        )
    if (course is None) != (speed is None) and speed != 0.0:
        return None, None, 0.0  # half a velocity is none: the track is held still
    vertical = 0.0
    if slope is not None and speed:
        if not -90.0 < slope < 90.0:
            raise _fail("detail/track/@slope", f"must be within (-90, 90), got {slope:g}", uid)
        vertical = speed * math.tan(math.radians(slope))
        if abs(vertical) > _MAX_VERTICAL_MPS:
            raise _fail(
                "detail/track/@slope",
                f"gives {vertical:.0f} m/s vertically, beyond {_MAX_VERTICAL_MPS:g}",
                uid,
            )
    return course, speed, vertical


# --- emitting --------------------------------------------------------------------------------


def _event(uid: str, cot_type: str, how: str, time: float, stale: float) -> ET.Element:
    when = cot_instant(time)
    return ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": uid,
            "type": cot_type,
            "how": how,
            "time": when,
            "start": when,
            "stale": cot_instant(stale),
        },
    )


def _add_point(event: ET.Element, lon: float, lat: float, alt_m: float) -> None:
    unknown = repr(UNKNOWN)
    ET.SubElement(
        event,
        "point",
        {"lat": repr(lat), "lon": repr(lon), "hae": repr(alt_m), "ce": unknown, "le": unknown},
    )


def _add_track(
    detail: ET.Element, course: float | None, speed: float | None, vertical: float
) -> None:
    if course is None and speed is None:
        return
    attrs = {"course": repr(course if course is not None else UNKNOWN)}
    attrs["speed"] = repr(speed if speed is not None else UNKNOWN)
    if speed and vertical:
        attrs["slope"] = repr(math.degrees(math.atan2(vertical, speed)))
    ET.SubElement(detail, "track", attrs)


def _serialise(event: ET.Element) -> bytes:
    return _DECLARATION + ET.tostring(event, encoding="utf-8", xml_declaration=False)


def track_event(
    report: TrackReport, *, cot_type: str | None = None, how: str = "m-g", stale_s: float = 60.0
) -> bytes:
    """A TrackReport as a CoT event (type `a-u-A` or `a-u-G` unless given).

    Stale at the report's `stale`, else `stale_s` after its time. The plan link goes in
    `detail/__detente/@plan`; vertical speed in `detail/track/@slope` (needs a ground speed).

    >>> track_event(TrackReport("blue", "V1", 0.0, 1.0, 2.0, 30.0))[:38]
    b'<?xml version="1.0" encoding="UTF-8"?>'
    """
    if cot_type is None:
        cot_type = "a-u-A" if report.airborne else "a-u-G"
    stale = report.stale if report.stale is not None else report.time + stale_s
    event = _event(report.uid, cot_type, how, report.time, stale)
    _add_point(event, report.lon, report.lat, report.alt_m)
    detail = ET.SubElement(event, "detail")
    _add_track(detail, report.course_deg, report.speed_mps, report.vertical_mps)
    if report.callsign:
        ET.SubElement(detail, "contact", {"callsign": report.callsign})
    if report.plan_id:
        ET.SubElement(detail, "__detente", {"plan": report.plan_id})
    return _serialise(event)


def alert_uid(*parts: str) -> str:
    """A stable CoT uid for one alert, from the alert's key; it reveals nothing of the key.

    >>> alert_uid("blue/V1", "red/R7") == alert_uid("blue/V1", "red/R7")
    True
    >>> alert_uid("blue/V1", "red/R7")[:14]
    'detente-alert-'
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"detente-alert-{digest[:20]}"


def alert_remarks(
    level: str, t_los_s: float, t_cpa_s: float, h_cpa_m: float, v_cpa_m: float
) -> str:
    """The alert in words, for the TAK user.

    >>> print(alert_remarks("warning", 45.2, 70, 1852, 91.44))  # doctest: +NORMALIZE_WHITESPACE
    Détente WARNING: separation lost in 45 s; closest approach in 70 s: 1.0 NM (1852 m) apart,
    300 ft (91 m) vertically.
    """
    lost = "now" if t_los_s < _LOST_NOW_S else f"in {t_los_s:.0f} s"
    return (
        f"Détente {level.upper()}: separation lost {lost}; closest approach in {t_cpa_s:.0f} s: "
        f"{h_cpa_m / 1852.0:.1f} NM ({h_cpa_m:.0f} m) apart, "
        f"{v_cpa_m / FT:.0f} ft ({v_cpa_m:.0f} m) vertically."
    )


def alert_event(
    uid: str,
    *,
    level: str,
    now: float,
    lon: float,
    lat: float,
    alt_m: float,
    t_los_s: float,
    t_cpa_s: float,
    h_cpa_m: float,
    v_cpa_m: float,
    course_deg: float | None = None,
    speed_mps: float | None = None,
    vertical_mps: float = 0.0,
    callsign: str | None = None,
    cot_type: str = "a-u-A",
    stale_s: float = 30.0,
) -> bytes:
    """A CoT marker for an alert, placed at the other party's aircraft, to send to a TAK client.

    Send it again with the same `uid` (see `alert_uid`) to move or update the marker; it
    disappears `stale_s` after `now` unless refreshed (send `stale_s=0` to clear it at once).
    The remarks give the level, time to loss of separation and the closest point of approach;
    `detail/__detente/@level` gives the level to machines.

    >>> xml = alert_event("A1", level="caution", now=0.0, lon=1.0, lat=2.0, alt_m=3000.0,
    ...                   t_los_s=90.0, t_cpa_s=120.0, h_cpa_m=900.0, v_cpa_m=0.0)
    >>> parse_event(xml, "blue", now=0.0).callsign
    'DETENTE CAUTION'
    """
    event = _event(uid, cot_type, "h-g-i-g-o", now, now + max(stale_s, 0.0))
    _add_point(event, lon, lat, alt_m)
    detail = ET.SubElement(event, "detail")
    _add_track(detail, course_deg, speed_mps, vertical_mps)
    ET.SubElement(detail, "contact", {"callsign": callsign or f"DETENTE {level.upper()}"})
    remarks = ET.SubElement(detail, "remarks")
    remarks.text = alert_remarks(level, t_los_s, t_cpa_s, h_cpa_m, v_cpa_m)
    ET.SubElement(detail, "__detente", {"level": level})
    return _serialise(event)
