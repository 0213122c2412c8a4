"""Alert levels and the hold-time state machine: scripted encounters and an oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detente.model import Agreement
from detente.tactical.alerts import (
    AlertTracker,
    Change,
    ClockError,
    Level,
    alert_levels,
    level_for,
)

AGREEMENT = Agreement()  # advisory 300 s, caution 120 s, warning 60 s


def changes_of(tracker, now, observations):
    return [(c.key, c.change, c.level, c.previous) for c in tracker.step(now, observations)]


# --- levels --------------------------------------------------------------------------------------


def test_levels_by_time_to_loss():
    t = [0.0, 30.0, 59.999, 60.0, 119.0, 120.0, 299.0, 300.0, 300.5, np.inf]
    assert alert_levels(t, AGREEMENT).tolist() == [3, 3, 3, 2, 2, 1, 1, 1, 0, 0]
    assert level_for(0.0, AGREEMENT) is Level.WARNING
    assert level_for(90.0, AGREEMENT) is Level.CAUTION
    assert level_for(200.0, AGREEMENT) is Level.ADVISORY
    assert level_for(400.0, AGREEMENT) is None


def test_levels_follow_the_agreement():
    tight = Agreement(advisory_s=100.0, caution_s=50.0, warning_s=20.0)
    assert alert_levels([10.0, 30.0, 80.0, 150.0], tight).tolist() == [3, 2, 1, 0]


def test_margin_keeps_a_level_a_little_longer_but_never_delays_raising():
    t = [61.0, 65.9, 66.1, 130.0, 325.0, 10.0]
    current = [3, 3, 3, 2, 1, 0]
    assert alert_levels(t, AGREEMENT, current=current, margin=0.1).tolist() == [3, 3, 2, 2, 1, 3]
    # Without a current level nothing is kept.
    assert alert_levels(t, AGREEMENT, margin=0.1).tolist() == [2, 2, 2, 1, 0, 3]
    # The margin never lifts a level above the current one.
    assert alert_levels([61.0], AGREEMENT, current=[1], margin=0.1).tolist() == [2]


# --- scripted encounters -------------------------------------------------------------------------


def test_pair_closing_to_warning_and_opening_again():
    """Closing at 1 s per s from 320 s to loss; then turning away: t_los grows until it is gone."""
    tracker: AlertTracker[tuple[str, str], float] = AlertTracker(hold_s=5.0)
    pair = ("red/a", "blue/b")
    log = []
    now = 0.0
    for t_los in np.arange(320.0, 30.0, -1.0):  # closing
        level = level_for(float(t_los), AGREEMENT)
        obs = [(pair, level, float(t_los))] if level else []
        log += [(now, *c) for c in changes_of(tracker, now, obs)]
        now += 1.0
    for t_los in np.arange(30.0, 400.0, 10.0):  # opening: t_los grows 10 s each second
        level = level_for(float(t_los), AGREEMENT)
        obs = [(pair, level, float(t_los))] if level else []
        log += [(now, *c) for c in changes_of(tracker, now, obs)]
        now += 1.0
    for _ in range(10):
        log += [(now, *c) for c in changes_of(tracker, now, [])]
        now += 1.0
    kinds = [(c[2], c[3]) for c in log]
    assert kinds == [
        (Change.RAISED, Level.ADVISORY),
        (Change.ESCALATED, Level.CAUTION),
        (Change.ESCALATED, Level.WARNING),
        (Change.LOWERED, Level.CAUTION),
        (Change.LOWERED, Level.ADVISORY),
        (Change.CLEARED, None),
    ]
    times = [c[0] for c in log]
    # Escalations at once: advisory at t_los 300 (20 s in), caution below 120, warning below 60.
    assert times[:3] == [20.0, 201.0, 261.0]
    # The last warning was observed at t_los 50 (now 292): lowered exactly 5 s later.
    assert times[3] == 297.0
    assert len(tracker) == 0


def test_level_dithering_around_a_threshold_does_not_flicker():
    tracker: AlertTracker[str, None] = AlertTracker(hold_s=5.0)
    log = []
    for k in range(120):
        level = Level.WARNING if k % 2 else Level.CAUTION  # t_los 59 s, 61 s, 59 s ...
        log += changes_of(tracker, float(k), [("ab", level, None)])
    assert log == [
        ("ab", Change.RAISED, Level.CAUTION, None),
        ("ab", Change.ESCALATED, Level.WARNING, Level.CAUTION),
    ]
    assert tracker.level("ab") == Level.WARNING


def test_missed_cycles_within_the_hold_time_keep_the_alert():
    tracker: AlertTracker[str, int] = AlertTracker(hold_s=5.0)
    assert changes_of(tracker, 0.0, [("ab", 2, 7)]) == [("ab", Change.RAISED, 2, None)]
    for now in (1.0, 2.0, 4.9):
        assert changes_of(tracker, now, []) == []
    assert changes_of(tracker, 5.0, [("ab", 2, 8)]) == []
    (alert,) = list(tracker)
    assert (alert.level, alert.raised, alert.seen, alert.details) == (2, 0.0, 5.0, 8)
    assert changes_of(tracker, 10.0, []) == [("ab", Change.CLEARED, None, 2)]


def test_zero_hold_follows_the_observations():
    tracker: AlertTracker[str, None] = AlertTracker(hold_s=0.0)
    assert changes_of(tracker, 0.0, [("k", 3, None)]) == [("k", Change.RAISED, 3, None)]
    assert changes_of(tracker, 1.0, [("k", 1, None)]) == [("k", Change.LOWERED, 1, 3)]
    assert changes_of(tracker, 2.0, []) == [("k", Change.CLEARED, None, 1)]


def test_many_keys_duplicates_and_order():
    tracker: AlertTracker[tuple[str, str], str] = AlertTracker()
    obs = [
        (("a", "b"), 1, "low"),
        (("c", "d"), 2, "x"),
        (("a", "b"), 3, "high"),
        (("e", "f"), 0, ""),
    ]
    changes = tracker.step(0.0, obs)
    assert [(c.key, c.level, c.details) for c in changes] == [
        (("a", "b"), 3, "high"),
        (("c", "d"), 2, "x"),
    ]
    assert ("e", "f") not in tracker
    assert tracker.level(("e", "f")) == 0
    cleared = tracker.clear(1.0)
    assert [(c.key, c.change, c.previous) for c in cleared] == [
        (("a", "b"), Change.CLEARED, 3),
        (("c", "d"), Change.CLEARED, 2),
    ]
    assert len(tracker) == 0


def test_time_must_not_go_back():
    tracker: AlertTracker[str, None] = AlertTracker()
    tracker.step(10.0, [])
    tracker.step(10.0, [])
    with pytest.raises(ClockError, match=r"earlier than the last step at 10\.0"):
        tracker.step(9.0, [])


# --- against an oracle ---------------------------------------------------------------------------


def shown(history: list[tuple[float, int]], now: float, hold_s: float) -> int:
    """The level shown at `now`: the highest observed within the hold time (or right now)."""
    return max((lv for t, lv in history if now - t < hold_s or t == now), default=0)


@given(
    st.floats(0.0, 10.0),
    st.lists(
        st.tuples(
            st.floats(0.0, 4.0),
            st.dictionaries(st.sampled_from("abc"), st.integers(0, 3), max_size=3),
        ),
        max_size=40,
    ),
)
def test_tracker_matches_the_window_oracle(hold_s, script):
    tracker: AlertTracker[str, float] = AlertTracker(hold_s=hold_s)
    history: dict[str, list[tuple[float, int]]] = {k: [] for k in "abc"}
    shown_before = dict.fromkeys("abc", 0)
    now = 0.0
    for gap, observed in script:
        now += gap
        changes = {c.key: c for c in tracker.step(now, [(k, v, now) for k, v in observed.items()])}
        for key in "abc":
            if observed.get(key, 0) > 0:
                history[key].append((now, observed[key]))
            # A cleared alert forgets its history: a new one starts afresh.
            expected = shown(history[key], now, hold_s)
            if expected == 0:
                history[key] = []
            assert tracker.level(key) == expected
            before = shown_before[key]
            if expected == before:
                assert key not in changes
            else:
                c = changes[key]
                assert (c.level or 0, c.previous or 0) == (expected, before)
                assert c.change == (
                    Change.RAISED
                    if before == 0
                    else Change.CLEARED
                    if expected == 0
                    else Change.ESCALATED
                    if expected > before
                    else Change.LOWERED
                )
                # Raising and escalating follow the observations at once.
                if expected > before:
                    assert observed.get(key, 0) == expected
            shown_before[key] = expected
