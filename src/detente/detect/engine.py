"""The conflict engine: a space-time index of plan items and the exact checks on its candidates.

`PlanIndex.add` checks new items against everything already indexed (and among themselves) and
then indexes them; `check` is one `add` into an empty index.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from detente.errors import DetenteError
from detente.geo import split_length_m
from detente.model import Agreement, Area, Conflict, Flight, Item, ItemRef

from . import report
from .areas import PreparedArea, prepare_area
from .crossing import area_crossings
from .grid import (
    Boxes,
    GridSpec,
    PairJob,
    SortedCells,
    cross_pairs,
    file_boxes,
    run_all,
    self_pairs,
)
from .kinematics import Losses, flight_losses
from .overlap import compare_areas
from .rules import area_altitudes, area_margin_m, flight_rule, pairing, strict
from .trajectories import PieceCache, Pieces, flight_pieces

__all__ = ["DuplicateItemError", "PlanIndex", "check"]

IntArray = NDArray[np.int64]
Progress = Callable[[str], None]

# Space-time cells (with altitude bins) for flight pieces, and space-only cells for areas.
# Measured on `benchmarks/strategic.py`: cells near the piece length, bins near a piece's
# duration, altitude bins of a few flight levels.
FLIGHT_CELL_M = 100_000.0
FLIGHT_BIN_S = 900.0
FLIGHT_ALT_BIN_M = 3_000.0
AREA_CELL_M = 100_000.0


class DuplicateItemError(DetenteError):
    """An item with the same `(party, id)` is already indexed or given twice."""

    def __init__(self, ref: ItemRef) -> None:
        self.ref = ref
        super().__init__(f"item {ref.party}/{ref.id} is given more than once")


class PlanIndex:
    """Indexed plan items under one agreement; checks new items incrementally.

    >>> from detente.model import Area, Kind, Shape
    >>> index = PlanIndex()
    >>> block = Area(Kind.AIRSPACE, "blue", "orbit", Shape(center=(36.0, 35.0), radius_m=5000),
    ...              start=0.0, end=3600.0)
    >>> index.add([block])
    []
    >>> other = Area(Kind.AIRSPACE, "red", "cap", Shape(center=(36.1, 35.0), radius_m=5000),
    ...              start=1800.0, end=7200.0)
    >>> [c.kind.value for c in index.add([other])]
    ['air']
    """

    def __init__(self, agreement: Agreement | None = None, *, workers: int | None = None) -> None:
        self.agreement = agreement or Agreement()
        self._strict = strict(self.agreement)
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._flight_grid = GridSpec(
            FLIGHT_CELL_M, FLIGHT_BIN_S, max(FLIGHT_ALT_BIN_M, 4 * self.agreement.vertical_m)
        )
        self._area_grid = GridSpec(AREA_CELL_M, 0.0)
        self._split_m = split_length_m(self.agreement.horizontal_m)
        self._items: list[Item] = []
        self._dead = np.zeros(0, bool)
        self._refs: dict[tuple[str, str], int] = {}  # (party, id) -> position in _items
        self._party_codes: dict[str, int] = {}
        self._party = np.empty(0, np.int64)
        self._pieces = Pieces.empty()
        self._piece_boxes = Boxes.empty()
        self._piece_cells = SortedCells.empty()
        self._piece_faces = np.empty(0, np.int64)
        self._areas: list[PreparedArea] = []
        self._area_item = np.empty(0, np.int64)
        self._area_boxes = Boxes.empty()
        self._area_cells = SortedCells.empty()
        self._area_faces = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, ItemRef) and (ref.party, ref.id) in self._refs

    def items(self) -> list[Item]:
        """The indexed items, in the order they were added."""
        return [self._items[k] for k in sorted(self._refs.values())]

    def remove(self, refs: Iterable[ItemRef]) -> None:
        """Forget items; unknown references are ignored."""
        for ref in refs:
            k = self._refs.pop((ref.party, ref.id), None)
            if k is not None:
                self._dead[k] = True

    def add(
        self,
        items: Sequence[Item],
        progress: Progress | None = None,
        *,
        check: bool = True,
        kept: PieceCache | None = None,
    ) -> list[Conflict]:
        """Check `items` against the index and among themselves, then index them.

        With `check=False` the items are only indexed (known not to be checked again, e.g.
        candidates fetched from a store) and no conflict is returned. With `kept`, the flights'
        pieces are taken from that cache, or split and kept there (for items that come back).
        """
        say = progress or (lambda _stage: None)
        base = len(self._items)
        keys = [(item.party, item.id) for item in items]
        if len(set(keys)) < len(keys) or not self._refs.keys().isdisjoint(keys):
            seen: set[tuple[str, str]] = set()
            for key in keys:
                if key in self._refs or key in seen:
                    raise DuplicateItemError(ItemRef(*key))
                seen.add(key)
        self._items.extend(items)
        self._dead = np.concatenate([self._dead, np.zeros(len(items), bool)])
        codes = self._party_codes
        party = [codes.setdefault(item.party, len(codes)) for item in items]
        self._party = np.concatenate([self._party, np.asarray(party, np.int64)])
        try:
            conflicts = self._check_new(base, say, check, kept)
        except BaseException:
            del self._items[base:]
            self._dead = self._dead[:base]
            self._party = self._party[:base]
            raise
        self._refs.update(zip(keys, range(base, base + len(keys)), strict=True))
        return conflicts

    def prefile(self, items: Sequence[Item], kept: PieceCache) -> None:
        """Split and file the flights of `items` in `kept` as `add` would, without adding them:
        `add(items, kept=kept)` then finds them filed. (A store's pass does it while the store
        looks up their candidates.)"""
        flights = [item for item in items if isinstance(item, Flight)]
        margins = (self.agreement.horizontal_m / 2, self.agreement.vertical_m / 2)
        kept.file(flights, (self._split_m, margins, self._flight_grid))

    # -- the work -------------------------------------------------------------------------

    def _check_new(
        self, base: int, say: Progress, check: bool, kept: PieceCache | None
    ) -> list[Conflict]:
        agreement = self.agreement
        new = list(enumerate(self._items[base:], start=base))
        flights = [(k, item) for k, item in new if isinstance(item, Flight)]
        areas = [(k, item) for k, item in new if isinstance(item, Area)]

        say("splitting flights")
        n_old_pieces = len(self._pieces)
        owners = [k for k, _ in flights]
        margins = (agreement.horizontal_m / 2, agreement.vertical_m / 2)
        if kept is not None:
            pieces, boxes, faces, cells = kept.filed(
                [f for _, f in flights],
                owners,
                self._split_m,
                margins,
                self._flight_grid,
                n_old_pieces,
            )
        else:
            pieces = flight_pieces([f for _, f in flights], owners, self._split_m)
            boxes = pieces.boxes(*margins)
            faces = boxes.faces()
            cells = file_boxes(boxes, self._flight_grid, n_old_pieces, faces)

        say("preparing areas")
        prepared = [prepare_area(area) for _, area in areas]
        area_boxes = area_boxes_of(prepared, agreement)
        n_old_areas = len(self._areas)
        area_faces = area_boxes.faces()
        area_cells = file_boxes(area_boxes, self._area_grid, n_old_areas, area_faces)

        all_faces = np.concatenate([self._piece_faces, faces])
        all_area_faces = np.concatenate([self._area_faces, area_faces])
        all_pieces = Pieces.concat([self._pieces, pieces])
        all_piece_boxes = Boxes.concat([self._piece_boxes, boxes])
        all_areas = self._areas + prepared
        all_area_boxes = Boxes.concat([self._area_boxes, area_boxes])
        all_area_item = np.concatenate(
            [self._area_item, np.asarray([k for k, _ in areas], np.int64)]
        )

        merged_area_cells = self._area_cells.merged(area_cells)
        conflicts: list[Conflict] = []
        if check:
            say("checking flights against flights")
            # New pieces among themselves and against old ones; each job ends in exact losses.
            jobs = self_pairs(cells, all_piece_boxes, all_faces, self._flight_grid)
            jobs += [
                _shifted(job, n_old_pieces, 0)
                for job in cross_pairs(
                    boxes,
                    self._piece_cells,
                    self._piece_boxes,
                    self._piece_faces,
                    self._flight_grid,
                )
            ]
            losses = self._run(jobs, lambda i, j: self._flight_losses(all_pieces, i, j))
            conflicts += report.flight_conflicts(self._items, all_pieces, Losses.concat(losses))

            say("checking flights against areas")
            # New pieces against all areas, and old pieces against new areas.
            pa_piece, pa_area = run_all(
                cross_pairs(
                    boxes, merged_area_cells, all_area_boxes, all_area_faces, self._area_grid
                )
            )
            flown = np.array(
                [k for k, p in enumerate(prepared) if flight_rule(p.item, agreement) is not None],
                np.int64,
            )
            ap_area, ap_piece = run_all(
                cross_pairs(
                    area_boxes.subset(flown),
                    self._piece_cells,
                    self._piece_boxes,
                    self._piece_faces,
                    self._flight_grid,
                )
            )
            ap_area = flown[ap_area]
            pa_piece = np.concatenate([pa_piece + n_old_pieces, ap_piece])
            pa_area = np.concatenate([pa_area, ap_area + n_old_areas])
            owner = all_pieces.owner
            pa_piece, pa_area = self._eligible(
                pa_piece, pa_area, owner[pa_piece], all_area_item[pa_area]
            )
            conflicts += self._crossings(all_areas, all_area_item, all_pieces, pa_piece, pa_area)

            say("checking areas against areas")
            ai, aj = run_all(
                self_pairs(area_cells, all_area_boxes, all_area_faces, self._area_grid)
            )
            bi, bj = run_all(
                cross_pairs(
                    area_boxes,
                    self._area_cells,
                    self._area_boxes,
                    self._area_faces,
                    self._area_grid,
                )
            )
            ai = np.concatenate([ai, bi + n_old_areas])
            aj = np.concatenate([aj, bj])
            ai, aj = self._eligible(ai, aj, all_area_item[ai], all_area_item[aj])
            conflicts += self._overlaps(all_areas, ai, aj)

        self._pieces = all_pieces
        self._piece_boxes = all_piece_boxes
        self._piece_cells = self._piece_cells.merged(cells)
        self._piece_faces = all_faces
        self._areas = all_areas
        self._area_item = all_area_item
        self._area_boxes = all_area_boxes
        self._area_cells = merged_area_cells
        self._area_faces = all_area_faces
        return sorted(conflicts, key=lambda c: (c.start, c.a, c.b, c.kind.value, c.end))

    def _flight_losses(self, pieces: Pieces, i: IntArray, j: IntArray) -> Losses:
        owner = pieces.owner
        i, j = self._eligible(i, j, owner[i], owner[j])
        rules = self._strict
        return flight_losses(pieces, i, j, rules.horizontal_m, rules.vertical_m)

    def _run(
        self, jobs: list[PairJob], then: Callable[[IntArray, IntArray], Losses]
    ) -> list[Losses]:
        """Run pair jobs and what follows each, on `workers` threads (numpy releases the GIL)."""
        if self.workers <= 1 or len(jobs) <= 1:
            return [then(*job()) for job in jobs]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda job: then(*job()), jobs))

    def _eligible(
        self, i: IntArray, j: IntArray, item_i: IntArray, item_j: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Candidate pairs whose items are alive, distinct and of parties the agreement compares."""
        keep = (item_i != item_j) & ~self._dead[item_i] & ~self._dead[item_j]
        if not self.agreement.include_own:
            keep &= self._party[item_i] != self._party[item_j]
        return i[keep], j[keep]

    def _crossings(
        self,
        areas: list[PreparedArea],
        area_item: IntArray,
        pieces: Pieces,
        piece_idx: IntArray,
        area_idx: IntArray,
    ) -> list[Conflict]:
        out: list[Conflict] = []
        if len(area_idx) == 0:
            return out
        order = np.argsort(area_idx, kind="stable")
        area_idx, piece_idx = area_idx[order], piece_idx[order]
        bounds = np.flatnonzero(np.r_[True, area_idx[1:] != area_idx[:-1], True])
        for s, e in itertools.pairwise(bounds):
            prepared = areas[int(area_idx[s])]
            rule = flight_rule(prepared.item, self._strict)
            if rule is None:
                continue
            parts = area_crossings(
                prepared, rule, pieces, piece_idx[s:e], self.agreement.time_buffer_s
            )
            out += report.crossing_conflicts(
                self._items, int(area_item[area_idx[s]]), rule, pieces, parts
            )
        return out

    def _overlaps(self, areas: list[PreparedArea], ai: IntArray, aj: IntArray) -> list[Conflict]:
        out: list[Conflict] = []
        for i, j in zip(ai.tolist(), aj.tolist(), strict=True):
            first, second = areas[i], areas[j]
            found = pairing(first.item.kind, second.item.kind)
            if found is None:
                continue
            kind, swap = found
            if swap or (first.item.kind is second.item.kind and second.item.ref < first.item.ref):
                first, second = second, first
            verdict = compare_areas(first, second, kind, self._strict)
            if verdict is not None:
                out.append(report.area_conflict(first, second, kind, verdict))
        return out


def _shifted(job: PairJob, shift_i: int, shift_j: int) -> PairJob:
    """A pair job whose indices are offset (from a slice of boxes to the whole)."""

    def run() -> tuple[IntArray, IntArray]:
        i, j = job()
        return i + shift_i, j + shift_j

    return run


def area_boxes_of(prepared: list[PreparedArea], agreement: Agreement) -> Boxes:
    """Broad-phase boxes of areas: grown by their margins, windows by the time buffer."""
    if not prepared:
        return Boxes.empty()
    margin = np.array([area_margin_m(p.item, agreement) for p in prepared])[:, None]
    altitudes = np.array([area_altitudes(p.item, agreement) for p in prepared])
    return Boxes(
        np.array([p.lo for p in prepared]) - margin,
        np.array([p.hi for p in prepared]) + margin,
        np.array([p.item.start - agreement.time_buffer_s for p in prepared]),
        np.array([p.item.end + agreement.time_buffer_s for p in prepared]),
        altitudes[:, 0],
        altitudes[:, 1],
    )


def check(
    items: Sequence[Item], agreement: Agreement | None = None, progress: Progress | None = None
) -> list[Conflict]:
    """Every conflict among `items` under `agreement` (SPEC defaults when None), in time order.

    >>> from detente.model import Area, Kind, Shape
    >>> ground = Area(Kind.GROUND, "red", "bn-1", Shape(center=(37.0, 36.0), radius_m=500),
    ...               start=0.0, end=3600.0)
    >>> strike = Area(Kind.STRIKE, "blue", "tgt-7", Shape(center=(37.01, 36.0)), start=600.0,
    ...               end=900.0, reach_m=1000.0)
    >>> [(c.kind.value, c.a.id, c.b.id) for c in check([ground, strike])]
    [('strike-ground', 'tgt-7', 'bn-1')]
    """
    return PlanIndex(agreement).add(items, progress)
