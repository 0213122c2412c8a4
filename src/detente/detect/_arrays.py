"""Array helpers shared by the engine's modules."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["expand"]

IntArray = NDArray[np.int64]


def expand(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For rows repeated `counts` times: the row of each output and its rank within the row.

    >>> [a.tolist() for a in expand(np.array([2, 0, 3]))]
    [[0, 0, 2, 2, 2], [0, 1, 0, 1, 2]]
    """
    row = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    rank = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, rank
