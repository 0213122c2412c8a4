"""Hold-time hysteresis for many pair alerts at once, on arrays.

The same rule as `alerts.AlertTracker` (a level is shown from its first observation until
`hold_s` has passed without one at it or above), for the tens of thousands of pairs a dense
picture holds: pairs are int64 codes, and only the pairs that change become Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .alerts import Change, ClockError

__all__ = ["PairChanges", "PairTracker"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: Change kinds as codes in `PairChanges.change` (`Change` members by position).
CHANGES = (Change.RAISED, Change.ESCALATED, Change.LOWERED, Change.CLEARED)
_LEVELS = 4  # columns of `last`: level 0 (unused), 1, 2, 3
_NEVER = -np.inf


@dataclass(frozen=True, slots=True)
class PairChanges:
    """What one step changed: pair `code`, `change` (index into `CHANGES`), the `level` now
    (0 when cleared), the `previous` level (0 when raised) and the last observed `details`."""

    code: IntArray
    change: NDArray[np.int8]
    level: NDArray[np.int8]
    previous: NDArray[np.int8]
    details: FloatArray

    def __len__(self) -> int:
        return len(self.code)


class PairTracker:
    """Pair alerts with hold-time hysteresis; `details` are a fixed number of floats per pair.

    >>> t = PairTracker(hold_s=5.0, width=1)
    >>> c = t.step(0.0, np.array([7]), np.array([2]), np.array([[90.0]]))
    >>> [CHANGES[k].value for k in c.change], c.level.tolist()
    (['raised'], [2])
    >>> len(t.step(2.0, np.array([7]), np.array([1]), np.array([[150.0]])))
    0
    >>> c = t.step(6.0, np.array([7]), np.array([1]), np.array([[150.0]]))
    >>> [CHANGES[k].value for k in c.change], c.level.tolist()
    (['lowered'], [1])
    >>> [CHANGES[k].value for k in t.step(12.0, np.empty(0, int), np.empty(0, int),
    ...                                     np.empty((0, 1))).change]
    ['cleared']
    """

    def __init__(self, *, hold_s: float, width: int) -> None:
        if not hold_s >= 0:
            raise ValueError(f"hold_s must be >= 0, got {hold_s}")
        self.hold_s = float(hold_s)
        self.width = width
        self.code = np.empty(0, np.int64)  # sorted
        self.level = np.empty(0, np.int8)
        self.raised = np.empty(0, np.float64)
        self.changed = np.empty(0, np.float64)
        self.details = np.empty((0, width), np.float64)
        self._last = np.empty((0, _LEVELS), np.float64)  # when last seen at each level
        self._now: float | None = None

    def __len__(self) -> int:
        return len(self.code)

    def step(
        self, now: float, codes: IntArray, levels: NDArray[np.integer], details: FloatArray
    ) -> PairChanges:
        """Take this step's observations (one row per pair; a code given twice counts at its
        highest level; level 0 is no observation) and return what changed."""
        if self._now is not None and now < self._now:
            raise ClockError(now, self._now)
        self._now = now
        codes, levels, details = _best(
            np.asarray(codes, np.int64), np.asarray(levels, np.int8), np.asarray(details)
        )
        merged = np.union1d(self.code, codes)
        n = len(merged)
        old = np.searchsorted(merged, self.code)
        new = np.searchsorted(merged, codes)
        existed = np.zeros(n, bool)
        existed[old] = True
        previous = np.zeros(n, np.int8)
        previous[old] = self.level
        last = np.full((n, _LEVELS), _NEVER)
        last[old] = self._last
        last[new, levels] = now
        raised = np.full(n, now)
        raised[old] = self.raised
        changed = np.full(n, now)
        changed[old] = self.changed
        kept = np.empty((n, self.width), np.float64)
        kept[old] = self.details
        kept[new] = details

        fresh = (now - last < self.hold_s) | (last == now)
        last[~fresh] = _NEVER
        level = np.zeros(n, np.int8)
        for value in range(1, _LEVELS):
            level[fresh[:, value]] = value
        kind = np.full(n, -1, np.int8)
        kind[~existed] = 0
        kind[existed & (level > previous)] = 1
        kind[existed & (level > 0) & (level < previous)] = 2
        kind[existed & (level == 0)] = 3
        moved = np.flatnonzero(kind >= 0)
        changed[moved] = now
        out = PairChanges(merged[moved], kind[moved], level[moved], previous[moved], kept[moved])

        stay = level > 0
        self.code, self.level, self._last = merged[stay], level[stay], last[stay]
        self.raised, self.changed, self.details = raised[stay], changed[stay], kept[stay]
        return out


def _best(
    codes: IntArray, levels: NDArray[np.int8], details: FloatArray
) -> tuple[IntArray, NDArray[np.int8], FloatArray]:
    """One row per code, at its highest level (the last given among equals)."""
    observed = levels > 0
    codes, levels, details = codes[observed], levels[observed], details[observed]
    if len(codes) < 2:
        return codes, levels, details
    order = np.lexsort((np.arange(len(codes)), levels, codes))
    codes, levels, details = codes[order], levels[order], details[order]
    last = np.r_[codes[1:] != codes[:-1], True]
    return codes[last], levels[last], details[last]
