"""The tactical detector: hand-made encounters, and random traffic against an all-pairs oracle."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from detente.tactical import cpa
from detente.tactical._grid import pair_jobs
from detente.tactical.arrays import TrackArrayError, TrackArrays
from detente.tactical.cpa import Encounters, TacticalSettingError, encounters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpa_oracle import all_pairs

H = 9260.0
V = 304.8
T = 300.0
GEOD = Geod(ellps="WGS84")


def tracks(*rows: tuple[float, ...]) -> TrackArrays:
    """Rows of (party, lon, lat, alt_m, v_east, v_north, v_up)."""
    columns = list(zip(*rows, strict=True))
    return TrackArrays(*columns)


def detect(t: TrackArrays, **kwargs: object) -> Encounters:
    options: dict[str, object] = {"horizontal_m": H, "vertical_m": V, "lookahead_s": T}
    options.update(kwargs)
    return encounters(t, **options)  # type: ignore[arg-type]


def point(lon: float, lat: float, azimuth: float, distance_m: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, distance_m)
    return float(lon2), float(lat2)


def one(found: Encounters) -> dict[str, float]:
    assert len(found) == 1
    return {
        name: float(getattr(found, name)[0])
        for name in ("i", "j", "t_los", "t_regain", "t_cpa", "h_cpa_m", "v_cpa_m")
    }


# Hand-made encounters ----------------------------------------------------------------------


def test_head_on_on_the_equator():
    # 60 km apart (geodesic), closing at 400 m/s: the chord is 0.2 m shorter than the arc.
    lon_b, _ = point(0.0, 0.0, 90.0, 60_000.0)
    found = detect(tracks((0, 0.0, 0.0, 9000, 200, 0, 0), (1, lon_b, 0.0, 9000, -200, 0, 0)))
    e = one(found)
    assert (e["i"], e["j"]) == (0, 1)
    assert e["t_los"] == pytest.approx((60_000 - H) / 400, abs=0.01)
    assert e["t_regain"] == pytest.approx((60_000 + H) / 400, abs=0.01)
    assert e["t_cpa"] == pytest.approx(150.0, abs=0.01)
    assert e["h_cpa_m"] < 1.0
    assert e["v_cpa_m"] == 0.0


def test_crossing_at_right_angles():
    # Both 40 km from a crossing point at 45N, one flying north, one east: they meet there.
    lon_a, lat_a = point(10.0, 45.0, 180.0, 40_000.0)
    lon_b, lat_b = point(10.0, 45.0, 270.0, 40_000.0)
    found = detect(tracks((0, lon_a, lat_a, 9000, 0, 200, 0), (1, lon_b, lat_b, 9100, 200, 0, 0)))
    e = one(found)
    closing = 200 * math.sqrt(2)
    assert e["t_cpa"] == pytest.approx(200.0, abs=1.0)
    assert e["h_cpa_m"] < 300.0  # each track's heading at its start is not the geodesic's
    assert e["t_los"] == pytest.approx(200.0 - H / closing, abs=1.0)
    assert e["v_cpa_m"] == pytest.approx(100.0)


def test_parallel_tracks_inside_the_minimum_never_part():
    lon_b, lat_b = point(20.0, 30.0, 0.0, 5_000.0)
    found = detect(tracks((0, 20.0, 30.0, 9000, 230, 0, 0), (1, lon_b, lat_b, 9000, 230, 0, 0)))
    e = one(found)
    assert e["t_los"] == 0.0
    assert e["t_regain"] == math.inf
    assert e["t_cpa"] == 0.0
    assert e["h_cpa_m"] == pytest.approx(5_000.0, abs=1.0)


def test_parallel_tracks_outside_the_minimum_are_no_encounter():
    lon_b, lat_b = point(20.0, 30.0, 0.0, 10_000.0)
    found = detect(tracks((0, 20.0, 30.0, 9000, 230, 0, 0), (1, lon_b, lat_b, 9000, 230, 0, 0)))
    assert len(found) == 0


def test_already_lost_and_separating():
    # 2 km apart now, flying apart at 100 m/s: lost now, regained when 9,260 m apart.
    lon_b, lat_b = point(0.0, 50.0, 90.0, 2_000.0)
    found = detect(tracks((0, 0.0, 50.0, 9000, -50, 0, 0), (1, lon_b, lat_b, 9000, 50, 0, 0)))
    e = one(found)
    assert e["t_los"] == 0.0
    assert e["t_regain"] == pytest.approx((H - 2_000) / 100, abs=0.01)
    assert e["t_cpa"] == 0.0


def test_pair_that_separates_before_meeting_the_minimum_is_no_encounter():
    lon_b, lat_b = point(0.0, 50.0, 90.0, 12_000.0)
    found = detect(tracks((0, 0.0, 50.0, 9000, -50, 0, 0), (1, lon_b, lat_b, 9000, 50, 0, 0)))
    assert len(found) == 0


def test_vertical_only():
    # Same place and velocity, 1000 m apart vertically, one descending at 5 m/s.
    found = detect(tracks((0, 5.0, 5.0, 9000, 100, 0, 0), (1, 5.0, 5.0, 10_000, 100, 0, -5)))
    e = one(found)
    assert e["t_los"] == pytest.approx((1000 - V) / 5)
    assert e["t_regain"] == pytest.approx((1000 + V) / 5)
    assert e["h_cpa_m"] == 0.0
    assert e["t_cpa"] == 0.0
    assert e["v_cpa_m"] == pytest.approx(1000.0)


def test_vertical_separation_keeps_a_head_on_pair_apart():
    lon_b, _ = point(0.0, 0.0, 90.0, 30_000.0)
    found = detect(tracks((0, 0.0, 0.0, 9000, 200, 0, 0), (1, lon_b, 0.0, 9305, -200, 0, 0)))
    assert len(found) == 0


def test_beyond_the_look_ahead():
    lon_b, _ = point(0.0, 0.0, 90.0, 200_000.0)
    pair = tracks((0, 0.0, 0.0, 9000, 200, 0, 0), (1, lon_b, 0.0, 9000, -200, 0, 0))
    assert len(detect(pair)) == 0
    assert one(detect(pair, lookahead_s=600.0))["t_los"] == pytest.approx(
        (200_000 - H) / 400, abs=0.05
    )


def test_same_party_pairs_are_left_out_unless_asked():
    lon_b, _ = point(0.0, 0.0, 90.0, 20_000.0)
    pair = tracks((3, 0.0, 0.0, 9000, 200, 0, 0), (3, lon_b, 0.0, 9000, -200, 0, 0))
    assert len(detect(pair)) == 0
    assert len(detect(pair, same_party=True)) == 1


def test_across_the_antimeridian():
    found = detect(tracks((0, 179.95, 10.0, 9000, 200, 0, 0), (1, -179.95, 10.0, 9000, -200, 0, 0)))
    e = one(found)
    gap = GEOD.inv(179.95, 10.0, -179.95, 10.0)[2]
    assert e["t_cpa"] == pytest.approx(gap / 400, abs=0.01)
    assert e["h_cpa_m"] < 1.0


def test_through_the_pole():
    # On opposite meridians, both flying true north: they meet at the pole.
    found = detect(tracks((0, 0.0, 89.95, 9000, 0, 200, 0), (1, 180.0, 89.95, 9000, 0, 200, 0)))
    e = one(found)
    gap = GEOD.inv(0.0, 89.95, 180.0, 89.95)[2]
    assert e["t_cpa"] == pytest.approx(gap / 400, abs=0.01)
    assert e["h_cpa_m"] < 1.0


def test_a_track_at_the_pole():
    lon_b, lat_b = point(0.0, 90.0, 180.0, 20_000.0)  # down the meridian of 0
    # At the pole "north" is the direction of the given longitude's meridian, away from it.
    found = detect(tracks((0, 0.0, 90.0, 9000, 0, -100, 0), (1, lon_b, lat_b, 9000, 0, 100, 0)))
    e = one(found)
    assert e["t_cpa"] == pytest.approx(100.0, abs=0.1)


def test_converging_meridians_are_accounted_for():
    # At 80N, 0.5 deg of longitude apart (9.7 km), both flying true north at 250 m/s: their
    # meridians converge, so they close at about 2 m/s and lose separation after some 200 s.
    # A frame that keeps each track's own north (a flat earth) would see parallel tracks.
    found = detect(tracks((0, 0.0, 80.0, 9000, 0, 250, 0), (1, 0.5, 80.0, 9000, 0, 250, 0)))
    e = one(found)
    start = GEOD.inv(0.0, 80.0, 0.5, 80.0)[2]
    end_a = GEOD.fwd(0.0, 80.0, 0.0, 250 * 300)
    end_b = GEOD.fwd(0.5, 80.0, 0.0, 250 * 300)
    closing = (start - GEOD.inv(end_a[0], end_a[1], end_b[0], end_b[1])[2]) / 300
    assert e["t_los"] == pytest.approx((start - H) / closing, rel=0.02)


def test_nothing_to_compare():
    assert len(detect(TrackArrays.empty())) == 0
    assert len(detect(tracks((0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)))) == 0


def test_settings_are_checked():
    pair = tracks((0, 0.0, 0.0, 0, 0, 0, 0), (1, 0.0, 0.0, 0, 0, 0, 0))
    with pytest.raises(TacticalSettingError, match="horizontal_m"):
        detect(pair, horizontal_m=0.0)
    with pytest.raises(TacticalSettingError, match="lookahead_s"):
        detect(pair, lookahead_s=math.nan)


def test_track_arrays_are_checked():
    with pytest.raises(TrackArrayError, match="alt_m: row 1: must be finite"):
        TrackArrays([0, 1], [0, 0], [0, 0], [0, math.inf], [0, 0], [0, 0], [0, 0])
    with pytest.raises(TrackArrayError, match="lon: has 1 rows"):
        TrackArrays([0, 1], [0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0])
    with pytest.raises(TrackArrayError, match="party: must hold integer"):
        TrackArrays([0.5], [0], [0], [0], [0], [0], [0])


def test_take_and_concat_keep_rows():
    t = tracks((0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0), (1, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0))
    again = TrackArrays.concat([t.take([1]), t.take(np.array([True, False]))])
    assert again.party.tolist() == [1, 0]
    assert again.v_up.tolist() == [12.0, 6.0]


# Against the oracle ------------------------------------------------------------------------


def random_traffic(rng: np.random.Generator, n: int, lon0: float, lat0: float, side_m: float):
    azimuth = rng.uniform(0, 360, n)
    distance = side_m / 2 * np.sqrt(rng.uniform(0, 1, n))
    lon, lat, _ = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), azimuth, distance)
    heading = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(0, 300, n)
    v_up = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.uniform(-20, 20, n))
    return TrackArrays(
        rng.integers(0, 3, n),
        lon,
        lat,
        rng.uniform(8000, 10_000, n),
        speed * np.sin(heading),
        speed * np.cos(heading),
        v_up,
    )


def assert_matches_oracle(t: TrackArrays, h: float, v: float, look: float, same_party: bool):
    found = encounters(t, horizontal_m=h, vertical_m=v, lookahead_s=look, same_party=same_party)
    expected, borderline = all_pairs(t, h, v, look, same_party=same_party)
    got = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(found.i, found.j, strict=True))}
    assert list(got) == sorted(got), "pairs are sorted by (i, j)"
    assert all(i < j for i, j in got)
    assert set(got) - borderline == set(expected) - borderline
    for pair, k in got.items():
        if pair not in expected:
            continue
        e = expected[pair]
        assert found.t_los[k] == pytest.approx(e.t_los, abs=1e-3, rel=1e-6)
        # Below 1 nm/s relative speed the detector takes the pair as still: never regained.
        assert found.t_regain[k] == pytest.approx(e.t_regain, abs=1e-3, rel=1e-6) or (
            min(found.t_regain[k], e.t_regain) > 1e9
        )
        assert found.h_cpa_m[k] == pytest.approx(e.h_cpa_m, abs=1e-3)
        # The time of least horizontal distance is ill-conditioned when the tracks hardly move
        # apart; then only the distance itself must agree.
        if e.speed_mps > 1e-6:
            assert found.t_cpa[k] == pytest.approx(e.t_cpa, abs=1e-3)
            assert found.v_cpa_m[k] == pytest.approx(e.v_cpa_m, abs=1e-3)


@pytest.mark.parametrize(
    ("lon0", "lat0"),
    [(0.0, 0.0), (180.0, 35.0), (-60.0, -89.7), (25.0, 90.0), (120.0, 72.0)],
)
def test_random_traffic_matches_the_oracle(lon0: float, lat0: float):
    rng = np.random.default_rng(abs(int(lon0 * 100 + lat0)))
    t = random_traffic(rng, 110, lon0, lat0, 200_000.0)
    assert_matches_oracle(t, H, V, T, same_party=False)


def test_random_traffic_of_one_party_with_same_party_pairs():
    rng = np.random.default_rng(7)
    t = random_traffic(rng, 80, -179.9, 60.0, 120_000.0)
    found = encounters(t, horizontal_m=H, vertical_m=V, lookahead_s=T, same_party=True)
    assert len(found) > 50
    assert_matches_oracle(t, H, V, T, same_party=True)


def test_the_broad_phase_never_takes_all_pairs():
    rng = np.random.default_rng(3)
    t = random_traffic(rng, 3000, 40.0, 45.0, 2_000_000.0)
    g = cpa._geometry(t)
    boxes = cpa._boxes(g, H, V, T)
    candidates = sum(len(job()[0]) for job in pair_jobs(boxes, cpa.CELL_M, 1 << 16))
    assert 0 < candidates < 0.01 * 3000 * 2999 / 2


def test_threads_and_small_jobs_change_nothing(monkeypatch):
    rng = np.random.default_rng(11)
    t = random_traffic(rng, 1500, 170.0, -40.0, 600_000.0)
    alone = encounters(t, horizontal_m=H, vertical_m=V, lookahead_s=T)
    monkeypatch.setattr(cpa, "CHUNK_PAIRS", 64)
    shared = encounters(t, horizontal_m=H, vertical_m=V, lookahead_s=T, workers=2)
    assert len(alone) > 20
    for name in ("i", "j", "t_los", "t_regain", "t_cpa", "h_cpa_m", "v_cpa_m"):
        assert np.array_equal(getattr(alone, name), getattr(shared, name))


track_rows = st.tuples(
    st.integers(0, 2),
    st.floats(-50_000, 50_000),
    st.floats(-50_000, 50_000),
    st.floats(0, 3_000),
    st.floats(-400, 400),
    st.floats(-400, 400),
    st.sampled_from([0.0, 0.0, -30.0, -1.5, 2.0, 25.0]),
)


@settings(max_examples=120)
@given(
    lon0=st.floats(-180, 180),
    lat0=st.floats(-90, 90),
    rows=st.lists(track_rows, min_size=2, max_size=10),
    h=st.sampled_from([500.0, 9260.0, 30_000.0]),
    look=st.sampled_from([0.0, 60.0, 300.0, 900.0]),
)
def test_any_traffic_matches_the_oracle(lon0, lat0, rows, h, look):
    n = len(rows)
    party, dx, dy, alt, ve, vn, vu = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    azimuth = np.degrees(np.arctan2(dx, dy))
    lon, lat, _ = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), azimuth, np.hypot(dx, dy))
    t = TrackArrays(party.astype(int), lon, lat, alt, ve, vn, vu)
    assert_matches_oracle(t, h, V, look, same_party=False)
