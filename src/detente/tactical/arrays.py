"""Live tracks as arrays: every track's state at one common instant.

`TrackArrays` is what the tactical detector reads: one row per track, positions in degrees and
metres, velocities in metres per second in the track's own east/north/up frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detente.errors import DetenteError

__all__ = ["TrackArrayError", "TrackArrays"]

FloatArray = NDArray[np.float64]
Int32Array = NDArray[np.int32]
IntArray = NDArray[np.int64]

_FLOAT_FIELDS = ("lon", "lat", "alt_m", "v_east", "v_north", "v_up")


class TrackArrayError(DetenteError, ValueError):
    """A column of `TrackArrays` is malformed: `field` says which, `index` the first bad row.

    >>> str(TrackArrayError("lat", "must lie in [-90, 90]", index=4))
    'tracks: lat: row 4: must lie in [-90, 90]'
    """

    def __init__(self, field: str, reason: str, *, index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.index = index
        where = f"{field}: row {index}" if index is not None else field
        super().__init__(f"tracks: {where}: {reason}")


@dataclass(frozen=True, slots=True, init=False)
class TrackArrays:
    """Tracks at one instant: party code, position (deg, m) and velocity (m/s east, north, up).

    Columns are converted to `int32` (party) and `float64` (the rest) and checked: one
    dimension, equal lengths, finite values, latitude in [-90, 90]. Longitudes may take any
    finite value (they are used modulo 360). At a pole, "east" is the direction the given
    longitude implies (the local frame of that meridian).

    >>> tracks = TrackArrays(
    ...     party=[0, 1], lon=[10.0, 10.1], lat=[50.0, 50.0], alt_m=[9000.0, 9000.0],
    ...     v_east=[200.0, -200.0], v_north=[0.0, 0.0], v_up=[0.0, 0.0])
    >>> len(tracks), tracks.lat.dtype.name, tracks.party.dtype.name
    (2, 'float64', 'int32')
    >>> TrackArrays(party=[0], lon=[0.0], lat=[91.0], alt_m=[0.0],
    ...             v_east=[0.0], v_north=[0.0], v_up=[0.0])
    Traceback (most recent call last):
    ...
    detente.tactical.arrays.TrackArrayError: tracks: lat: row 0: must lie in [-90, 90]
    """

    party: Int32Array
    lon: FloatArray
    lat: FloatArray
    alt_m: FloatArray
    v_east: FloatArray
    v_north: FloatArray
    v_up: FloatArray

    def __init__(
        self,
        party: ArrayLike,
        lon: ArrayLike,
        lat: ArrayLike,
        alt_m: ArrayLike,
        v_east: ArrayLike,
        v_north: ArrayLike,
        v_up: ArrayLike,
    ) -> None:
        columns: dict[str, Any] = {
            "party": _column("party", party, np.int32),
            "lon": lon,
            "lat": lat,
            "alt_m": alt_m,
            "v_east": v_east,
            "v_north": v_north,
            "v_up": v_up,
        }
        for name in _FLOAT_FIELDS:
            columns[name] = _column(name, columns[name], np.float64)
        n = len(columns["party"])
        for name, values in columns.items():
            if len(values) != n:
                raise TrackArrayError(name, f"has {len(values)} rows, party has {n}")
            if name != "party":
                bad = np.flatnonzero(~np.isfinite(values))
                if len(bad):
                    raise TrackArrayError(name, "must be finite", index=int(bad[0]))
        bad = np.flatnonzero(np.abs(columns["lat"]) > 90.0)
        if len(bad):
            raise TrackArrayError("lat", "must lie in [-90, 90]", index=int(bad[0]))
        for name, values in columns.items():
            object.__setattr__(self, name, values)

    def __len__(self) -> int:
        return len(self.party)

    @staticmethod
    def empty() -> TrackArrays:
        """No tracks.

        >>> len(TrackArrays.empty())
        0
        """
        f = np.empty(0, np.float64)
        return TrackArrays(np.empty(0, np.int32), f, f, f, f, f, f)

    def take(self, index: ArrayLike) -> TrackArrays:
        """The rows at `index` (integer indices or a boolean mask), in that order.

        >>> tracks = TrackArrays([0, 1, 2], [0, 1, 2], [0, 0, 0], [0, 0, 0], [0, 0, 0],
        ...                      [0, 0, 0], [0, 0, 0])
        >>> tracks.take([2, 0]).lon.tolist()
        [2.0, 0.0]
        """
        idx = np.asarray(index)
        if idx.dtype.kind not in "iub":
            idx = idx.astype(np.int64)
        return TrackArrays(*(getattr(self, f.name)[idx] for f in fields(self)))

    @staticmethod
    def concat(parts: Sequence[TrackArrays]) -> TrackArrays:
        """The rows of every part, one after another.

        >>> one = TrackArrays([3], [1.0], [2.0], [3.0], [0.0], [0.0], [0.0])
        >>> both = TrackArrays.concat([one, one])
        >>> len(both), both.party.tolist()
        (2, [3, 3])
        """
        if not parts:
            return TrackArrays.empty()
        return TrackArrays(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(TrackArrays))
        )


def _column(name: str, values: ArrayLike, dtype: type[np.generic]) -> Any:
    try:
        array = np.asarray(values)
        if dtype is np.int32 and len(array.shape) == 1 and len(array):
            if array.dtype.kind not in "iub":
                raise TrackArrayError(name, "must hold integer party codes")
            limits = np.iinfo(np.int32)
            if array.min() < limits.min or array.max() > limits.max:
                raise TrackArrayError(name, "party codes must fit in 32 bits")
        converted = np.ascontiguousarray(array, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as error:
        if isinstance(error, TrackArrayError):
            raise
        raise TrackArrayError(name, f"cannot be read as {np.dtype(dtype).name}: {error}") from None
    if converted.ndim != 1:
        raise TrackArrayError(name, f"must be one-dimensional, has shape {converted.shape}")
    return converted
