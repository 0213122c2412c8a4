"""Candidates of new items: the stored items filed under their cells, as `Candidate` rows.

SQLite reads the items of the cells with one statement a grid (the cells alone answer the
inner query). PostgreSQL reads them with one statement in all (`send_filed_under`), which a
pass can send in a pipeline with its other reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .db import pg_array
from .passes import Candidate

__all__ = ["FILED_UNDER_SQLITE", "filed_rows", "keys_by_grid", "send_filed_under"]

_CANDIDATE_COLUMNS = (
    "items.pk, items.version, items.party_id, items.status, items.start_s, items.end_s"
)
FILED_UNDER_SQLITE = (
    f"SELECT {_CANDIDATE_COLUMNS} FROM items WHERE items.pk IN (SELECT cells.item_pk FROM cells"
    ' WHERE cells.grid = ? AND cells."key" IN ({keys}))'
)
_FILED_PKS_POSTGRES = (
    'SELECT item_pk FROM cells WHERE grid = %s AND "key" = ANY(CAST(%s AS bigint[]))'
)
_CANDIDATES_POSTGRES = (
    f"SELECT {_CANDIDATE_COLUMNS} FROM items"
    " WHERE pk = ANY(ARRAY(SELECT DISTINCT item_pk FROM ({under}) AS filed))"
)


def send_filed_under(raw: Any, queries: Any) -> Any:
    """PostgreSQL: send the query of the items filed under `queries` on the driver's
    connection `raw`; its cursor (None when there are no queries).

    One statement: the distinct items under the cells (one index scan a grid) as an array, then
    those items by primary key. Joined instead, the planner reads more rows under the keys than
    there are and scans every item for them. Straight to the driver: hundreds of rows a write,
    as plain tuples.
    """
    by_grid = list(keys_by_grid(queries))
    if not by_grid:
        return None
    under = " UNION ALL ".join([_FILED_PKS_POSTGRES] * len(by_grid))
    params: list[Any] = []
    for grid, keys in by_grid:
        params += [grid, pg_array(keys)]
    return raw.execute(_CANDIDATES_POSTGRES.format(under=under), params)


def filed_rows(cursor: Any) -> dict[int, Candidate]:
    """The rows of a driver's cursor on candidates (`send_filed_under`, `FILED_UNDER_SQLITE`),
    by pk."""
    return {row[0]: Candidate(*row) for row in cursor.fetchall()}


def keys_by_grid(queries: Any) -> Iterable[tuple[int, list[int]]]:
    """The distinct keys of `queries` (`CellKeys`), grid by grid."""
    for grid in np.unique(queries.grid).tolist():
        yield grid, np.unique(queries.key[queries.grid == grid]).tolist()
