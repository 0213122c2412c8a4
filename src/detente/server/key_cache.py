"""Parties' keys found valid, remembered for a short while and checked again before then.

Every request names its party by key; asking the store each time costs a read a request. A key
found valid is taken for `KEY_CACHE_S` without asking again. So that a busy key does not fall
out of the cache (and its requests all ask the store until one of them has put it back, just
when the server is most loaded), a key used in the second half of its time is checked again in
a thread of its own while its requests go on. A key rotated or revoked through this process
stops at once (`clear`); through another, within `KEY_CACHE_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .parties import Party

__all__ = ["KEY_CACHE_S", "KEY_CACHE_SIZE", "KeyCache"]

#: How long a valid key is taken without asking the store again, seconds.
KEY_CACHE_S = 1.0
#: Keys remembered at most (all are forgotten when it is reached).
KEY_CACHE_SIZE = 4096


class KeyCache:
    """Valid keys and their parties, as `lookup` (a read of the store) finds them."""

    def __init__(
        self, lookup: Callable[[str], Party | None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._keys: dict[str, tuple[float, Party]] = {}
        self._lock = threading.Lock()
        # Bumped by `clear`: a lookup begun before it does not put its answer back.
        self._generation = 0
        self._checking: set[str] = set()
        self._checker: ThreadPoolExecutor | None = None

    def check(self, key: str) -> Party | None:
        """The party of `key` as the store has it now (None: unknown or revoked), remembered."""
        with self._lock:
            generation = self._generation
        party = self._lookup(key)
        with self._lock:
            if generation != self._generation:
                return party
            if party is None:
                self._keys.pop(key, None)
                return None
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[key] = (self._clock(), party)
        return party

    def cached(self, key: str) -> Party | None:
        """The party of a key found valid less than `KEY_CACHE_S` ago (None: ask `check`).
        In the second half of that time the key is checked again meanwhile."""
        hit = self._keys.get(key)
        if hit is None:
            return None
        age = self._clock() - hit[0]
        if age >= KEY_CACHE_S:
            return None
        if age >= KEY_CACHE_S / 2:
            self._check_meanwhile(key)
        return hit[1]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._keys.clear()

    def close(self) -> None:
        """Wait for the checks under way; a later one starts its thread again."""
        with self._lock:
            checker, self._checker = self._checker, None
        if checker is not None:
            checker.shutdown(wait=True)

    def _check_meanwhile(self, key: str) -> None:
        with self._lock:
            if key in self._checking:
                return
            self._checking.add(key)
            if self._checker is None:
                self._checker = ThreadPoolExecutor(1, thread_name_prefix="detente-keys")
            checker = self._checker
        try:
            checker.submit(self._check_again, key)
        except RuntimeError:  # closed meanwhile: the key expires as it would have
            with self._lock:
                self._checking.discard(key)

    def _check_again(self, key: str) -> None:
        try:
            self.check(key)
        except Exception:  # the store unreachable a moment: the key expires, then is asked
            pass
        finally:
            with self._lock:
                self._checking.discard(key)
