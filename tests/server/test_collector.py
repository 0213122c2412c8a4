"""`collector`: what survives a collection is frozen, never scanned again; garbage made and
dropped before a collection is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from detente.server import collector


class Node:
    """A weakly referable object that can join a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def restored() -> Iterator[None]:
    """The collector as it was: enabled or not, thresholds, callbacks, nothing left frozen."""
    enabled, threshold, callbacks = gc.isenabled(), gc.get_threshold(), list(gc.callbacks)
    yield
    gc.callbacks[:] = callbacks
    gc.set_threshold(*threshold)
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def tracked(obj: object) -> bool:
    """Whether `obj` is in a generation the collector scans (not frozen)."""
    return any(o is obj for o in gc.get_objects())


def dropped_cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.mark.usefixtures("restored")
def test_survivors_of_a_collection_are_frozen() -> None:
    collector.freeze_after_collections()
    assert gc.get_threshold()[0] == collector.YOUNG_OBJECTS
    kept = Node()
    assert tracked(kept)
    frozen = gc.get_freeze_count()
    gc.collect(0)
    assert not tracked(kept)
    assert gc.get_freeze_count() > frozen
    # Installed once, however often called.
    collector.freeze_after_collections()
    assert gc.callbacks.count(collector._freeze_survivors) == 1


@pytest.mark.usefixtures("restored")
def test_garbage_dropped_before_a_collection_is_collected() -> None:
    collector.freeze_after_collections()
    cycle = dropped_cycle()
    assert cycle() is not None
    gc.collect(0)
    assert cycle() is None


@pytest.mark.usefixtures("restored")
def test_frozen_objects_are_still_freed_by_reference_counting() -> None:
    collector.freeze_after_collections()
    kept = Node()
    gc.collect(0)
    assert not tracked(kept)
    ref = weakref.ref(kept)
    del kept
    assert ref() is None


@pytest.mark.usefixtures("restored")
def test_collect_young_waits_for_enough_new_objects() -> None:
    collector.settle()
    gc.disable()
    assert not collector.collect_young()
    cycle = dropped_cycle()
    kept = [Node() for _ in range(collector.YOUNG_OBJECTS)]
    assert collector.collect_young()
    assert cycle() is None
    assert not tracked(kept) and not tracked(kept[-1])
    assert not collector.collect_young()
