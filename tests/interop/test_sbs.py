"""SBS-1 lines: each field read in its unit, messages merged per aircraft into track reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from detente.errors import TrackError
from detente.interop.cot import NotATrackError, TrackFormatError
from detente.interop.sbs import SbsAggregator, SbsMessage, parse_line

TRACKS = Path(__file__).resolve().parent.parent / "data" / "tracks"
T0 = 1443679200.0  # 2015-10-01T06:00:00Z
FT, KT, FPM = 0.3048, 1852.0 / 3600.0, 0.3048 / 60.0


def line(transmission: int = 3, **fields: str) -> str:
    """An SBS line with the given 1-based fields filled in (names as in the BaseStation spec)."""
    names = {
        "hex": 5,
        "date": 7,
        "time": 8,
        "logdate": 9,
        "logtime": 10,
        "callsign": 11,
        "altitude": 12,
        "speed": 13,
        "track": 14,
        "lat": 15,
        "lon": 16,
        "vrate": 17,
        "squawk": 18,
        "ground": 22,
    }
    row = ["MSG", str(transmission), "1", "1", "4CA2D6", "1", "2015/10/01", "06:00:00.000"]
    row += ["2015/10/01", "06:00:00.000"] + [""] * 12
    for name, value in fields.items():
        row[names[name] - 1] = value
    return ",".join(row)


def test_the_fixture_lines_read_as_dump1090_sends_them():
    lines = (TRACKS / "dump1090.sbs").read_text().splitlines()
    messages = []
    for text in lines:
        try:
            messages.append(parse_line(text))
        except NotATrackError:
            messages.append("status")
        except TrackFormatError as error:
            messages.append(error)
    assert [m.transmission if isinstance(m, SbsMessage) else m for m in messages[:6]] == [
        1,
        3,
        4,
        5,
        6,
        8,
    ]
    assert messages[0].callsign == "RYR7GX"
    assert messages[4].squawk == "7700"
    assert messages[6] == "status"
    assert messages[8].on_ground is True
    assert messages[9].hex_ident == "~A1B2C3"
    assert isinstance(messages[10], TrackFormatError)
    assert "expected 22 fields" in str(messages[10])


def test_the_aggregator_merges_callsign_position_and_velocity():
    board = SbsAggregator("blue", stale_s=20.0)
    out = []
    for text in (TRACKS / "dump1090.sbs").read_text().splitlines():
        try:
            out.append(board.accept(text, now=T0 + 10.0))
        except TrackError:
            out.append("error")
    callsign, position, velocity, alt5, squawk, flags, status, moved, surface, tisb, cut = out
    assert callsign is None  # no position yet
    assert (alt5, squawk, flags) == (None, None, None)  # types 5-8 only add to what is known
    assert status == cut == "error"
    assert position.uid == "4CA2D6"
    assert position.callsign == "RYR7GX"
    assert position.time == T0 + 1.0
    assert position.stale == T0 + 21.0
    assert (position.lat, position.lon) == (35.2, 36.5)
    assert position.alt_m == pytest.approx(35000 * FT)
    assert (position.course_deg, position.speed_mps, position.vertical_mps) == (None, None, 0.0)
    assert velocity.time == T0 + 1.0  # still the position's time
    assert velocity.speed_mps == pytest.approx(450 * KT)
    assert velocity.course_deg == 90.0
    assert velocity.vertical_mps == pytest.approx(-1024 * FPM)
    assert moved.time == T0 + 3.0
    assert moved.lon == 36.51
    assert moved.alt_m == pytest.approx(35050 * FT)
    assert moved.speed_mps == velocity.speed_mps
    assert surface.airborne is False
    assert surface.alt_m == 0.0
    assert surface.speed_mps == pytest.approx(12 * KT)
    assert tisb.uid == "~A1B2C3"
    assert len(board) == 3


def test_an_airborne_position_without_altitude_waits_for_one():
    board = SbsAggregator("blue")
    assert board.accept(line(3, lat="35", lon="36"), now=T0) is None
    report = board.accept(line(5, altitude="1000"), now=T0)
    assert report is None  # type 5 merges silently...
    report = board.accept(line(4, speed="100", track="45"), now=T0)
    assert report.alt_m == pytest.approx(1000 * FT)  # ...and the next report carries it


def test_a_line_without_date_is_dated_by_its_log_time_or_now():
    position = {"altitude": "1000", "lat": "35", "lon": "36"}
    message = parse_line(line(3, date="", time="", logtime="06:00:02.000", **position))
    assert message.time == T0 + 2.0
    message = parse_line(line(3, date="", time="", logdate="", logtime="", **position))
    assert message.time is None
    assert SbsAggregator("blue").update(message, now=T0 + 5.0).time == T0 + 5.0


def test_silent_aircraft_are_forgotten():
    board = SbsAggregator("blue", forget_s=60.0)
    board.accept(line(3, altitude="1000", lat="35", lon="36"), now=T0)
    board.accept(line(3, hex="ABCDEF", altitude="1000", lat="35", lon="36"), now=T0 + 50.0)
    board.prune(T0 + 100.0)
    assert len(board) == 1
    report = board.accept(line(4, speed="100", track="45"), now=T0 + 100.0)
    assert report is None  # 4CA2D6 starts over: no position known


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("MSG,3,1,1,4CA2D6", None, "expected 22 fields, got 5"),
        ("HELLO,3" + "," * 20, None, "must start with MSG"),
        (line(hex="4CA2D"), "hex ident", "six hex digits"),
        (line(hex="4CA2DZ"), "hex ident", "six hex digits"),
        (line(9), "transmission type", "1 to 8"),
        (line(altitude="FL350"), "altitude", "a number"),
        (line(altitude="400000"), "altitude", "within"),
        (line(lat="35"), "latitude", "come together"),
        (line(lat="95", lon="36"), "latitude", "within"),
        (line(lat="35", lon="-181"), "longitude", "within"),
        (line(speed="-3"), "ground speed", "within"),
        (line(vrate="200000"), "vertical rate", "within"),
        (line(date="01/10/2015"), "date and time", "YYYY/MM/DD"),
        (line(ground="yes"), "on ground", "-1, 1 or 0"),
        (line(callsign="X" * 200), "callsign", "longer than"),
        ("MSG" + "," * 2000, None, "longer than"),
    ],
)
def test_every_refusal_says_where_and_why(text, field, reason):
    with pytest.raises(TrackFormatError) as caught:
        parse_line(text)
    assert not isinstance(caught.value, NotATrackError)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith("SBS line")


def test_bytes_must_be_ascii():
    assert parse_line(line(callsign="AB12").encode()).callsign == "AB12"
    with pytest.raises(TrackFormatError, match="ASCII"):
        parse_line(line(callsign="Ä").encode("latin-1"))


@pytest.mark.parametrize("kind", ["SEL", "ID", "AIR", "STA", "CLK"])
def test_status_lines_are_not_tracks(kind):
    with pytest.raises(NotATrackError):
        parse_line(f"{kind},,1,1,4CA2D6,1,2015/10/01,06:00:00.000")
