"""Property tests: the engine against the slow oracle of `tests/oracle.py` on random scenarios.

Scenarios are small (2-6 items of 2-3 parties) but drawn anywhere on the globe, including across
the antimeridian and within a degree of the poles. Pairs that come within the oracle's tolerance
band of a threshold are left out: either verdict is right for them. The engine must also give the
same answer whatever the order of the items and however they are split between incremental adds.
Two more families test SPEC §2's 0.5% bound where approximations strain: legs thousands of
kilometres long, and areas thousands of kilometres across. The oracle itself is checked on cases
worked by hand in `test_oracle.py`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import detente
import oracle
from detente.detect import PlanIndex
from detente.detect.grid import GridSpec, file_boxes
from detente.detect.trajectories import PieceCache, flight_pieces
from detente.model import (
    Agreement,
    Area,
    Band,
    Conflict,
    ConflictKind,
    Flight,
    Item,
    ItemRef,
    Kind,
    Shape,
)
from oracle import GEOD, Verdict

BASE = 1_443_679_200.0  # 2015-10-01T06:00:00Z
DISTANCE_REL = 0.005  # SPEC §2: reported distances within 0.5% of the geodesic ones
DISTANCE_ABS = 1.0  # metres, for distances near 0
EPS_S = 1e-6

Point = tuple[float, float]


# --- scenarios -----------------------------------------------------------------------------


def _place(origin: Point, azimuth: float, distance_m: float) -> Point:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance_m)
    return (float(lon), float(lat))


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def regions(draw: st.DrawFn) -> Point:
    """Where a scenario happens: anywhere, on the antimeridian, or within 6 degrees of a pole."""
    where = draw(st.sampled_from(["anywhere", "antimeridian", "north", "south"]))
    if where == "antimeridian":
        return (
            draw(st.sampled_from([-1.0, 1.0])) * draw(_floats(179.6, 180.0)),
            draw(_floats(-70.0, 70.0)),
        )
    if where == "north":
        return (draw(_floats(-180.0, 180.0)), draw(_floats(83.0, 89.0)))
    if where == "south":
        return (draw(_floats(-180.0, 180.0)), draw(_floats(-89.0, -83.0)))
    return (draw(_floats(-180.0, 180.0)), draw(_floats(-70.0, 70.0)))


@st.composite
def spots(draw: st.DrawFn, origin: Point, radius_m: float = 15_000.0) -> Point:
    return _place(origin, draw(_floats(0.0, 360.0)), draw(_floats(0.0, radius_m)))


@st.composite
def flights(draw: st.DrawFn, origin: Point, party: str, ident: str) -> Flight:
    """2-5 positions: legs at 100-300 m/s roughly towards the region's centre, holds, climbs."""
    here = draw(spots(origin))
    alt = draw(_floats(300.0, 4000.0))
    t = BASE + draw(_floats(0.0, 600.0))
    lon, lat, alts, times = [here[0]], [here[1]], [alt], [t]
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.integers(0, 9))
        if what == 0:
            pass  # the same position again at the same instant: a leg of no length
        elif what <= 2:
            t += draw(_floats(10.0, 120.0))  # a hold
        else:
            towards = GEOD.inv(here[0], here[1], *origin)[0] if here != origin else 0.0
            heading = towards + draw(_floats(-100.0, 100.0))
            duration = draw(_floats(20.0, 150.0))
            here = _place(here, heading, draw(_floats(100.0, 300.0)) * duration)
            t += duration
        if what > 0 and draw(st.booleans()):
            alt = min(max(alt + draw(_floats(-1500.0, 1500.0)), 0.0), 12_000.0)
        lon.append(here[0])
        lat.append(here[1])
        alts.append(alt)
        times.append(t)
    if times[-1] == times[0]:  # every leg had no length: hold at the end instead
        times[-1] += 60.0
    return Flight(party, ident, tuple(lon), tuple(lat), tuple(alts), tuple(times))


@st.composite
def rings(
    draw: st.DrawFn, centre: Point, lo_m: float, hi_m: float, clockwise: bool, least: int = 3
) -> tuple:
    """A ring around `centre` with vertices between `lo_m` and `hi_m` from it.

    Its vertices are in order of azimuth, so the ring is simple; with 5 or more, every edge
    stays more than 0.3 `lo_m` from the centre (room for a hole).
    """
    n = draw(st.integers(least, 6))
    step = 360.0 / n
    azimuths = [k * step + draw(_floats(-0.2, 0.2)) * step for k in range(n)]
    pts = [_place(centre, az, draw(_floats(lo_m, hi_m))) for az in azimuths]
    if not clockwise:  # azimuths turn clockwise; RFC 7946 exteriors turn the other way
        pts.reverse()
    return (*pts, pts[0])


@st.composite
def shapes(draw: st.DrawFn, origin: Point, point_ok: bool = False) -> Shape:
    """A circle, a polygon (perhaps with a hole), two polygons, or (for strikes) a point.

    Most are 1-10 km across, some up to 150 km (near a pole, these may enclose it).
    """
    choices = ["circle", "polygon", "holed", "multi"] + (["point", "point"] if point_ok else [])
    what = draw(st.sampled_from(choices))
    centre = draw(spots(origin))
    if what == "point":
        return Shape(center=centre)
    size = draw(_floats(800.0, 10_000.0) | _floats(800.0, 10_000.0) | _floats(1e4, 1.5e5))
    if what == "circle":
        return Shape(center=centre, radius_m=size)
    outer = draw(
        rings(centre, 0.5 * size, size, clockwise=False, least=5 if what == "holed" else 3)
    )
    if what == "holed":
        hole = draw(rings(centre, 0.05 * size, 0.15 * size, clockwise=True))
        return Shape(polygons=((outer, hole),))
    if what == "multi":
        far = _place(centre, draw(_floats(0.0, 360.0)), 2.5 * size)
        other = draw(rings(far, 0.5 * size, size, clockwise=False))
        return Shape(polygons=((outer,), (other,)))
    return Shape(polygons=((outer,),))


@st.composite
def bands(draw: st.DrawFn) -> Band:
    lower = draw(st.none() | _floats(0.0, 3000.0))
    upper = draw(st.none() | _floats(200.0, 4000.0))
    lo = -math.inf if lower is None else lower
    return Band(lo, math.inf if upper is None else max(lo, 0.0) + upper)


@st.composite
def areas(draw: st.DrawFn, origin: Point, kind: Kind, party: str, ident: str) -> Area:
    start = BASE + draw(_floats(0.0, 1200.0))
    end = start + draw(_floats(60.0, 1800.0))
    shape = draw(shapes(origin, point_ok=kind is Kind.STRIKE))
    if kind is Kind.STRIKE:
        reach = draw(_floats(300.0, 5000.0))
        band = Band(upper_m=draw(_floats(1000.0, 15_000.0)))
        return Area(kind, party, ident, shape, start, end, band, reach_m=reach)
    band = draw(bands()) if kind in (Kind.AIRSPACE, Kind.ZONE) else Band()
    return Area(kind, party, ident, shape, start, end, band)


KINDS = [Kind.FLIGHT] * 3 + [Kind.AIRSPACE, Kind.GROUND, Kind.STRIKE, Kind.ZONE]


@st.composite
def scenarios(draw: st.DrawFn, most: int = 6) -> tuple[list[Item], Agreement]:
    origin = draw(regions())
    parties = ["blue", "red", "green"][: draw(st.integers(2, 3))]
    items: list[Item] = []
    for k in range(draw(st.integers(2, most))):
        kind = draw(st.sampled_from(KINDS))
        party = draw(st.sampled_from(parties))
        ident = f"{kind.value}-{k}"
        if kind is Kind.FLIGHT:
            items.append(draw(flights(origin, party, ident)))
        else:
            items.append(draw(areas(origin, kind, party, ident)))
    agreement = Agreement(
        horizontal_m=draw(_floats(1000.0, 20_000.0)),
        vertical_m=draw(_floats(100.0, 600.0)),
        ground_buffer_m=draw(st.just(0.0) | _floats(0.0, 3000.0)),
        time_buffer_s=draw(st.just(0.0) | _floats(0.0, 120.0)),
        include_own=draw(st.booleans()),
    )
    return items, agreement


# --- comparing -----------------------------------------------------------------------------


def _pair(c: Conflict) -> frozenset[ItemRef]:
    return frozenset((c.a, c.b))


def _name(c: Conflict) -> str:
    return f"{c.kind.value} {c.a.party}/{c.a.id} x {c.b.party}/{c.b.id} [{c.start}, {c.end}]"


def _inside(times: np.ndarray, conflicts: Sequence[Conflict]) -> np.ndarray:
    """Which of `times` fall within one of the conflicts' intervals."""
    hit = np.zeros(len(times), bool)
    for c in conflicts:
        hit |= (times >= c.start - EPS_S) & (times <= c.end + EPS_S)
    return hit


def _check_intervals(v: Verdict, found: list[Conflict], is_flight_pair: bool) -> list[str]:
    problems = []
    sure = v.sure_loss_times()
    missed = sure[~_inside(sure, found)]
    if len(missed):
        problems.append(f"{v.a}x{v.b}: sure losses at {missed[:5]} outside reported intervals")
    clear = v.sure_clear_times()
    strictly = [c for c in found if c.end - c.start > 2 * EPS_S]
    shrunk = [
        Conflict(c.kind, c.a, c.b, c.start + EPS_S, c.end - EPS_S, c.closest) for c in strictly
    ]
    wrong = clear[_inside(clear, shrunk)]
    if len(wrong):
        problems.append(f"{v.a}x{v.b}: reported intervals cover sure-clear instants {wrong[:5]}")
    if is_flight_pair:
        least, most = v.interval_bounds()
        if not least <= len(found) <= most:
            problems.append(
                f"{v.a}x{v.b}: {len(found)} conflicts, the oracle allows {least} to {most}"
            )
    return problems


def _check_closest(x: Item, y: Item, c: Conflict) -> list[str]:
    """The reported worst instant: inside the interval, distances right, the least one."""
    problems = []
    cl = c.closest
    if isinstance(y, Flight) and not isinstance(x, Flight):
        x, y = y, x
    if isinstance(x, Flight):
        if not c.start - EPS_S <= cl.time <= c.end + EPS_S:
            problems.append(f"{_name(c)}: closest time {cl.time} outside the interval")
        h, v = oracle.separations(x, y, np.array([cl.time]))
        if abs(cl.horizontal_m - h[0]) > DISTANCE_REL * h[0] + DISTANCE_ABS:
            problems.append(f"{_name(c)}: closest {cl.horizontal_m} m, geodesic {h[0]} m")
        if abs(cl.vertical_m - v[0]) > 1.0:
            problems.append(f"{_name(c)}: vertical {cl.vertical_m} m, oracle {v[0]} m")
        times = np.linspace(c.start, c.end, 2001)
        least = float(oracle.separations(x, y, times)[0].min())
        if cl.horizontal_m > (1 + DISTANCE_REL) * least + DISTANCE_ABS:
            problems.append(f"{_name(c)}: closest {cl.horizontal_m} m but {least} m in between")
    else:
        assert isinstance(x, Area) and isinstance(y, Area)
        d = oracle.shape_distance(x.shape, y.shape)
        if abs(cl.horizontal_m - d) > DISTANCE_REL * d + DISTANCE_ABS:
            problems.append(f"{_name(c)}: closest {cl.horizontal_m} m, shapes {d} m apart")
    return problems


def disagreements(
    items: Sequence[Item], agreement: Agreement, conflicts: list[Conflict]
) -> list[str]:
    """Everything the engine's `conflicts` get wrong by the oracle, beyond its tolerance band."""
    by_ref = {item.ref: item for item in items}
    judged = {frozenset((v.a, v.b)): v for v in oracle.verdicts(items, agreement)}
    reported: dict[frozenset[ItemRef], list[Conflict]] = defaultdict(list)
    for c in conflicts:
        reported[_pair(c)].append(c)
    problems = []
    for key, found in reported.items():
        v = judged.get(key)
        if v is None:
            problems += [f"{_name(c)}: no rule pairs these items" for c in found]
            continue
        for c in found:
            if c.kind is not v.kind:
                problems.append(f"{_name(c)}: the oracle's kind is {v.kind.value}")
            elif c.kind is not ConflictKind.AIR and (c.a, c.b) != (v.a, v.b):
                problems.append(f"{_name(c)}: order should be {v.a} then {v.b}")
        if v.sure_clear:
            problems.append(f"{_name(found[0])}: the oracle clears it (score {v.score:.2f})")
            continue
        if len(v.times):
            is_flight_pair = all(isinstance(by_ref[r], Flight) for r in key)
            problems += _check_intervals(v, found, is_flight_pair)
        for c in found:
            problems += _check_closest(by_ref[c.a], by_ref[c.b], c)
    for key, v in judged.items():
        if v.sure_conflict and key not in reported:
            problems.append(
                f"missed {v.kind.value} {v.a.party}/{v.a.id} x {v.b.party}/{v.b.id} "
                f"(score {v.score:.2f}, worst at {v.worst_time}, loss {v.loss})"
            )
    return problems


# --- the engine against the oracle ---------------------------------------------------------


@given(scenarios())
def test_check_agrees_with_the_oracle(scenario: tuple[list[Item], Agreement]) -> None:
    items, agreement = scenario
    problems = disagreements(items, agreement, detente.check(items, agreement))
    assert not problems, "\n".join(problems)


@given(scenarios(), st.randoms(use_true_random=False))
def test_check_is_deterministic(scenario: tuple[list[Item], Agreement], rnd) -> None:
    items, agreement = scenario
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert detente.check(shuffled, agreement) == detente.check(items, agreement)


def _keys(conflicts: Sequence[Conflict]) -> set[tuple]:
    return {
        (c.kind, *sorted((c.a, c.b)), round(c.start, 6), round(c.end, 6))
        if c.kind is ConflictKind.AIR
        else (c.kind, c.a, c.b, round(c.start, 6), round(c.end, 6))
        for c in conflicts
    }


@given(scenarios(), st.data())
def test_incremental_adds_agree_with_one_check(
    scenario: tuple[list[Item], Agreement], data
) -> None:
    items, agreement = scenario
    first = data.draw(st.lists(st.sampled_from(items), unique_by=lambda i: i.ref), label="first")
    chosen = {i.ref for i in first}
    second = [i for i in items if i.ref not in chosen]
    index = PlanIndex(agreement)
    together = index.add(first) + index.add(second)
    assert _keys(together) == _keys(detente.check(items, agreement))


def _stored_and_new(items: list[Item], data) -> tuple[list[Item], set, list[Item]]:
    """Items drawn as stored, their references, and the other items (new)."""
    stored = data.draw(st.lists(st.sampled_from(items), unique_by=lambda i: i.ref), label="stored")
    chosen = {i.ref for i in stored}
    return stored, chosen, [i for i in items if i.ref not in chosen]


@given(scenarios(), st.data())
def test_kept_pieces_give_the_same_conflicts(scenario: tuple[list[Item], Agreement], data) -> None:
    # Stored items come back pass after pass: their pieces, split once, are reused.
    items, agreement = scenario
    stored, chosen, new = _stored_and_new(items, data)
    kept = PieceCache(size=data.draw(st.integers(1, 8), label="size"))
    expected = _keys(detente.check(items, agreement))
    for _ in range(2):
        index = PlanIndex(agreement)
        index.add(stored, check=False, kept=kept)
        fresh = PlanIndex(agreement)
        fresh.add(new)
        together = fresh.add(stored, kept=kept) + index.add(new)
        assert _keys([c for c in together if (c.a in chosen) != (c.b in chosen)]) == {
            k for k in expected if (k[1] in chosen) != (k[2] in chosen)
        }
    assert len(kept) <= kept.size


@given(scenarios(), st.data())
def test_flights_filed_ahead_give_the_same_conflicts(
    scenario: tuple[list[Item], Agreement], data
) -> None:
    # A store's pass files its new flights while their candidates are looked up: adding them
    # then files nothing again, and finds the same conflicts.
    items, agreement = scenario
    stored, chosen, new = _stored_and_new(items, data)
    kept = _CountedCache(size=data.draw(st.integers(1, 8), label="size"))
    index = PlanIndex(agreement)
    index.add(stored, check=False, kept=kept)
    index.prefile(new, kept)
    filed = kept.filed_flights
    found = index.add(new, kept=kept)
    if sum(isinstance(i, Flight) for i in new) <= kept.size:
        assert kept.filed_flights == filed
    expected = _keys(detente.check(items, agreement))
    assert _keys(found) == {k for k in expected if not {k[1], k[2]} <= chosen}


class _CountedCache(PieceCache):
    """A piece cache that counts the flights it files."""

    filed_flights = 0

    def _file(self, flights, filing):
        self.filed_flights += len(flights)
        return super()._file(flights, filing)


@given(scenarios(), st.data())
def test_kept_filings_are_the_arrays_made_from_scratch(
    scenario: tuple[list[Item], Agreement], data
) -> None:
    # A flight's boxes, faces and cells, kept from pass to pass, are the same as made again.
    items, agreement = scenario
    flights = [i for i in items if isinstance(i, Flight)]
    assume(flights)
    kept = PieceCache(size=data.draw(st.integers(1, 8), label="size"))
    spec = GridSpec(50_000.0, 600.0, 1_000.0)
    split, margins = 20_000.0, (agreement.horizontal_m / 2, agreement.vertical_m / 2)
    for _ in range(2):
        chosen = data.draw(st.lists(st.sampled_from(flights), unique_by=lambda f: f.ref))
        owners = list(range(len(chosen)))
        offset = data.draw(st.integers(0, 50), label="offset")
        pieces, boxes, faces, cells = kept.filed(chosen, owners, split, margins, spec, offset)
        plain = flight_pieces(chosen, owners, split)
        plain_boxes = plain.boxes(*margins)
        plain_cells = file_boxes(plain_boxes, spec, offset)
        assert (pieces.owner == plain.owner).all() and (pieces.t0 == plain.t0).all()
        for name in ("lo", "hi", "t0", "t1", "z0", "z1"):
            assert (getattr(boxes, name) == getattr(plain_boxes, name)).all()
        assert (faces == plain_boxes.faces()).all()
        assert (cells.keys == plain_cells.keys).all() and (cells.ids == plain_cells.ids).all()


# --- SPEC §2 on long legs ------------------------------------------------------------------


@st.composite
def long_encounters(draw: st.DrawFn) -> tuple[Flight, Flight, Agreement]:
    """Two flights on single legs of 1000-4000 km each side of a meeting, passing within 0.9 H.

    The meeting is near the antimeridian, at any latitude up to 85 degrees; the second flight
    crosses the first at any angle, or follows it (overtaking, closing at a few m/s).
    """
    meet = (
        draw(st.sampled_from([-1.0, 1.0])) * draw(_floats(170.0, 180.0)),
        draw(st.sampled_from([-1.0, 1.0])) * draw(_floats(0.0, 85.0)),
    )
    agreement = Agreement(horizontal_m=draw(_floats(2000.0, 20_000.0)))
    offset = draw(_floats(0.0, 0.9)) * agreement.horizontal_m
    centres = [meet, _place(meet, draw(_floats(0.0, 360.0)), offset)]
    heading = draw(_floats(0.0, 360.0))
    speed = draw(_floats(150.0, 300.0))
    following = draw(st.booleans())
    when = BASE + 20_000.0
    out = []
    for k, centre in enumerate(centres):
        if k and following:
            heading += draw(_floats(-3.0, 3.0))
            speed += draw(_floats(-5.0, 5.0))
        elif k:
            heading, speed = draw(_floats(0.0, 360.0)), draw(_floats(150.0, 300.0))
        before, after = draw(_floats(1e6, 4e6)), draw(_floats(1e6, 4e6))
        p, q = _place(centre, heading + 180.0, before), _place(centre, heading, after)
        out.append(
            Flight(
                f"p{k}",
                f"f{k}",
                (p[0], q[0]),
                (p[1], q[1]),
                (5000.0, 5000.0),
                (when - before / speed, when + after / speed),
            )
        )
    return out[0], out[1], agreement


@given(long_encounters())
def test_long_legs_keep_distances_within_half_a_percent(
    encounter: tuple[Flight, Flight, Agreement],
) -> None:
    f, g, agreement = encounter
    conflicts = detente.check([f, g], agreement)
    assert conflicts, "the flights pass within 0.9 H of each other"
    problems = [p for c in conflicts for p in _check_closest(f, g, c)]
    assert not problems, "\n".join(problems)


@st.composite
def big_blocks(draw: st.DrawFn) -> tuple[Area, Flight, Agreement]:
    """An airspace corridor 200-5000 km long and 50 km wide, and an aircraft holding beside it.

    The hold is 0.9-1.1 H from a random point of the corridor's long geodesic edge.
    """
    start = (draw(_floats(-180.0, 180.0)), draw(_floats(-60.0, 60.0)))
    heading = draw(_floats(0.0, 360.0))
    length = draw(_floats(2e5, 5e6))
    end = _place(start, heading, length)
    az_start, back_at_end, _ = GEOD.inv(*start, *end)  # the second azimuth points back
    far_start = _place(start, az_start + 90.0, 50_000.0)
    far_end = _place(end, back_at_end - 90.0, 50_000.0)
    ring = (start, far_start, far_end, end, start)
    agreement = Agreement(horizontal_m=draw(_floats(2000.0, 20_000.0)))
    block = Area(
        Kind.AIRSPACE,
        "red",
        "corridor",
        Shape(polygons=((ring,),)),
        BASE,
        BASE + 3600.0,
        Band(0.0, 10_000.0),
    )
    foot_lon, foot_lat, back = GEOD.fwd(*start, az_start, draw(_floats(0.05, 0.95)) * length)
    spot = _place(
        (foot_lon, foot_lat), back + 90.0, draw(_floats(0.9, 1.1)) * agreement.horizontal_m
    )
    hold = Flight(
        "blue",
        "hold",
        (spot[0], spot[0]),
        (spot[1], spot[1]),
        (5000.0, 5000.0),
        (BASE + 600.0, BASE + 1200.0),
    )
    return block, hold, agreement


@given(big_blocks())
def test_big_areas_keep_distances_within_half_a_percent(
    case: tuple[Area, Flight, Agreement],
) -> None:
    block, hold, agreement = case
    conflicts = detente.check([block, hold], agreement)
    distance = oracle.distance_to_shape(hold.lon[0], hold.lat[0], block.shape)
    slack = (distance - agreement.horizontal_m) / agreement.horizontal_m
    if slack < -0.01:
        assert conflicts, f"{distance:.1f} m from the corridor, minimum {agreement.horizontal_m}"
    elif slack > 0.01:
        assert not conflicts, (
            f"{distance:.1f} m from the corridor, minimum {agreement.horizontal_m}"
        )
    for c in conflicts:
        assert c.closest.horizontal_m == pytest.approx(
            distance, rel=DISTANCE_REL, abs=DISTANCE_ABS
        ), f"reported {c.closest.horizontal_m:.1f} m, geodesic {distance:.1f} m"
