"""The engine's pass over a group of plans, in a process of its own.

The server's process answers HTTP, stores and commits; the pass (candidates fetched through the
cell index, their items, the engine on them and the group's items) is most of a write's
interpreter time, so it runs beside it, on the other core, in a process that reads the same
store through its own connections and keeps its own cache of parsed items. The pass reads a
snapshot; the commit in the server's process catches up with what was written since
(`Groups.commit`), exactly as for a pass made in a thread.

The items a pass was sent are kept in the process until the server says under which keys their
group was stored (with the next pass it sends): they then join the process's cache, pieces
split, so that as candidates of later passes they are neither read back nor split again.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Generator
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from . import collector

if TYPE_CHECKING:
    from detente.model import Item

    from .groups import Groups, _Pass, _Pending
    from .parties import Party

__all__ = ["PASSES_IN_FLIGHT", "Candidate", "PassProcess"]

#: How often the pass process looks whether the server's process is still there, seconds.
PARENT_CHECK_S = 0.5

#: Items of passes made whose keys the server has not yet told, at most (the oldest go first).
MADE_KEPT = 20_000

#: How far above the server's the pass process's priority is raised (its nice value lowered),
#: where the system allows it (CAP_SYS_NICE). Every write waits for the passes, made one at a
#: time, and the server's other work (answering HTTP, committing groups already passed) can give
#: way to them: with the cores busy, a pass that waits for a core holds up every write behind it.
PASS_PRIORITY = 5

# The worker process's own write path (its store, cache and groups), set by `_start`.
_groups: Groups | None = None
# The items of the passes made, by request number and position, until the server tells their keys.
_made: dict[tuple[int, int], Item] = {}


class Candidate(NamedTuple):
    """The stored row of a candidate item, as a pass keeps it."""

    pk: int
    version: int
    party_id: int
    status: str
    start_s: float
    end_s: float


# A request as sent to the process: party, item ids, the versions they replace (None: a new
# item), parsed items, clock, request number.
_Request = tuple["Party", list[str], list[int | None], list["Item"], float, int]
# An item of a committed group: request number, position in the request, key, version.
Committed = tuple[int, int, int, int]


#: Passes sent to the process before the first is answered, at most, on PostgreSQL (`Groups`'
#: leaders): the process begins the second while PostgreSQL answers the first's reads.
PASSES_IN_FLIGHT = 2


class PassProcess:
    """One process that makes the engine's passes of `Groups` on the store at `url`, over a
    pipe of its own (no executor's threads between a request and its answer), in the order
    sent; a pass can be sent before the last is answered. It starts with the object;
    `wait_ready` returns once it is up."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, url, os.getpid()), name="detente-passes", daemon=True
        )
        self._process.start()
        child.close()
        # Passes are sent one at a time and answered in the order sent: each caller takes the
        # answer of its own (a ticket), so that a pass can be sent before the last is answered.
        self._sending = threading.Lock()
        self._answers = threading.Condition()
        self._sent = self._answered = 0
        self._committed: list[Committed] = []
        self._committed_lock = threading.Lock()

    def wait_ready(self) -> bool:
        """Return once the process is up (its cache warmed), so that the first write does not
        wait for it; whether its priority was raised (`PASS_PRIORITY`)."""
        return bool(self._call(None))

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def prepare(self, group: list[_Pending]) -> _Pass | None:
        """The pass over `group`, its members given back as the requests of `group`."""
        requests: list[_Request] = [
            (
                p.party,
                [c.item_id for c in p.changes],
                [c.if_match for c in p.changes],
                p.items,
                p.now,
                p.number,
            )
            for p in group
        ]
        found, members = self._call(requests)
        if found is not None:
            found.members = [group[k] for k in members]
            found.rows = {pk: Candidate._make(row) for pk, row in found.rows.items()}
        return found

    def committed(self, items: list[Committed]) -> None:
        """Items of a group stored since, to be told to the process with the next pass."""
        with self._committed_lock:
            self._committed += items

    def close(self) -> None:
        with self._sending, contextlib.suppress(OSError):
            self._conn.send(_STOP)
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()

    def _call(self, requests: list[_Request] | None) -> Any:
        """Send a pass (None: no pass, an answer once ready) with the keys of the items
        committed since the last, and wait for its outcome; an error of the pass is raised
        here, and `BrokenProcessPool` if the process is gone."""
        try:
            with self._sending:
                message: Any = None
                if requests is not None:
                    with self._committed_lock:
                        message, self._committed = (requests, self._committed), []
                self._conn.send(message)
                ticket = self._sent
                self._sent += 1
            with self._answers:
                self._answers.wait_for(lambda: self._answered == ticket)
                try:
                    outcome = self._conn.recv()
                finally:
                    self._answered += 1
                    self._answers.notify_all()
        except (EOFError, OSError) as error:
            raise BrokenProcessPool("the pass process stopped") from error
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


_STOP = "stop"


def _serve(conn: Connection, url: str, parent: int) -> None:
    """The pass process: make each pass sent until told to stop (or the server is gone).

    Passes are answered in the order sent. While the oldest pass waits for PostgreSQL's
    answers to its reads, the next pass sent (if any) is begun: its reads run on PostgreSQL
    while this process finishes the one before."""
    # First, so that the threads started here take the same priority.
    raised = _raise_priority()
    _start(url, parent)
    begun: deque[_Begun] = deque()
    stopping = False
    while True:
        if not begun:
            message = _STOP if stopping else _receive(conn)
            if message == _STOP:
                return
            begun.append(_Begun.of(raised if message is None else message))
            continue
        if not stopping and len(begun) == 1 and not begun[0].ready and conn.poll():
            message = _receive(conn)
            if message == _STOP:
                stopping = True
            else:
                begun.append(_Begun.of(raised if message is None else message))
        outcome = begun.popleft().finish()
        try:
            conn.send(outcome)
        except Exception as error:  # an outcome that cannot be sent (not picklable)
            conn.send(RuntimeError(f"the pass's outcome could not be sent: {error!r}"))
        del outcome
        collector.collect_young()


def _receive(conn: Connection) -> Any:
    """The next message from the server (`_STOP` once it is gone)."""
    try:
        return conn.recv()
    except EOFError:
        return _STOP


class _Begun:
    """A pass begun: its outcome once `finish`ed. `ready`: nothing is left to wait for."""

    def __init__(self, steps: Generator[None, None, Any] | None, outcome: Any = None) -> None:
        self._steps = steps
        self._outcome = outcome

    @classmethod
    def of(cls, message: Any) -> _Begun:
        """A pass begun from what the server sent (an answer as is, if not a pass)."""
        if not isinstance(message, tuple):
            return cls(None, message)
        steps = _steps(*message)
        begun = cls(steps)
        begun._advance()
        return begun

    @property
    def ready(self) -> bool:
        return self._steps is None

    def finish(self) -> Any:
        while self._steps is not None:
            self._advance()
        return self._outcome

    def _advance(self) -> None:
        assert self._steps is not None
        try:
            next(self._steps)
        except StopIteration as done:
            self._steps, self._outcome = None, done.value
        except Exception as error:
            self._steps, self._outcome = None, error


def _raise_priority() -> bool:
    """Raise this process's priority by `PASS_PRIORITY`; False where that is not allowed.

    On Linux a priority is each thread's own (threads take their starter's): every thread
    already running is raised (the numerical libraries start some on import), and those
    started later take it from this one."""
    task = Path("/proc/self/task")
    threads = [int(t.name) for t in task.iterdir()] if task.is_dir() else [0]
    for thread in threads:
        try:
            now = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, now - PASS_PRIORITY)
        except PermissionError:
            return False
        except ProcessLookupError:  # a thread that has ended since
            continue
    return True


def _start(url: str, parent: int) -> None:
    from .store import Store

    global _groups
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    # Its statements are the pass's few, over and over.
    store = Store(url, generic_plans=True)
    store.warm(file_pieces=True)
    _groups = store.writer.groups
    # The cached items live as long as the process: out of the collector's reach. From now on
    # the collector runs between passes only.
    collector.settle()
    gc.disable()


def _exit_with(parent: int) -> None:
    """End this process when the server's is gone (even killed, with no time to stop it)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _prepare(
    requests: list[_Request], committed: list[Committed]
) -> tuple[_Pass | None, list[int]]:
    """The pass over `requests`, made at once."""
    outcome = _Begun(_steps(requests, committed)).finish()
    if isinstance(outcome, Exception):
        raise outcome
    return cast("tuple[_Pass | None, list[int]]", outcome)


def _steps(
    requests: list[_Request], committed: list[Committed]
) -> Generator[None, None, tuple[_Pass | None, list[int]]]:
    """The pass over `requests`, paused while PostgreSQL answers its reads (`read_in_steps`)."""
    from .groups import _Pending
    from .plans import Change

    assert _groups is not None
    cache = _groups.writer.cache
    for number, k, pk, version in committed:
        item = _made.pop((number, k), None)
        if item is not None:
            cache.put((pk, version), item)
    for _party, _ids, _versions, items, _now, number in requests:
        _made.update(((number, k), item) for k, item in enumerate(items))
    while len(_made) > MADE_KEPT:
        del _made[next(iter(_made))]
    group = [
        _Pending(
            party,
            [Change(item_id, None, v) for item_id, v in zip(ids, versions, strict=True)],
            items,
            now,
            number=number,
        )
        for party, ids, versions, items, now, number in requests
    ]
    with _groups.writer.db.reading() as conn:
        found = yield from _groups.read_in_steps(conn, group, last=True)
    if found is None:
        return None, []
    _groups.detect(found)
    position = {id(p): k for k, p in enumerate(group)}
    members = [position[id(p)] for p in found.members]
    # What the commit needs, and no more: the candidates' rows, the items met.
    met = {ref for c in found.conflicts for ref in (c.a, c.b)}
    found.stored = {pk: item for pk, item in found.stored.items() if item.ref in met}
    found.members = []
    # As plain tuples: hundreds of rows a pass, each a call into Python when pickled as a
    # named tuple (`PassProcess.prepare` makes them `Candidate` again).
    found.rows = {pk: tuple(row) for pk, row in found.rows.items()}
    return found, members
