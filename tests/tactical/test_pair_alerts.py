"""The array pair tracker follows exactly the rule of the per-key `AlertTracker`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.tactical.alerts import AlertTracker, ClockError
from detente.tactical.pair_alerts import CHANGES, PairTracker

steps = st.lists(
    st.tuples(
        st.floats(0.0, 4.0),  # time since the previous step
        st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=10),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(steps, st.sampled_from([0.0, 1.0, 5.0]))
def test_same_changes_as_the_per_key_tracker(script, hold_s):
    oracle: AlertTracker[int, float] = AlertTracker(hold_s=hold_s)
    fast = PairTracker(hold_s=hold_s, width=1)
    now = 0.0
    for gap, observed in script:
        now += gap
        codes = np.array([c for c, _ in observed], np.int64)
        levels = np.array([lv for _, lv in observed], np.int8)
        details = np.array([[float(c * 10 + lv)] for c, lv in observed]).reshape(-1, 1)
        expected = oracle.step(now, [(c, lv, float(c * 10 + lv)) for c, lv in observed])
        got = fast.step(now, codes, levels, details)
        want = sorted((c.key, c.change, c.level or 0, c.previous or 0) for c in expected)
        have = sorted(
            (code, CHANGES[kind], level, previous)
            for code, kind, level, previous in zip(
                got.code.tolist(),
                got.change.tolist(),
                got.level.tolist(),
                got.previous.tolist(),
                strict=True,
            )
        )
        assert have == want
        assert sorted(fast.code.tolist()) == sorted(a.key for a in oracle)
        shown = dict(zip(fast.code.tolist(), fast.level.tolist(), strict=True))
        assert shown == {a.key: a.level for a in oracle}


def test_details_are_the_last_observed_at_the_highest_level():
    tracker = PairTracker(hold_s=5.0, width=2)
    got = tracker.step(0.0, np.array([4, 4]), np.array([3, 1]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert got.details.tolist() == [[1.0, 2.0]]
    assert tracker.details.tolist() == [[1.0, 2.0]]


def test_time_may_not_run_backwards():
    tracker = PairTracker(hold_s=5.0, width=1)
    tracker.step(10.0, np.array([1]), np.array([1]), np.array([[0.0]]))
    with pytest.raises(ClockError):
        tracker.step(9.0, np.array([1]), np.array([1]), np.array([[0.0]]))
