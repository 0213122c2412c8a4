"""The broad phase finds exactly the pairs of meeting boxes, each once, like brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.detect.grid import Boxes, GridSpec, cross_pairs, file_boxes, run_all, self_pairs
from detente.geo import ecef


def random_boxes(
    rng: np.random.Generator,
    n: int,
    spread_deg: float,
    centre: tuple[float, float],
    size_m: float,
    duration_s: float,
) -> Boxes:
    lon = centre[0] + rng.uniform(-spread_deg, spread_deg, n)
    lat = np.clip(centre[1] + rng.uniform(-spread_deg, spread_deg, n), -90, 90)
    p = ecef(lon, lat)
    half = rng.uniform(0, size_m, (n, 3))
    t0 = rng.uniform(0, 4 * duration_s, n)
    z0 = rng.uniform(-500, 15_000, n)
    return Boxes(
        p - half,
        p + half,
        t0,
        t0 + rng.uniform(0, duration_s, n),
        z0,
        z0 + rng.uniform(0, 3_000, n),
    )


def brute_force(a: Boxes, b: Boxes) -> set[tuple[int, int]]:
    meet = (a.t0[:, None] <= b.t1[None]) & (b.t0[None] <= a.t1[:, None])
    meet &= (a.z0[:, None] <= b.z1[None]) & (b.z0[None] <= a.z1[:, None])
    for axis in range(3):
        meet &= (a.lo[:, None, axis] <= b.hi[None, :, axis]) & (
            b.lo[None, :, axis] <= a.hi[:, None, axis]
        )
    i, j = np.nonzero(meet)
    return set(zip(i.tolist(), j.tolist(), strict=True))


# Face edges of the cube (45 degrees), the poles, the antimeridian and a plain mid-latitude spot.
CENTRES = [(45.0, 0.0), (0.0, 35.26), (180.0, 0.0), (0.0, 90.0), (-135.0, -35.26), (37.0, 36.0)]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    centre=st.sampled_from(CENTRES),
    cell_m=st.sampled_from([1_000.0, 20_000.0, 60_000.0]),
    bin_s=st.sampled_from([0.0, 60.0, 600.0]),
    alt_bin_m=st.sampled_from([0.0, 300.0, 1_000.0]),
)
def test_self_pairs_match_brute_force(
    seed: int, centre: tuple[float, float], cell_m: float, bin_s: float, alt_bin_m: float
) -> None:
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 120, 2.0, centre, 40_000.0, 900.0)
    spec = GridSpec(cell_m, bin_s, alt_bin_m)
    jobs = self_pairs(file_boxes(boxes, spec), boxes, boxes.faces(), spec, chunk_entries=700)
    i, j = run_all(jobs)
    found = [(min(a, b), max(a, b)) for a, b in zip(i.tolist(), j.tolist(), strict=True)]
    assert len(found) == len(set(found)), "a pair was reported twice"
    expected = {(a, b) for a, b in brute_force(boxes, boxes) if a < b}
    assert set(found) == expected


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    centre=st.sampled_from(CENTRES),
    bin_s=st.sampled_from([0.0, 300.0]),
)
def test_cross_pairs_match_brute_force(
    seed: int, centre: tuple[float, float], bin_s: float
) -> None:
    rng = np.random.default_rng(seed)
    query = random_boxes(rng, 40, 2.0, centre, 60_000.0, 3_000.0)
    target = random_boxes(rng, 150, 2.0, centre, 20_000.0, 600.0)
    spec = GridSpec(30_000.0, bin_s, 500.0)
    jobs = cross_pairs(
        query, file_boxes(target, spec), target, target.faces(), spec, chunk_entries=300
    )
    i, j = run_all(jobs)
    found = list(zip(i.tolist(), j.tolist(), strict=True))
    assert len(found) == len(set(found)), "a pair was reported twice"
    assert set(found) == brute_force(query, target)


def test_cell_size_is_bounded_below() -> None:
    with pytest.raises(ValueError, match="cell_m"):
        GridSpec(10.0, 0.0)


def faces_one_by_one(boxes: Boxes) -> list[int]:
    """`Boxes.faces` box by box: face 2a (2a + 1) is reached where some point of the box lies
    on the positive (negative) side of axis a at least as far out as on each other axis; the
    point to try takes the farthest value on a and the least |value| on the others."""
    out = []
    for lo, hi in zip(boxes.lo.tolist(), boxes.hi.tolist(), strict=True):
        least = [
            0.0 if low <= 0 <= high else min(abs(low), abs(high))
            for low, high in zip(lo, hi, strict=True)
        ]
        mask = 0
        for axis in range(3):
            bound = max(least[b] for b in range(3) if b != axis)
            if hi[axis] > 0 and hi[axis] >= bound:
                mask |= 1 << (2 * axis)
            if lo[axis] < 0 and -lo[axis] >= bound:
                mask |= 1 << (2 * axis + 1)
        out.append(mask)
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40), size_m=st.sampled_from([1e3, 3e6]))
def test_faces_are_those_each_box_reaches(seed: int, n: int, size_m: float) -> None:
    rng = np.random.default_rng(seed)
    # Centres near the cube's edges and corners too, where a box reaches several faces.
    centre = rng.choice([-1.0, 0.0, 1.0], (n, 3)) * 4e6 + rng.normal(0.0, 1e6, (n, 3))
    half = rng.uniform(0, size_m, (n, 3))
    zeros = np.zeros(n)
    boxes = Boxes(centre - half, centre + half, zeros, zeros, zeros, zeros)
    faces = boxes.faces()
    assert faces.dtype == np.int64 and len(faces) == n
    assert faces.tolist() == faces_one_by_one(boxes)
    # Every box reaches at least one face.
    assert (faces > 0).all()
