"""Alert levels from the time to loss of separation, and a tracker that keeps them from flickering.

Levels, by `t_los` (seconds from now until separation is lost; 0 when already lost) against the
agreement: WARNING when `t_los < warning_s`, CAUTION when `t_los < caution_s`, ADVISORY when
`t_los <= advisory_s`, none beyond.

Two kinds of hysteresis, used alone or together:

- **Hold time** (`AlertTracker`, generic over the key): a level is shown from the first
  observation at or above it until `hold_s` seconds have passed without one. So an alert is
  raised or escalated at once, but lowered (or cleared) only once nothing at its level or above
  has been observed for `hold_s`; it then drops to the highest level observed during that time.
  A level that dithers around a threshold thus changes at most once per `hold_s` going down, and
  never goes down while the higher level keeps coming back within `hold_s`.
- **Margin** (`alert_levels(..., current=..., margin=...)`): a pair already at a level keeps it
  while `t_los` stays below that level's threshold widened by `margin` (0.1 = 10 %).

The tracker is a pure state machine: time is passed in, nothing is read from a clock. It serves
pair alerts (key = pair of track keys), intrusion alerts (track x zone) and conformance alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detente.errors import DetenteError
from detente.model import Agreement

__all__ = [
    "Alert",
    "AlertChange",
    "AlertTracker",
    "Change",
    "ClockError",
    "Level",
    "alert_levels",
    "level_for",
]

K = TypeVar("K", bound=Hashable)
D = TypeVar("D")

#: How long a lower level must hold before an alert is lowered or cleared, seconds.
DEFAULT_HOLD_S = 5.0


class Level(IntEnum):
    """How soon separation will be lost; higher is more urgent."""

    ADVISORY = 1
    CAUTION = 2
    WARNING = 3


class Change(StrEnum):
    """What happened to an alert in one step."""

    RAISED = "raised"
    ESCALATED = "escalated"
    LOWERED = "lowered"
    CLEARED = "cleared"


class ClockError(DetenteError):
    """A tracker was stepped with a time earlier than its previous step."""

    def __init__(self, now: float, last: float) -> None:
        self.now = now
        self.last = last
        super().__init__(f"alert tracker: step at {now} is earlier than the last step at {last}")


def alert_levels(
    t_los: ArrayLike,
    agreement: Agreement,
    *,
    current: ArrayLike | None = None,
    margin: float = 0.0,
) -> NDArray[np.int8]:
    """The alert level (0 = none, else a `Level` value) for each time to loss of separation.

    With `current` (the levels shown now), a level is kept while `t_los` is below its threshold
    times `1 + margin`; raising is never delayed.

    >>> a = Agreement()
    >>> alert_levels([0.0, 59.0, 60.0, 119.0, 300.0, 301.0], a).tolist()
    [3, 3, 2, 2, 1, 0]
    >>> alert_levels([62.0, 62.0, 70.0], a, current=[3, 2, 3], margin=0.1).tolist()
    [3, 2, 2]
    """
    t = np.asarray(t_los, dtype=np.float64)
    raw = _levels(t, agreement, 1.0)
    if current is None or margin == 0.0:
        return raw
    widened = _levels(t, agreement, 1.0 + margin)
    held = np.minimum(widened, np.asarray(current, dtype=np.int8))
    return np.maximum(raw, held)


def level_for(t_los: float, agreement: Agreement) -> Level | None:
    """The alert level for one time to loss of separation, or None beyond the advisory time.

    >>> level_for(45.0, Agreement())
    <Level.WARNING: 3>
    """
    value = int(alert_levels(np.array([t_los]), agreement)[0])
    return Level(value) if value else None


def _levels(t: NDArray[np.float64], agreement: Agreement, scale: float) -> NDArray[np.int8]:
    out = np.zeros(t.shape, np.int8)
    out[t <= agreement.advisory_s * scale] = Level.ADVISORY
    out[t < agreement.caution_s * scale] = Level.CAUTION
    out[t < agreement.warning_s * scale] = Level.WARNING
    return out


@dataclass(frozen=True, slots=True)
class Alert(Generic[K, D]):
    """The alert shown for one key: its level, since when, and the latest details observed."""

    key: K
    level: int
    raised: float  # when the alert was raised
    changed: float  # when its level last changed
    seen: float  # when it was last observed (at any level)
    details: D


@dataclass(frozen=True, slots=True)
class AlertChange(Generic[K, D]):
    """One alert raised, escalated, lowered or cleared at `time`.

    `level` is None when cleared and `previous` None when raised; `details` are the latest
    observed for the key (for a cleared alert, the last ones seen).
    """

    key: K
    change: Change
    level: int | None
    previous: int | None
    time: float
    details: D


@dataclass(slots=True)
class _State(Generic[D]):
    level: int
    raised: float
    changed: float
    seen: float
    details: D
    last: dict[int, float]  # level -> last time observed at that level


class AlertTracker(Generic[K, D]):
    """Alerts per key with hold-time hysteresis (see the module docstring).

    Feed `step` every cycle with what is predicted now: `(key, level, details)`, level an int
    (`Level`, or any positive int for a one-level alert such as non-conformance); a key left
    out, or given level 0, is not alerting now.

    >>> tracker: AlertTracker[str, str] = AlertTracker(hold_s=5.0)
    >>> [(c.change.value, c.level) for c in tracker.step(0.0, [("ab", Level.CAUTION, "")])]
    [('raised', <Level.CAUTION: 2>)]
    >>> [(c.change.value, c.level) for c in tracker.step(1.0, [("ab", Level.WARNING, "")])]
    [('escalated', <Level.WARNING: 3>)]
    >>> tracker.step(2.0, [("ab", Level.ADVISORY, "")])
    []
    >>> [(c.change.value, c.level) for c in tracker.step(6.0, [("ab", Level.ADVISORY, "")])]
    [('lowered', <Level.ADVISORY: 1>)]
    >>> [(c.change.value, c.level) for c in tracker.step(11.0, [])]
    [('cleared', None)]
    """

    def __init__(self, *, hold_s: float = DEFAULT_HOLD_S) -> None:
        if not hold_s >= 0:
            raise ValueError(f"hold_s must be >= 0, got {hold_s}")
        self.hold_s = float(hold_s)
        self._states: dict[K, _State[D]] = {}
        self._now: float | None = None

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, key: object) -> bool:
        return key in self._states

    def __iter__(self) -> Iterator[Alert[K, D]]:
        """The alerts shown now, in the order they were first raised."""
        for key, s in self._states.items():
            yield Alert(key, s.level, s.raised, s.changed, s.seen, s.details)

    def level(self, key: K) -> int:
        """The level shown for `key`, 0 when none."""
        state = self._states.get(key)
        return state.level if state is not None else 0

    def step(self, now: float, observations: Iterable[tuple[K, int, D]]) -> list[AlertChange[K, D]]:
        """Take this cycle's observations at `now`; return what changed, in the order of keys.

        Keys keep the order in which they were first raised; new keys follow in observation
        order. A key observed twice in one step counts at its highest level.
        """
        if self._now is not None and now < self._now:
            raise ClockError(now, self._now)
        self._now = now
        states = self._states
        previous = {key: s.level for key, s in states.items()}
        best: dict[K, int] = {}
        for key, level, details in observations:
            if level <= 0:
                continue
            state = states.get(key)
            if state is None:
                state = states[key] = _State(level, now, now, now, details, {})
            state.last[level] = now
            if level >= best.get(key, 0):
                best[key] = level
                state.seen = now
                state.details = details
        changes: list[AlertChange[K, D]] = []
        gone: list[K] = []
        for key, state in states.items():
            # Levels observed within the hold time; the highest is shown. (Most alerts were
            # seen at one level just now: nothing to forget.)
            last = state.last
            if len(last) != 1 or next(iter(last.values())) != now:
                last = state.last = {
                    lv: t for lv, t in last.items() if now - t < self.hold_s or t == now
                }
            level = max(last, default=0)
            before = previous.get(key)
            if before is None:
                state.level = level
                changes.append(AlertChange(key, Change.RAISED, level, None, now, state.details))
                continue
            if level == before:
                continue
            if level > before:
                kind = Change.ESCALATED
            elif level > 0:
                kind = Change.LOWERED
            else:
                kind = Change.CLEARED
                gone.append(key)
            state.level = level
            state.changed = now
            changes.append(AlertChange(key, kind, level or None, before, now, state.details))
        for key in gone:
            del states[key]
        return changes

    def clear(self, now: float) -> list[AlertChange[K, D]]:
        """Clear every alert at once (say, when the feed is lost); returns the changes."""
        changes = [
            AlertChange(key, Change.CLEARED, None, s.level, now, s.details)
            for key, s in self._states.items()
        ]
        self._states.clear()
        self._now = now if self._now is None else max(self._now, now)
        return changes
