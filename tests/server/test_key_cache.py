"""`KeyCache`: a valid key is asked of the store once, then taken for `KEY_CACHE_S`; a key in
use is checked again before it expires, without holding up its requests."""

from __future__ import annotations

import threading

import pytest

from detente.server.key_cache import KEY_CACHE_S, KeyCache
from detente.server.parties import Party
from detente.server.store import Store

BLUE = Party(1, "blue")


class Lookups:
    """The store's answers, counted; `hold` keeps a lookup waiting until released."""

    def __init__(self) -> None:
        self.answer: Party | None = BLUE
        self.calls = 0
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()

    def __call__(self, key: str) -> Party | None:
        self.calls += 1
        answer = self.answer
        self.started.set()
        assert self.hold.wait(10)
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lookups() -> Lookups:
    return Lookups()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(lookups: Lookups, clock: Clock) -> KeyCache:
    return KeyCache(lookups, clock)


def test_a_valid_key_is_asked_once_then_taken_for_a_while(
    cache: KeyCache, lookups: Lookups, clock: Clock
) -> None:
    assert cache.cached("k") is None
    assert cache.check("k") == BLUE
    clock.now += 0.4 * KEY_CACHE_S
    assert cache.cached("k") == BLUE
    cache.close()
    assert lookups.calls == 1


def test_an_unknown_key_is_not_remembered(cache: KeyCache, lookups: Lookups) -> None:
    lookups.answer = None
    assert cache.check("k") is None
    assert cache.cached("k") is None


def test_a_key_unused_for_its_time_is_asked_again(
    cache: KeyCache, lookups: Lookups, clock: Clock
) -> None:
    cache.check("k")
    clock.now += KEY_CACHE_S
    assert cache.cached("k") is None


def start_a_check_that_waits(cache: KeyCache, lookups: Lookups, clock: Clock) -> None:
    """A key found valid, used again in the second half of its time: its check starts and
    waits on the store until `lookups.hold` is set; the request is answered meanwhile."""
    cache.check("k")
    lookups.hold.clear()
    lookups.started.clear()
    clock.now += 0.6 * KEY_CACHE_S
    assert cache.cached("k") == BLUE
    assert lookups.started.wait(10)


def test_a_key_in_use_is_checked_again_while_its_requests_go_on(
    cache: KeyCache, lookups: Lookups, clock: Clock
) -> None:
    start_a_check_that_waits(cache, lookups, clock)
    # Answered from the cache while the check waits, and only one check is made.
    assert cache.cached("k") == BLUE
    assert lookups.calls == 2
    lookups.hold.set()
    cache.close()
    # Checked at 0.6: still valid 0.9 later, where the first answer would have expired.
    clock.now += 0.9 * KEY_CACHE_S
    assert cache.cached("k") == BLUE


def test_a_key_revoked_elsewhere_stops_once_checked_again(
    cache: KeyCache, lookups: Lookups, clock: Clock
) -> None:
    cache.check("k")
    lookups.answer = None
    clock.now += 0.6 * KEY_CACHE_S
    assert cache.cached("k") == BLUE  # within its time: as before
    cache.close()
    assert cache.cached("k") is None


def test_a_check_begun_before_the_keys_are_cleared_does_not_bring_its_key_back(
    cache: KeyCache, lookups: Lookups, clock: Clock
) -> None:
    start_a_check_that_waits(cache, lookups, clock)
    cache.clear()  # a key rotated or revoked here, while the check reads the store
    lookups.hold.set()
    cache.close()
    assert cache.cached("k") is None


def test_a_store_forgets_a_key_revoked_by_another_process(store: Store) -> None:
    _, key = store.add_party("blue")
    party = store.party_for_key(key)
    assert party is not None and store.cached_party(key) == party
    other = Store(store.db.url)
    try:
        other.revoke("blue")
    finally:
        other.close()
    assert store.cached_party(key) == party  # remembered for up to KEY_CACHE_S
    assert store.party_for_key(key) is None
    assert store.cached_party(key) is None
