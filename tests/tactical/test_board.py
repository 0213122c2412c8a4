"""The track board: newest report wins, staleness, party codes and dead reckoning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detente.geo import GEOD
from detente.model import TrackReport
from detente.tactical.board import TrackBoard, TrackReportError


def report(uid: str = "a", time: float = 0.0, party: str = "red", **kw: object) -> TrackReport:
    fields: dict[str, object] = {"lon": 10.0, "lat": 50.0, "alt_m": 5000.0, **kw}
    return TrackReport(party, uid, time, **fields)  # type: ignore[arg-type]


# --- ordering ------------------------------------------------------------------------------------


def test_newer_report_replaces_older_and_late_one_is_ignored():
    board = TrackBoard()
    assert board.update(report(time=10.0, lon=1.0))
    assert board.update(report(time=12.0, lon=2.0))
    assert not board.update(report(time=11.0, lon=3.0))
    assert board.ignored == 1
    held = board.get(("red", "a"))
    assert held is not None and held.lon == 2.0
    # The same time again: the later arrival wins and nothing is counted as ignored.
    assert board.update(report(time=12.0, lon=4.0))
    assert board.reports[("red", "a")].lon == 4.0
    assert board.ignored == 1
    assert len(board) == 1


def test_same_uid_of_two_parties_are_two_tracks():
    board = TrackBoard()
    board.update(report(party="red"))
    board.update(report(party="blue"))
    assert sorted(board) == [("blue", "a"), ("red", "a")]


def test_party_codes_are_stable():
    board = TrackBoard()
    board.update(report("x", party="red"))
    board.update(report("y", party="blue"))
    assert dict(board.party_codes) == {"red": 0, "blue": 1}
    board.expire(1e9)
    board.update(report("z", time=1e9, party="green"))
    board.update(report("w", time=1e9, party="red"))
    keys, tracks = board.snapshot(1e9)
    codes = dict(zip(keys, tracks.party.tolist(), strict=True))
    assert codes == {("green", "z"): 2, ("red", "w"): 0}
    assert board.party_name(2) == "green"
    assert tracks.party.dtype == np.int32


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["update", "update", "update", "expire"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["red", "blue"]),
            st.floats(0.0, 200.0),
            st.one_of(st.none(), st.floats(0.0, 300.0)),
        ),
        max_size=60,
    )
)
def test_board_matches_a_dict_oracle(ops):
    board = TrackBoard(max_age_s=30.0, capacity=2)
    oracle: dict[tuple[str, str], TrackReport] = {}
    ignored = 0
    for k, (op, uid, party, t, stale) in enumerate(ops):
        if op == "update":
            r = report(uid, t, party, stale=stale, lon=float(k))
            held = oracle.get((party, uid))
            if held is not None and t < held.time:
                ignored += 1
            else:
                oracle[(party, uid)] = r
            board.update(r)
        else:
            expired = {
                key
                for key, r in oracle.items()
                if (r.stale if r.stale is not None else r.time + 30.0) <= t
            }
            assert set(board.expire(t)) == expired
            for key in expired:
                del oracle[key]
    assert dict(board.reports) == oracle
    assert board.ignored == ignored
    now = 100.0
    keys, tracks = board.snapshot(now)
    counting = {
        key
        for key, r in oracle.items()
        if now < (r.stale if r.stale is not None else r.time + 30.0)
    }
    assert set(keys) == counting and len(keys) == len(tracks)


# --- staleness -----------------------------------------------------------------------------------


def test_expire_by_stale_time_and_by_max_age():
    board = TrackBoard(max_age_s=60.0)
    board.update(report("cot", time=0.0, stale=20.0))
    board.update(report("sbs", time=0.0))
    board.update(report("late", time=0.0, stale=500.0))
    assert board.expire(19.9) == []
    # Not yet expired, but already left out of the snapshot.
    keys, _ = board.snapshot(30.0)
    assert set(keys) == {("red", "sbs"), ("red", "late")}
    assert board.expire(20.0) == [("red", "cot")]
    assert board.expire(59.0) == []
    assert board.expire(60.0) == [("red", "sbs")]
    assert list(board) == [("red", "late")]
    # A fresh report brings an expired track back.
    board.update(report("cot", time=70.0))
    assert ("red", "cot") in board


def test_remove_and_slot_reuse_keep_rows_aligned():
    board = TrackBoard(capacity=1)
    for k in range(50):
        board.update(report(str(k), lon=float(k)))
    for k in range(0, 50, 2):
        assert board.remove(("red", str(k)))
    assert not board.remove(("red", "0"))
    for k in range(50, 70):
        board.update(report(str(k), lon=float(k)))
    keys, tracks = board.snapshot(0.0)
    assert len(keys) == 45
    for key, lon in zip(keys, tracks.lon.tolist(), strict=True):
        assert lon == float(key[1])


def test_airborne_filter():
    board = TrackBoard()
    board.update(report("air"))
    board.update(report("truck", airborne=False))
    assert board.snapshot(0.0)[0] == [("red", "air")]
    assert board.snapshot(0.0, airborne=False)[0] == [("red", "truck")]
    assert sorted(board.snapshot(0.0, airborne=None)[0]) == [("red", "air"), ("red", "truck")]


def test_empty_board_snapshot():
    keys, tracks = TrackBoard().snapshot(0.0)
    assert keys == [] and len(tracks) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("lat", 91.0), ("lon", math.nan), ("time", math.inf), ("speed_mps", math.nan)],
)
def test_bad_report_is_refused_with_where_and_why(field, value):
    board = TrackBoard()
    with pytest.raises(TrackReportError, match=f"red/a: {field}"):
        board.update(report(**{field: value}))
    assert len(board) == 0


def test_bad_settings():
    with pytest.raises(ValueError, match="max_age_s"):
        TrackBoard(max_age_s=0.0)


# --- dead reckoning ------------------------------------------------------------------------------


def test_track_at_its_own_time_is_where_it_reported():
    board = TrackBoard()
    board.update(report(time=5.0, lon=20.0, lat=-30.0, course_deg=30.0, speed_mps=100.0))
    _, t = board.snapshot(5.0)
    assert (t.lon[0], t.lat[0], t.alt_m[0]) == (20.0, -30.0, 5000.0)
    assert t.v_east[0] == pytest.approx(50.0)
    assert t.v_north[0] == pytest.approx(100.0 * math.cos(math.radians(30.0)))


def test_unknown_course_or_speed_holds_still_but_climbs():
    board = TrackBoard()
    board.update(report("a", speed_mps=250.0, vertical_mps=10.0))
    board.update(report("b", course_deg=90.0))
    _, t = board.snapshot(10.0)
    assert t.lon.tolist() == [10.0, 10.0] and t.lat.tolist() == [50.0, 50.0]
    assert t.v_east.tolist() == [0.0, 0.0] and t.v_north.tolist() == [0.0, 0.0]
    assert t.alt_m.tolist() == [5100.0, 5000.0]
    assert t.v_up.tolist() == [10.0, 0.0]


@given(
    lon=st.floats(-180.0, 180.0),
    lat=st.floats(-89.0, 89.0),
    course=st.floats(0.0, 360.0),
    speed=st.floats(1.0, 600.0),
    dt=st.floats(-30.0, 120.0).filter(lambda x: abs(x) > 1e-3),
)
def test_dead_reckoning_follows_the_geodesic(lon, lat, course, speed, dt):
    board = TrackBoard(max_age_s=1e6)
    board.update(report(time=0.0, lon=lon, lat=lat, course_deg=course, speed_mps=speed))
    _, t = board.snapshot(dt)
    # Where it is: on the geodesic from the report, at the distance flown.
    az, _, dist = GEOD.inv(lon, lat, t.lon[0], t.lat[0])
    assert dist == pytest.approx(speed * abs(dt), rel=1e-9, abs=1e-6)
    assert math.cos(math.radians(az - course)) == pytest.approx(math.copysign(1.0, dt), abs=1e-6)
    # How it moves: at the same speed, along the geodesic (its azimuth further on).
    v_e, v_n = float(t.v_east[0]), float(t.v_north[0])
    assert math.hypot(v_e, v_n) == pytest.approx(speed, rel=1e-12)
    ahead_lon, ahead_lat, _ = GEOD.fwd(lon, lat, course, speed * (dt + 1.0))
    heading, _, _ = GEOD.inv(t.lon[0], t.lat[0], ahead_lon, ahead_lat)
    moved = math.degrees(math.atan2(v_e, v_n))
    assert math.cos(math.radians(moved - heading)) == pytest.approx(1.0, abs=1e-8)


def test_dead_reckoning_crosses_the_antimeridian():
    board = TrackBoard()
    board.update(report(time=0.0, lon=179.99, lat=0.0, course_deg=90.0, speed_mps=250.0))
    _, t = board.snapshot(20.0)
    assert -180.0 <= t.lon[0] < -179.9
    assert float(GEOD.inv(179.99, 0.0, t.lon[0], t.lat[0])[2]) == pytest.approx(5000.0)
