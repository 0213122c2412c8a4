"""The engine's interface: order and determinism of results, the agreement's switches
(`include_own`, `time_buffer_s`, `ground_buffer_m`, the minima), results that serialise to JSON,
and the incremental `PlanIndex` agreeing with one `check`.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict

import pytest

import detente
from builders import (
    T0,
    airspace,
    canonical,
    circle,
    destination,
    diamond,
    ground,
    hold,
    pair,
    point,
    straight,
    strike,
    zone,
)
from detente.detect import PlanIndex
from detente.errors import DetenteError
from detente.model import Agreement, Conflict, ConflictKind, ItemRef, Kind

MS = 0.003
P = (36.0, 35.0)


def off(t: float) -> float:
    return t - T0


def scene() -> list:
    """A small theatre with conflicts of every kind at different times, and a few near misses."""
    east = destination(P, 90.0, 40_000.0)
    return [
        straight("blue", "viper11", destination(P, 180.0, 50_000.0), 0.0, 200.0, 0, 500, 6000.0),
        straight("red", "r-017", destination(P, 0.0, 50_000.0), 180.0, 200.0, 0, 500, 6100.0),
        hold("green", "g-1", P, 6000.0, 200, 800),
        hold("red", "r-020", east, 6000.0, 0, 900),
        airspace("blue", "orbit", circle(east, 5000.0), 600, 1200, 5000.0, 7000.0),
        airspace("red", "cap", circle(destination(east, 0.0, 12_000.0), 5000.0), 1000, 2000),
        zone("red", "sam", diamond(P, 8000.0), 300, 3600, 3000.0, 9000.0),
        ground("red", "bn-1", circle(destination(P, 270.0, 20_000.0), 1000.0), 0, 7200),
        strike("blue", "tgt-7", point(destination(P, 270.0, 22_000.0)), 1500, 1800, 2000.0),
        strike("blue", "tgt-8", point(destination(P, 270.0, 60_000.0)), 1500, 1800, 2000.0),
        ground("green", "co-3", circle(destination(P, 270.0, 66_000.0), 500.0), 0, 7200),
        hold("green", "g-2", destination(P, 270.0, 60_000.0), 3000.0, 1600, 1700),
    ]


# --- order and determinism ------------------------------------------------------------------------


def test_nothing_to_check() -> None:
    assert detente.check([]) == []
    assert detente.check([hold("blue", "a", P, 6000.0, 0, 100)]) == []
    assert detente.check([zone("red", "z", diamond(P, 1000.0), 0, 100)], Agreement()) == []


def test_the_scene_has_conflicts_of_every_kind() -> None:
    found = detente.check(scene())
    assert {c.kind for c in found} == set(ConflictKind)
    assert len(found) >= 6


def test_results_are_in_time_order() -> None:
    found = detente.check(scene())
    starts = [c.start for c in found]
    assert starts == sorted(starts)


def test_same_input_same_output() -> None:
    items = scene()
    assert detente.check(items) == detente.check(items)
    assert detente.check(tuple(items)) == detente.check(list(items))


@pytest.mark.parametrize("seed", range(5))
def test_input_order_does_not_matter(seed: int) -> None:
    items = scene()
    expected = detente.check(items)
    shuffled = items[:]
    random.Random(seed).shuffle(shuffled)
    found = detente.check(shuffled)
    assert canonical(found, 6) == canonical(expected, 6)
    # the order of the list is fixed too, up to the free order of the two items of `air` conflicts
    assert [(c.kind, pair(c), round(c.start, 6)) for c in found] == [
        (c.kind, pair(c), round(c.start, 6)) for c in expected
    ]


def test_roles_within_conflicts() -> None:
    items = scene()
    kinds = {item.ref: item.kind for item in items}
    for c in detente.check(items):
        if c.kind in (ConflictKind.STRIKE_AIR, ConflictKind.STRIKE_GROUND):
            assert kinds[c.a] is Kind.STRIKE
        if c.kind is ConflictKind.ZONE:
            assert kinds[c.b] is Kind.ZONE
        assert c.a != c.b
        assert c.a.party != c.b.party


# --- results -------------------------------------------------------------------------------------


def open_bands() -> list:
    """Items whose bands are open at one or both ends: the worst case for a reported altitude."""
    return [
        airspace("blue", "a-open", circle(P, 5000.0), 0, 100),
        airspace("red", "a-top", circle(P, 5000.0), 0, 100, 2000.0),
        zone("green", "z-open", circle(P, 3000.0), 0, 100),
        zone("green", "z-low", circle(P, 3000.0), 0, 100, None, 1000.0),
        strike("white", "s", point(P), 0, 100, 1000.0),
        ground("blue", "g", circle(P, 500.0), 0, 100),
        hold("green", "f", P, 2500.0, 0, 100),
    ]


def check_result(c: Conflict) -> None:
    assert isinstance(c.kind, ConflictKind)
    assert isinstance(c.a, ItemRef) and isinstance(c.b, ItemRef)
    cl = c.closest
    values = (c.start, c.end, cl.time, cl.lon, cl.lat, cl.alt_m, cl.horizontal_m, cl.vertical_m)
    assert all(isinstance(x, float) and math.isfinite(x) for x in values), c
    assert c.start <= cl.time <= c.end
    assert -180.0 <= cl.lon <= 180.0 and -90.0 <= cl.lat <= 90.0
    assert cl.horizontal_m >= 0.0 and cl.vertical_m >= 0.0


@pytest.mark.parametrize("items", [scene(), open_bands()], ids=["scene", "open-bands"])
def test_results_are_finite_and_json_able(items: list) -> None:
    found = detente.check(items)
    assert found
    for c in found:
        check_result(c)
    text = json.dumps([asdict(c) for c in found], allow_nan=False)
    back = json.loads(text)
    assert [d["kind"] for d in back] == [c.kind.value for c in found]
    assert [d["a"] for d in back] == [{"party": c.a.party, "id": c.a.id} for c in found]


def test_open_bands_conflict_as_expected() -> None:
    found = {(c.kind, pair(c)) for c in detente.check(open_bands())}
    r = {item.id: item.ref for item in open_bands()}

    def has(kind: ConflictKind, x: str, y: str) -> bool:
        return (kind, frozenset({r[x], r[y]})) in found

    assert has(ConflictKind.AIR, "a-open", "a-top")
    assert has(ConflictKind.ZONE, "a-open", "z-open")
    assert has(ConflictKind.ZONE, "a-top", "z-open")
    assert not has(ConflictKind.ZONE, "a-top", "z-low")  # 2000 m up vs below 1000 m
    assert has(ConflictKind.ZONE, "a-open", "z-low")
    assert has(ConflictKind.STRIKE_GROUND, "s", "g")
    assert has(ConflictKind.STRIKE_AIR, "s", "a-open")
    assert has(ConflictKind.STRIKE_AIR, "s", "a-top")
    assert has(ConflictKind.STRIKE_AIR, "s", "f")
    assert has(ConflictKind.AIR, "f", "a-open")
    assert has(ConflictKind.AIR, "f", "a-top")


# --- include_own ---------------------------------------------------------------------------------


def test_own_items_do_not_conflict_unless_asked() -> None:
    a = hold("blue", "a", P, 6000.0, 0, 100)
    b = hold("blue", "b", destination(P, 0.0, 1000.0), 6000.0, 0, 100)
    z = zone("blue", "z", diamond(P, 5000.0), 0, 100)
    assert detente.check([a, b, z]) == []
    found = detente.check([a, b, z], Agreement(include_own=True))
    assert {(c.kind, pair(c)) for c in found} == {
        (ConflictKind.AIR, frozenset({a.ref, b.ref})),
        (ConflictKind.ZONE, frozenset({a.ref, z.ref})),
        (ConflictKind.ZONE, frozenset({b.ref, z.ref})),
    }


def test_an_item_never_conflicts_with_itself() -> None:
    items = [hold("blue", "a", P, 6000.0, 0, 100), airspace("blue", "x", circle(P, 1e4), 0, 100)]
    found = detente.check(items, Agreement(include_own=True))
    assert [pair(c) for c in found] == [frozenset(item.ref for item in items)]


def test_the_same_id_in_two_parties_is_two_items() -> None:
    a = hold("blue", "x", P, 6000.0, 0, 100)
    b = hold("red", "x", P, 6000.0, 0, 100)
    (c,) = detente.check([a, b])
    assert pair(c) == {ItemRef("blue", "x"), ItemRef("red", "x")}


def test_a_reference_given_twice_is_refused() -> None:
    a = hold("blue", "x", P, 6000.0, 0, 100)
    with pytest.raises(DetenteError):
        detente.check([a, hold("blue", "x", P, 7000.0, 200, 300)])


# --- time_buffer_s -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffer_s", "conflict"), [(0.0, False), (2.0, False), (2.5, False), (3.0, True)]
)
def test_time_buffer_widens_both_windows(buffer_s: float, conflict: bool) -> None:
    """Windows 5 s apart overlap once each is widened by more than 2.5 s on both sides."""
    a = airspace("blue", "a", circle(P, 5000.0), 0, 100)
    b = airspace("red", "b", circle(P, 5000.0), 105, 200)
    found = detente.check([a, b], Agreement(time_buffer_s=buffer_s))
    assert bool(found) == conflict
    if conflict:
        (c,) = found
        assert off(c.start) == pytest.approx(105.0 - buffer_s, abs=MS)
        assert off(c.end) == pytest.approx(100.0 + buffer_s, abs=MS)


def test_time_buffer_widens_an_overlap() -> None:
    a = airspace("blue", "a", circle(P, 5000.0), 0, 100)
    b = airspace("red", "b", circle(P, 5000.0), 50, 200)
    (c,) = detente.check([a, b], Agreement(time_buffer_s=10.0))
    assert off(c.start) == pytest.approx(40.0, abs=MS)
    assert off(c.end) == pytest.approx(110.0, abs=MS)


@pytest.mark.parametrize(
    "make_other",
    [
        lambda: zone("red", "z", diamond(P, 5000.0), -1000, 0),
        lambda: airspace("red", "x", circle(P, 5000.0), -1000, 0),
        lambda: strike("red", "s", point(P), -1000, 0, 3000.0),
    ],
    ids=["zone", "airspace", "strike"],
)
def test_time_buffer_makes_touching_windows_overlap_for_a_flight(make_other) -> None:
    """A flight starting when the other item's window ends: no conflict, unless buffered."""
    f = hold("blue", "f", P, 6000.0, 0, 600)
    other = make_other()
    assert detente.check([f, other]) == []
    found = detente.check([f, other], Agreement(time_buffer_s=10.0))
    assert len(found) == 1
    (c,) = found
    assert -20.0 - MS <= off(c.start) <= MS
    assert 10.0 - MS <= off(c.end) <= 20.0 + MS
    check_result(c)


def test_time_buffer_for_strike_and_ground() -> None:
    s = strike("blue", "s", point(P), 0, 600, 3000.0)
    g = ground("red", "g", circle(P, 100.0), 600, 1200)
    assert detente.check([s, g]) == []
    (c,) = detente.check([s, g], Agreement(time_buffer_s=1.0))
    assert c.kind is ConflictKind.STRIKE_GROUND
    assert off(c.start) == pytest.approx(599.0, abs=MS)
    assert off(c.end) == pytest.approx(601.0, abs=MS)


# --- ground_buffer_m and the minima --------------------------------------------------------------


def test_ground_buffer_turns_a_near_miss_into_a_conflict() -> None:
    aim = (20.0, 0.0)
    s = strike("blue", "s", point(aim), 0, 600, 3000.0)
    g = ground("red", "g", point(destination(aim, 90.0, 3500.0)), 0, 600)
    assert detente.check([s, g]) == []
    assert detente.check([s, g], Agreement(ground_buffer_m=400.0)) == []
    (c,) = detente.check([s, g], Agreement(ground_buffer_m=600.0))
    assert c.kind is ConflictKind.STRIKE_GROUND and c.a == s.ref


def test_ground_buffer_is_only_for_ground_forces() -> None:
    aim = (20.0, 0.0)
    s = strike("blue", "s", point(aim), 0, 600, 3000.0)
    beside = destination(aim, 90.0, 3500.0)
    f = hold("red", "f", beside, 6000.0, 0, 600)
    x = airspace("red", "x", circle(beside, 100.0), 0, 600)
    assert detente.check([s, f, x], Agreement(ground_buffer_m=5000.0)) == []


@pytest.mark.parametrize(
    ("rules", "conflict"),
    [
        (Agreement(), True),
        (Agreement(horizontal_m=8000.0), False),
        (Agreement(horizontal_m=9100.0), True),
        (Agreement(vertical_m=150.0), False),
        (Agreement(vertical_m=150.5), True),
    ],
)
def test_the_minima_come_from_the_agreement(rules: Agreement, conflict: bool) -> None:
    a = hold("blue", "a", P, 6000.0, 0, 100)
    b = hold("red", "b", destination(P, 30.0, 9000.0), 6150.0, 0, 100)
    assert bool(detente.check([a, b], rules)) == conflict


# --- PlanIndex -----------------------------------------------------------------------------------


def test_index_adds_one_at_a_time_like_one_check() -> None:
    items = scene()
    index = PlanIndex()
    found: list[Conflict] = []
    for k, item in enumerate(items):
        new = index.add([item])
        assert all(item.ref in pair(c) for c in new)  # only conflicts of the new item
        found += new
        assert len(index) == k + 1 and item.ref in index
    assert canonical(found, 6) == canonical(detente.check(items), 6)


@pytest.mark.parametrize("seed", range(3))
def test_index_adds_in_chunks_like_one_check(seed: int) -> None:
    items = scene()
    random.Random(seed).shuffle(items)
    index = PlanIndex()
    found: list[Conflict] = []
    for lo in range(0, len(items), 4):
        found += index.add(items[lo : lo + 4])
    assert canonical(found, 6) == canonical(detente.check(items), 6)


def test_index_remove_forgets_items() -> None:
    a = hold("blue", "a", P, 6000.0, 0, 100)
    b = hold("red", "b", destination(P, 0.0, 1000.0), 6000.0, 0, 100)
    c = hold("green", "c", destination(P, 180.0, 1000.0), 6000.0, 0, 100)
    index = PlanIndex()
    assert index.add([a]) == []
    index.remove([a.ref, ItemRef("nobody", "nothing")])
    assert a.ref not in index and len(index) == 0
    assert index.add([b]) == []
    # a removed item can come back, and conflicts again
    (back,) = index.add([a])
    assert pair(back) == {a.ref, b.ref}
    found = index.add([c])
    assert {pair(x) for x in found} == {frozenset({c.ref, a.ref}), frozenset({c.ref, b.ref})}


def test_index_refuses_a_duplicate_and_stays_usable() -> None:
    a = hold("blue", "a", P, 6000.0, 0, 100)
    index = PlanIndex()
    index.add([a])
    with pytest.raises(DetenteError):
        index.add([hold("blue", "a", P, 6000.0, 0, 100)])
    assert len(index) == 1
    (c,) = index.add([hold("red", "b", P, 6000.0, 0, 100)])
    assert pair(c) == {a.ref, ItemRef("red", "b")}


def test_index_follows_its_agreement() -> None:
    a = hold("blue", "a", P, 6000.0, 0, 100)
    b = hold("blue", "b", destination(P, 0.0, 1000.0), 6000.0, 0, 100)
    assert PlanIndex().add([a, b]) == []
    index = PlanIndex(Agreement(include_own=True))
    index.add([a])
    (c,) = index.add([b])
    assert pair(c) == {a.ref, b.ref}
