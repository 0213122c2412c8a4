"""Cell keys of plan items, for a store that fetches candidates with an ordinary B-tree index.

Every item is filed under integer keys in three namespaces (`Grid`):

- `FLIGHT`: a flight's pieces in space-time cells with altitude bins (flights meet flights here);
- `AREA`: an area's cells on the surface, without time (areas meet areas and flights here);
- `FLOWN`: a flight's cells on the surface, without time (areas find flights here).

Two items that can conflict under the agreement always share a key: the cells are those of the
engine's own broad phase (boxes grown by the same margins), only coarser. `query_keys` gives the
`(grid, key)` pairs whose stored items are the candidates of new items; the time windows of
surface matches are compared by the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from detente.geo import split_length_m
from detente.model import Agreement, Area, Flight, Item

from .areas import prepare_area
from .engine import area_boxes_of
from .grid import _AXIS_BITS, _FACE_BITS, _FACE_SHIFT, _U_SHIFT, _V_SHIFT, GridSpec, file_boxes
from .trajectories import PieceCache, flight_pieces

__all__ = ["CellKeys", "Grid", "item_cells", "lock_regions", "query_keys"]

IntArray = NDArray[np.int64]

# The engine's grid for flights (100 km, 15 min, 3 km): measured on `benchmarks/server_load.py`
# (50,000 flights stored), about 57 rows per flight and 46 candidates per new flight, where
# 200 km, 30 min and 6 km gave 19 rows and 103 candidates and the write took 25% longer (the
# engine's time grows with the candidates); 50 km and 10 min gave 30 candidates for 137 rows.
STORE_FLIGHT_GRID = GridSpec(100_000.0, 900.0, 3_000.0)
STORE_AREA_GRID = GridSpec(200_000.0, 0.0)


#: Cells per side of a lock region (800 km for the flight grid, 1,600 km for the surface grid).
LOCK_REGION_CELLS = 8


class Grid(IntEnum):
    """Namespaces of stored cell keys."""

    FLIGHT = 0
    AREA = 1
    FLOWN = 2


@dataclass(frozen=True, slots=True)
class CellKeys:
    """Rows of a cell table: `item[k]` (position in the given items) is filed under
    `(grid[k], key[k])`; each row appears once."""

    item: IntArray
    grid: IntArray
    key: IntArray

    def __len__(self) -> int:
        return len(self.key)


def item_cells(
    items: Sequence[Item], agreement: Agreement, kept: PieceCache | None = None
) -> CellKeys:
    """The cell keys to store for `items`; flights' pieces are taken from `kept` (or split
    and kept there) when given, as `PlanIndex.add` takes them.

    >>> from detente.model import Kind, Shape
    >>> zone = Area(Kind.ZONE, "red", "sam", Shape(center=(37.0, 35.0), radius_m=40_000),
    ...             start=0.0, end=3600.0)
    >>> cells = item_cells([zone], Agreement())
    >>> set(cells.grid.tolist()) == {Grid.AREA}, len(cells) > 0
    (True, True)
    """
    flights = [(k, item) for k, item in enumerate(items) if isinstance(item, Flight)]
    areas = [(k, item) for k, item in enumerate(items) if isinstance(item, Area)]
    parts: list[tuple[IntArray, int, IntArray]] = []
    if flights:
        split = flight_pieces if kept is None else kept.pieces
        pieces = split(
            [f for _, f in flights], [k for k, _ in flights], split_length_m(agreement.horizontal_m)
        )
        boxes = pieces.boxes(agreement.horizontal_m / 2, agreement.vertical_m / 2)
        faces = boxes.faces()
        owner = pieces.owner
        for grid, spec in ((Grid.FLIGHT, STORE_FLIGHT_GRID), (Grid.FLOWN, STORE_AREA_GRID)):
            cells = file_boxes(boxes, spec, faces=faces)
            parts.append((owner[cells.ids], grid, cells.keys))
    if areas:
        boxes = area_boxes_of([prepare_area(a) for _, a in areas], agreement)
        cells = file_boxes(boxes, STORE_AREA_GRID)
        owner = np.asarray([k for k, _ in areas], np.int64)
        parts.append((owner[cells.ids], Grid.AREA, cells.keys))
    return _unique(parts)


def query_keys(cells: CellKeys, items: Sequence[Item]) -> CellKeys:
    """The stored `(grid, key)` rows that hold the candidates of the items filed as `cells`.

    A flight looks for flights in its space-time cells and for areas in its surface cells; an
    area looks for areas and flights in its surface cells. `item` still names the querying item.
    """
    is_flight = np.fromiter((isinstance(item, Flight) for item in items), bool, len(items))
    parts: list[tuple[IntArray, int, IntArray]] = []
    of_flight = is_flight[cells.item]
    flight_rows = cells.grid == Grid.FLIGHT
    parts.append((cells.item[flight_rows], Grid.FLIGHT, cells.key[flight_rows]))
    flown = cells.grid == Grid.FLOWN
    parts.append((cells.item[flown], Grid.AREA, cells.key[flown]))
    area_rows = (cells.grid == Grid.AREA) & ~of_flight
    for grid in (Grid.AREA, Grid.FLOWN):
        parts.append((cells.item[area_rows], grid, cells.key[area_rows]))
    return _unique(parts)


def lock_regions(keys: IntArray) -> IntArray:
    """The region of each cell key that a store locks to write there: the cell's face and
    coordinates divided by `LOCK_REGION_CELLS`, every time and altitude bin together. Keys of
    one cell have one region, so writes that share a cell share a lock; a plan takes a lock per
    region it covers, however many cells it fills.

    >>> v = 1 << _V_SHIFT
    >>> lock_regions(np.array([5 * v, 7 * v + 3, 9 * v, 1 << 6], np.int64)).tolist()
    [0, 0, 1, 0]
    """
    axis = (1 << _AXIS_BITS) - 1
    shift = LOCK_REGION_CELLS.bit_length() - 1
    face = (keys >> _FACE_SHIFT) & ((1 << _FACE_BITS) - 1)
    u = ((keys >> _U_SHIFT) & axis) >> shift
    v = ((keys >> _V_SHIFT) & axis) >> shift
    return (face << (2 * _AXIS_BITS)) | (u << _AXIS_BITS) | v


def _unique(parts: list[tuple[IntArray, int, IntArray]]) -> CellKeys:
    if not parts:
        empty = np.empty(0, np.int64)
        return CellKeys(empty, empty, empty)
    item = np.concatenate([p[0] for p in parts]).astype(np.int64)
    grid = np.concatenate([np.full(len(p[2]), p[1], np.int64) for p in parts])
    key = np.concatenate([p[2] for p in parts]).astype(np.int64)
    # The rows sorted by (item, grid, key), each once (as `np.unique(..., axis=0)`, faster).
    order = np.lexsort((key, grid, item))
    item, grid, key = item[order], grid[order], key[order]
    keep = np.ones(len(item), bool)
    keep[1:] = (item[1:] != item[:-1]) | (grid[1:] != grid[:-1]) | (key[1:] != key[:-1])
    return CellKeys(item[keep], grid[keep], key[keep])
