"""The server's timing lines (`detente serve --timings`): one a group of writes, one a
checkpoint tick and one a log restart, read back by `timings.parse`."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from detente.server import timings
from detente.server.clock import Clock
from detente.server.plans import Change
from detente.server.store import Store

from .conftest import DAY
from .plans import crossing_flight, flight


def _lines(caplog: pytest.LogCaptureFixture) -> list[timings.TimedLine]:
    return timings.parse(
        f"{r.created:.3f} {r.getMessage()}" for r in caplog.records if r.name == timings.logger.name
    )


@pytest.fixture
def enabled(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=timings.logger.name)
    return caplog


def test_each_group_of_writes_logs_its_steps(
    store: Store, enabled: pytest.LogCaptureFixture
) -> None:
    blue, red = store.add_party("blue")[0], store.add_party("red")[0]
    store.write(blue, [Change("b-1", flight("b-1"))], source="t")
    store.write(red, [Change("r-1", crossing_flight("r-1"))], source="t")
    groups = [line for line in _lines(enabled) if line.kind == "group"]
    assert [g.values["requests"] for g in groups] == [1, 1]
    for group in groups:
        assert set(group.values) == {"requests", "pass_ms", "turn_ms", "commit_ms", "flush_ms"}
        assert all(value >= 0 for value in group.values.values())
        # The commit wrote rows: it took some time.
        assert group.values["commit_ms"] > 0


def test_nothing_is_logged_unless_asked(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=timings.logger.name)
    blue = store.add_party("blue")[0]
    store.write(blue, [Change("b-1", flight("b-1"))], source="t")
    assert not timings.enabled()
    assert _lines(caplog) == []


def test_checkpoint_ticks_and_log_restarts_are_logged(
    tmp_path: Path, enabled: pytest.LogCaptureFixture
) -> None:
    store = Store(str(tmp_path / "detente.db"), clock=Clock(start=DAY)).migrate()
    try:
        blue = store.add_party("blue")[0]
        checkpoints = store.db._checkpoints
        assert checkpoints is not None
        store.write(blue, [Change("b-1", flight("b-1"))], source="t")
        assert not checkpoints.checkpoint()
        checkpoints.restart_at = 1
        store.write(blue, [Change("b-2", flight("b-2"))], source="t")
        assert checkpoints.checkpoint()
    finally:
        store.close()
    ticks = [line.values for line in _lines(enabled) if line.kind == "checkpoint"]
    restarts = [line.values for line in _lines(enabled) if line.kind == "restart"]
    assert len(ticks) == 2 and all(t["copied"] > 0 and t["frames"] >= t["copied"] for t in ticks)
    assert len(restarts) == 1 and restarts[0]["done"] == 1


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What `timings.enable(stream)` writes, undone after."""
    handlers = list(timings.logger.handlers)
    level, propagate = timings.logger.level, timings.logger.propagate
    stream = io.StringIO()
    timings.enable(stream)
    yield stream
    timings.logger.handlers[:] = handlers
    timings.logger.setLevel(level)
    timings.logger.propagate = propagate


def test_enabled_lines_are_written_with_their_time(written: io.StringIO) -> None:
    timings.log_group(3, 0.004, 0.0001, 0.005, 0.001)
    timings.log_restart(0.002, 0.05, True)
    lines = timings.parse(written.getvalue().splitlines())
    assert [line.kind for line in lines] == ["group", "restart"]
    assert lines[0].values == {
        "requests": 3,
        "pass_ms": 4.0,
        "turn_ms": 0.1,
        "commit_ms": 5.0,
        "flush_ms": 1.0,
    }
    assert lines[1].values == {"wait_ms": 2.0, "hold_ms": 50.0, "done": 1}
    assert lines[0].at > 1.6e9
