"""What this process's group commits wrote lately, by log sequence number.

A group's pass reads a snapshot, and its commit catches up with what was written since
(`Groups.commit`). Most of that is the groups committed meanwhile by this same process: their
items' rows (new items and new versions) and cells are kept here, so that the catch-up need not
read them back. Anything else in the log since the snapshot (another process's writes, single
writes, withdrawals) is not here, and the catch-up reads the store instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .passes import Candidate

__all__ = ["Filed", "RecentWrites"]

IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Filed:
    """Items written by committed groups: their rows, ids, and cells (`pk[k]` under
    `(grid[k], key[k])`)."""

    rows: dict[int, Candidate]
    ids: dict[int, set[str]]  # party id -> item ids
    pk: IntArray
    grid: IntArray
    key: IntArray


@dataclass(frozen=True, slots=True)
class _Commit:
    rows: list[tuple[Candidate, str]]  # each item's row (its version's) and id
    pk: IntArray
    grid: IntArray
    key: IntArray


class RecentWrites:
    """The last group commits of this process, found by the log entries of their items
    (`item.written`); at most `size` entries are kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._commits: OrderedDict[int, _Commit] = OrderedDict()  # seq -> its commit
        self._lock = threading.Lock()

    def add(
        self,
        seqs: Sequence[int],
        rows: list[tuple[Candidate, str]],
        pk: IntArray,
        grid: IntArray,
        key: IntArray,
    ) -> None:
        """A committed group: the log entries `seqs` of its items `rows` (row, item id),
        filed under the cells `(pk, grid, key)`. Call only once the transaction is committed."""
        commit = _Commit(rows, pk, grid, key)
        with self._lock:
            for seq in seqs:
                self._commits[seq] = commit
            while len(self._commits) > self.size:
                self._commits.popitem(last=False)

    def clear(self) -> None:
        """Forget every commit (one may be lost: its log entries' numbers may come again)."""
        with self._lock:
            self._commits.clear()

    def filed(self, seqs: Sequence[int]) -> Filed | None:
        """What the entries `seqs` wrote, if every one of them is an item written kept here."""
        with self._lock:
            found = [self._commits.get(seq) for seq in seqs]
        if not found or any(commit is None for commit in found):
            return None
        commits = list({id(c): c for c in found if c is not None}.values())
        rows: dict[int, Candidate] = {}
        ids: dict[int, set[str]] = {}
        for commit in commits:
            for row, item_id in commit.rows:
                rows[row.pk] = row
                ids.setdefault(row.party_id, set()).add(item_id)
        return Filed(
            rows,
            ids,
            np.concatenate([c.pk for c in commits]),
            np.concatenate([c.grid for c in commits]),
            np.concatenate([c.key for c in commits]),
        )
