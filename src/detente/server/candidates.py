"""Candidates of new items: the stored items filed under their cells, as `pk: version`.

A cell row carries the version of the item it files (it exists only while that version is the
active one), so the cell index alone answers: the rest of a candidate's row comes from the items
a writer has parsed (`PlanWriter.filed_under`). SQLite reads the cells with one statement a grid;
PostgreSQL with one statement in all (`send_filed_under`), which a pass can send in a pipeline
with its other reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .db import pg_array

__all__ = ["FILED_UNDER_SQLITE", "filed_versions", "keys_by_grid", "send_filed_under"]

FILED_UNDER_SQLITE = 'SELECT item_pk, version FROM cells WHERE grid = ? AND "key" IN ({keys})'
_FILED_POSTGRES = (
    'SELECT item_pk, version FROM cells WHERE grid = %s AND "key" = ANY(CAST(%s AS bigint[]))'
)


def send_filed_under(raw: Any, queries: Any) -> Any:
    """PostgreSQL: send the query of the items filed under `queries` on the driver's
    connection `raw`; its cursor (None when there are no queries).

    One statement: an index scan a grid, each item once. Straight to the driver: hundreds of
    rows a write, as plain tuples.
    """
    by_grid = list(keys_by_grid(queries))
    if not by_grid:
        return None
    under = " UNION ".join([_FILED_POSTGRES] * len(by_grid))
    params: list[Any] = []
    for grid, keys in by_grid:
        params += [grid, pg_array(keys)]
    return raw.execute(under, params)


def filed_versions(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """The versions filed of rows `(item_pk, version)` of a lookup by cell, by pk."""
    # The drivers give both as ints: the rows as they come (a dict made in C).
    return dict(rows)


def keys_by_grid(queries: Any) -> Iterable[tuple[int, list[int]]]:
    """The distinct keys of `queries` (`CellKeys`), grid by grid."""
    for grid in np.unique(queries.grid).tolist():
        yield grid, np.unique(queries.key[queries.grid == grid]).tolist()
