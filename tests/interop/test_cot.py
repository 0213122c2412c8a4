"""Cursor-on-Target: events in, tracks and alerts out, and TCP streams cut into events."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detente.errors import TrackError
from detente.interop.cot import (
    MAX_EVENT_BYTES,
    CotStreamSplitter,
    NotATrackError,
    TrackFormatError,
    alert_event,
    alert_uid,
    parse_event,
    track_event,
)
from detente.model import TrackReport

TRACKS = Path(__file__).resolve().parent.parent / "data" / "tracks"
T0 = 1443679200.0  # 2015-10-01T06:00:00Z
NOW = T0 + 1.0


def event(
    *,
    uid: str = "V1",
    cot_type: str = "a-f-A-M-F",
    time: str = "2015-10-01T06:00:00Z",
    stale: str = "2015-10-01T06:00:30Z",
    point: str = '<point lat="35.2" lon="36.5" hae="7620" ce="10" le="10"/>',
    detail: str = "",
) -> str:
    return (
        f'<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" time="{time}"'
        f' start="{time}" stale="{stale}">{point}<detail>{detail}</detail></event>'
    )


# --- reading --------------------------------------------------------------------------------


def test_an_atak_air_track_gives_every_field():
    report = parse_event((TRACKS / "atak-air.xml").read_bytes(), "blue", now=NOW)
    assert report.party == "blue"
    assert report.uid == "ANDROID-7f3a9c21"
    assert report.time == T0
    assert report.stale == T0 + 30.0
    assert (report.lon, report.lat, report.alt_m) == (36.5, 35.2, 7620.0)
    assert (report.course_deg, report.speed_mps) == (90.0, 230.0)
    assert report.vertical_mps == pytest.approx(230.0 * math.tan(math.radians(1.0)))
    assert report.callsign == "VIPER 11"
    assert report.plan_id == "v11"
    assert report.airborne is True


def test_a_ground_unit_of_unknown_height_stands_at_zero():
    report = parse_event((TRACKS / "ground-unit.xml").read_text(), "red", now=NOW)
    assert report.airborne is False
    assert report.alt_m == 0.0
    assert (report.course_deg, report.speed_mps, report.plan_id) == (None, None, None)
    assert report.callsign == "2 BN"


@pytest.mark.parametrize(("cot_type", "airborne"), [("a-u-A", True), ("a-n-S-X", False)])
def test_the_battle_dimension_says_air_or_surface(cot_type, airborne):
    assert parse_event(event(cot_type=cot_type), "blue", now=NOW).airborne is airborne


def test_a_stale_event_comes_back_with_its_stale_time():
    report = parse_event(event(), "blue", now=T0 + 3600.0)
    assert report.stale == T0 + 30.0 < T0 + 3600.0


def test_half_a_velocity_holds_the_track_still():
    report = parse_event(event(detail='<track course="90"/>'), "blue", now=NOW)
    assert (report.course_deg, report.speed_mps) == (None, None)
    report = parse_event(event(detail='<track course="9999999.0" speed="0"/>'), "blue", now=NOW)
    assert (report.course_deg, report.speed_mps) == (None, 0.0)


def test_course_wraps_and_unknown_values_are_none():
    report = parse_event(event(detail='<track course="-90" speed="10"/>'), "blue", now=NOW)
    assert report.course_deg == 270.0


def test_a_ping_is_not_a_track():
    with pytest.raises(NotATrackError) as caught:
        parse_event((TRACKS / "tak-ping.xml").read_bytes(), "blue", now=NOW)
    assert isinstance(caught.value, TrackFormatError)
    assert isinstance(caught.value, TrackError)
    assert caught.value.field == "@type"


def test_entities_are_refused_before_they_expand():
    with pytest.raises(TrackFormatError, match="DTD or entities"):
        parse_event((TRACKS / "billion-laughs.xml").read_bytes(), "blue", now=NOW)


def test_an_event_beyond_the_size_limit_is_refused_unread():
    huge = event(detail=f"<remarks>{'x' * MAX_EVENT_BYTES}</remarks>")
    with pytest.raises(TrackFormatError, match="longer than"):
        parse_event(huge, "blue", now=NOW)


POINT = '<point lat="35" lon="36" hae="100" ce="1" le="1"/>'


@pytest.mark.parametrize(
    ("xml", "field", "reason"),
    [
        ("<event", None, "not well-formed XML"),
        ("<track/>", None, "not <event>"),
        (event(uid=""), "@uid", "missing"),
        (event(uid="u" * 200), "@uid", "longer than"),
        (event(cot_type=""), "@type", "missing"),
        (event(cot_type="a-f"), "@type", "neither air"),
        (event(cot_type="a-f-P"), "@type", "neither air"),
        (event(time="yesterday"), "@time", "must be an instant"),
        (event(stale="2015-10-01T05:00:00Z"), "@stale", "precedes @time"),
        (event(time="2015-10-01T07:00:00Z", stale="2015-10-01T08:00:00Z"), "@time", "future"),
        (event(point=""), "point", "exactly one point, found 0"),
        (event(point=POINT * 2), "point", "exactly one point, found 2"),
        (event(point=POINT.replace('lat="35"', 'lat="91"')), "point/@lat", "[-90, 90]"),
        (event(point=POINT.replace('lat="35"', "")), "point/@lat", "[-90, 90]"),
        (event(point=POINT.replace('lon="36"', 'lon="east"')), "point/@lon", "a number"),
        (event(point=POINT.replace('lon="36"', 'lon="nan"')), "point/@lon", "a number"),
        (event(point=POINT.replace('hae="100"', 'hae="9999999"')), "point/@hae", "its height"),
        (event(point=POINT.replace('hae="100"', 'hae="250000"')), "point/@hae", "within"),
        (event(detail='<track course="0" speed="-1"/>'), "detail/track/@speed", "within"),
        (event(detail='<track course="0" speed="9000"/>'), "detail/track/@speed", "within"),
        (event(detail='<track course="0" speed="100" slope="90"/>'), "detail/track/@slope", ""),
        (event(detail='<track course="0" speed="1000" slope="60"/>'), "detail/track/@slope", ""),
        (event(detail=f'<contact callsign="{"c" * 200}"/>'), "detail/contact/@callsign", ""),
    ],
)
def test_every_refusal_says_where_and_why(xml, field, reason):
    with pytest.raises(TrackFormatError) as caught:
        parse_event(xml, "blue", now=T0)
    assert not isinstance(caught.value, NotATrackError)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith("CoT event")


def test_the_error_names_the_uid_once_known():
    with pytest.raises(TrackFormatError) as caught:
        parse_event(event(uid="V7", point=""), "blue", now=T0)
    assert caught.value.uid == "V7"
    assert str(caught.value) == "CoT event V7: point: an event needs exactly one point, found 0"


# --- writing --------------------------------------------------------------------------------

reports = st.builds(
    TrackReport,
    party=st.just("blue"),
    uid=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=30),
    time=st.integers(0, 4_000_000_000_000).map(lambda ms: ms / 1000.0),
    lon=st.floats(-180.0, 180.0),
    lat=st.floats(-90.0, 90.0),
    alt_m=st.floats(-500.0, 100_000.0),
    course_deg=st.none() | st.floats(0.0, 359.9),
    speed_mps=st.none() | st.floats(1.0, 2000.0),
    callsign=st.none() | st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1),
    plan_id=st.none() | st.sampled_from(["v11", "plan/7", "Ω-1"]),
    airborne=st.booleans(),
).filter(lambda r: (r.course_deg is None) == (r.speed_mps is None))


@given(reports, st.floats(-50.0, 50.0))
def test_a_track_survives_emit_then_parse(report, vertical):
    if report.speed_mps:
        report = dataclasses.replace(report, vertical_mps=vertical)
    back = parse_event(track_event(report), "blue", now=report.time)
    assert back.vertical_mps == pytest.approx(report.vertical_mps, abs=1e-9)
    assert dataclasses.replace(back, vertical_mps=report.vertical_mps) == dataclasses.replace(
        report, stale=round(report.time + 60.0, 3)
    )


def test_emitted_text_is_escaped():
    report = TrackReport("blue", 'a"<b>&', T0, 36.0, 35.0, 100.0, callsign="<script>")
    back = parse_event(track_event(report), "blue", now=T0)
    assert (back.uid, back.callsign) == ('a"<b>&', "<script>")


def test_an_alert_is_a_marker_at_the_other_aircraft():
    uid = alert_uid("blue/V1", "red/R7")
    xml = alert_event(
        uid,
        level="warning",
        now=T0,
        lon=36.5,
        lat=35.2,
        alt_m=7620.0,
        t_los_s=45.0,
        t_cpa_s=70.0,
        h_cpa_m=1852.0,
        v_cpa_m=91.44,
        course_deg=270.0,
        speed_mps=200.0,
    )
    report = parse_event(xml, "tak", now=T0)
    assert report.uid == uid
    assert (report.lon, report.lat, report.alt_m, report.course_deg) == (36.5, 35.2, 7620.0, 270.0)
    assert report.stale == T0 + 30.0
    assert report.callsign == "DETENTE WARNING"
    assert b'type="a-u-A"' in xml
    assert "separation lost in 45 s" in xml.decode()
    assert "1.0 NM (1852 m) apart, 300 ft (91 m) vertically" in xml.decode()
    assert b'<__detente level="warning" />' in xml


def test_alert_uids_are_stable_and_opaque():
    assert alert_uid("blue/V1", "red/R7") == alert_uid("blue/V1", "red/R7")
    assert alert_uid("blue/V1", "red/R7") != alert_uid("blue/V1", "red/R8")
    assert "R7" not in alert_uid("blue/V1", "red/R7")


# --- splitting a stream ---------------------------------------------------------------------

A = event(uid="A").encode()
B = event(uid="B").encode()
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def uids(pieces):
    return [
        piece if isinstance(piece, TrackFormatError) else parse_event(piece, "x", now=NOW).uid
        for piece in pieces
    ]


def feed_all(splitter, chunks):
    out = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def test_an_event_fed_byte_by_byte_comes_out_whole():
    splitter = CotStreamSplitter()
    data = DECL + A
    out = feed_all(splitter, [data[i : i + 1] for i in range(len(data))])
    assert out == [A]
    assert splitter.pending == 0


def test_merged_events_come_apart():
    out = CotStreamSplitter().feed(DECL + A + b"\r\n" + DECL + B + b"<!-- keepalive -->" + A)
    assert out == [A, B, A]


def test_garbage_between_events_is_reported_and_skipped():
    out = CotStreamSplitter().feed(A + b"HTTP/1.1 200 OK\r\n" + B)
    assert out[0] == A and out[2] == B
    assert isinstance(out[1], TrackFormatError) and "17 bytes" in out[1].reason


def test_a_truncated_event_gives_way_to_the_next():
    out = CotStreamSplitter().feed(A[:60] + B)
    assert len(out) == 2
    assert isinstance(out[0], TrackFormatError) and "truncated" in out[0].reason
    assert out[1] == B


def test_an_oversized_event_is_dropped_and_the_stream_recovers():
    splitter = CotStreamSplitter(max_event_bytes=1000)
    big = event(uid="BIG", detail=f"<remarks>{'x' * 3000}</remarks>").encode()
    out = feed_all(splitter, [big[i : i + 400] for i in range(0, len(big), 400)] + [A])
    assert len(out) == 2
    assert isinstance(out[0], TrackFormatError) and "longer than 1000" in out[0].reason
    assert out[1] == A
    assert splitter.pending == 0


def test_a_long_run_of_garbage_is_dropped_not_hoarded():
    splitter = CotStreamSplitter(max_event_bytes=1000)
    out = feed_all(splitter, [b"z" * 700] * 3)
    assert [type(piece) for piece in out] == [TrackFormatError]
    assert splitter.pending < 1000
    rest, event_a = splitter.feed(A)
    assert isinstance(rest, TrackFormatError) and "705 bytes" in rest.reason
    assert event_a == A


def test_markup_inside_attribute_values_does_not_cut_the_event():
    tricky = event(uid="T", detail='<remarks note="a > b"/>').replace(
        'how="m-g"', 'how="m-g" x="/>"'
    )
    assert CotStreamSplitter().feed(tricky.encode() + A) == [tricky.encode(), A]


def test_a_self_closing_event_and_lookalike_elements():
    out = CotStreamSplitter().feed(b'<event uid="s"/><events/>' + A)
    assert out[0] == b'<event uid="s"/>'
    assert isinstance(out[1], TrackFormatError)
    assert out[2] == A


def test_the_end_of_the_stream_tells_a_cut_event_from_trailing_space():
    splitter = CotStreamSplitter()
    assert splitter.feed(A + b"\n  ") == [A]
    assert splitter.finish() == []
    splitter.feed(A[:50])
    (error,) = splitter.finish()
    assert "cut short" in error.reason
    assert splitter.pending == 0


@given(
    st.lists(st.sampled_from([A, B, DECL + A, b"\n", b"garbage!", A[:70]]), max_size=12),
    st.randoms(use_true_random=False),
)
def test_any_chunking_gives_the_same_pieces(parts, rnd: random.Random):
    data = b"".join(parts)
    whole = CotStreamSplitter()
    expected = whole.feed(data) + whole.finish()
    cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, 6))) if len(data) > 1 else []
    chunks = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    splitter = CotStreamSplitter()
    got = feed_all(splitter, chunks) + splitter.finish()
    shown = [str(p) if isinstance(p, TrackFormatError) else p for p in got]
    assert shown == [str(p) if isinstance(p, TrackFormatError) else p for p in expected]
    # Every whole event sent comes out, whatever the garbage and cut events around it.
    assert [p for p in got if isinstance(p, bytes)] == [
        B if p == B else A for p in parts if p in (A, B, DECL + A)
    ]
