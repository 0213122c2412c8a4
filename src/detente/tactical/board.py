"""The track board: the latest report of every live track, dead-reckoned to a common instant.

`TrackBoard.update` keeps, per `(party, uid)`, the report with the latest `time` (an older one
arriving late is ignored and counted). `TrackBoard.expire` drops reports past their `stale` time,
or older than `max_age_s` when they carry none. `TrackBoard.snapshot` moves every current track
from its report time to one instant and returns them as `TrackArrays`.

Reports live in parallel numpy arrays (one slot per track, slots reused after expiry), so a
snapshot of 100,000 tracks is a handful of vectorised operations and one geodesic `fwd` call.

Dead reckoning follows the geodesic (WGS84) leaving the reported position at `course_deg`, for
`speed_mps · (now - time)` metres; the velocity at `now` is the same ground speed along the
geodesic's azimuth there. Altitude changes at `vertical_mps`. A track with no course or speed is
held still horizontally.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from detente.errors import DetenteError
from detente.geo import GEOD
from detente.model import TrackReport

from .arrays import TrackArrays

__all__ = ["DEFAULT_MAX_AGE_S", "TrackBoard", "TrackKey", "TrackReportError"]

#: `(party, uid)`: names one live track.
TrackKey = tuple[str, str]

#: How long a report without a `stale` time counts, seconds.
DEFAULT_MAX_AGE_S = 60.0

FloatArray = NDArray[np.float64]
G = TypeVar("G", bound=np.generic)

_FLOAT_FIELDS = ("time", "lon", "lat", "alt", "course", "speed", "climb", "expires")


class TrackReportError(DetenteError, ValueError):
    """A track report the board cannot hold: which track, which field and why.

    >>> str(TrackReportError("red", "a1", "lat", "must lie in [-90, 90]"))
    'track red/a1: lat: must lie in [-90, 90]'
    """

    def __init__(self, party: str, uid: str, field: str, reason: str) -> None:
        self.party = party
        self.uid = uid
        self.field = field
        self.reason = reason
        super().__init__(f"track {party}/{uid}: {field}: {reason}")


def _check(report: TrackReport) -> None:
    values = {
        "time": report.time,
        "lon": report.lon,
        "lat": report.lat,
        "alt_m": report.alt_m,
        "vertical_mps": report.vertical_mps,
        "course_deg": report.course_deg,
        "speed_mps": report.speed_mps,
        "stale": report.stale,
    }
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            raise TrackReportError(report.party, report.uid, name, f"must be finite, got {value}")
    if abs(report.lat) > 90.0:
        raise TrackReportError(report.party, report.uid, "lat", "must lie in [-90, 90]")


class TrackBoard:
    """The latest `TrackReport` per `(party, uid)`.

    >>> board = TrackBoard(max_age_s=30.0)
    >>> board.update(TrackReport("red", "a1", 100.0, 10.0, 0.0, 3000.0, 90.0, 200.0))
    True
    >>> board.update(TrackReport("red", "a1", 99.0, 10.0, 0.0, 3000.0, 90.0, 200.0))
    False
    >>> board.ignored
    1
    >>> keys, tracks = board.snapshot(110.0)
    >>> keys, round(float(tracks.lon[0]), 4), float(tracks.v_east[0])
    ([('red', 'a1')], 10.018, 200.0)
    >>> board.expire(130.0)
    [('red', 'a1')]
    """

    def __init__(self, *, max_age_s: float = DEFAULT_MAX_AGE_S, capacity: int = 1024) -> None:
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s}")
        self.max_age_s = float(max_age_s)
        #: How many reports were ignored because a newer one for the same track was held.
        self.ignored = 0
        self._reports: dict[TrackKey, TrackReport] = {}
        self._slot: dict[TrackKey, int] = {}
        self._keys: list[TrackKey | None] = []
        self._free: list[int] = []
        self._codes: dict[str, int] = {}
        self._names: list[str] = []
        capacity = max(1, int(capacity))
        self._f = {name: np.zeros(capacity) for name in _FLOAT_FIELDS}
        self._party = np.zeros(capacity, np.int32)
        self._airborne = np.zeros(capacity, np.bool_)
        self._alive = np.zeros(capacity, np.bool_)

    # --- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._reports)

    def __contains__(self, key: object) -> bool:
        return key in self._reports

    def __iter__(self) -> Iterator[TrackKey]:
        return iter(self._reports)

    def get(self, key: TrackKey) -> TrackReport | None:
        """The report held for `key`, or None."""
        return self._reports.get(key)

    @property
    def reports(self) -> Mapping[TrackKey, TrackReport]:
        """Every held report by key (a read-only view)."""
        return MappingProxyType(self._reports)

    @property
    def party_codes(self) -> Mapping[str, int]:
        """The int code of every party seen; a code never changes for the board's lifetime."""
        return MappingProxyType(self._codes)

    def party_code(self, party: str) -> int:
        """The code of `party`, assigned (0, 1, 2 ... in order of first sight) if new."""
        code = self._codes.get(party)
        if code is None:
            code = self._codes[party] = len(self._names)
            self._names.append(party)
        return code

    def party_name(self, code: int) -> str:
        """The party a code stands for."""
        return self._names[code]

    # --- writing -----------------------------------------------------------------------------

    def update(self, report: TrackReport) -> bool:
        """Hold `report` unless an older-than-held one; True when it was taken.

        A report with the same `time` as the held one replaces it (the later arrival wins).
        Raises `TrackReportError` for a report with a non-finite number or a latitude beyond 90.
        """
        _check(report)
        key = (report.party, report.uid)
        held = self._reports.get(key)
        if held is not None and report.time < held.time:
            self.ignored += 1
            return False
        slot = self._slot.get(key)
        if slot is None:
            slot = self._allocate(key)
        self._reports[key] = report
        f = self._f
        f["time"][slot] = report.time
        f["lon"][slot] = report.lon
        f["lat"][slot] = report.lat
        f["alt"][slot] = report.alt_m
        moving = report.course_deg is not None and report.speed_mps is not None
        f["course"][slot] = report.course_deg if moving else 0.0
        f["speed"][slot] = report.speed_mps if moving else 0.0
        f["climb"][slot] = report.vertical_mps
        f["expires"][slot] = (
            report.stale if report.stale is not None else report.time + self.max_age_s
        )
        self._party[slot] = self.party_code(report.party)
        self._airborne[slot] = report.airborne
        return True

    def remove(self, key: TrackKey) -> bool:
        """Drop one track; True when it was held."""
        slot = self._slot.pop(key, None)
        if slot is None:
            return False
        del self._reports[key]
        self._release(slot)
        return True

    def expire(self, now: float) -> list[TrackKey]:
        """Drop every report that no longer counts at `now`; returns their keys.

        A report counts while `now < stale`, or `now < time + max_age_s` when it has no `stale`.
        """
        n = len(self._keys)
        slots = np.flatnonzero(self._alive[:n] & (self._f["expires"][:n] <= now))
        dropped: list[TrackKey] = []
        for slot in slots.tolist():
            key = self._keys[slot]
            if key is not None:
                del self._reports[key]
                del self._slot[key]
                self._release(slot)
                dropped.append(key)
        return dropped

    # --- the snapshot ------------------------------------------------------------------------

    def snapshot(
        self, now: float, *, airborne: bool | None = True
    ) -> tuple[list[TrackKey], TrackArrays]:
        """Every track that counts at `now`, dead-reckoned to `now`.

        `airborne` selects airborne tracks (the default), ground tracks (False) or both (None).
        Reports that no longer count at `now` are left out (but kept until `expire`). Row k of
        the arrays is `keys[k]`; rows are in slot order, stable while the tracks stay held.
        """
        n = len(self._keys)
        take = self._alive[:n] & (self._f["expires"][:n] > now)
        if airborne is not None:
            take &= self._airborne[:n] == airborne
        slots = np.flatnonzero(take)
        keys: list[TrackKey] = [self._keys[s] for s in slots.tolist()]  # type: ignore[misc]
        f = {name: values[slots] for name, values in self._f.items()}
        dt = now - f["time"]
        lon, lat = f["lon"].copy(), f["lat"].copy()
        azimuth = f["course"].copy()
        moving = np.flatnonzero((f["speed"] != 0.0) & (dt != 0.0))
        if len(moving):
            distance = f["speed"][moving] * dt[moving]
            lon_m, lat_m, back = GEOD.fwd(lon[moving], lat[moving], azimuth[moving], distance)
            lon[moving], lat[moving] = lon_m, lat_m
            # The course at `now` is the geodesic's azimuth there (even when `distance` < 0,
            # for a report stamped after `now`): its back azimuth turned around.
            azimuth[moving] = back + 180.0
        course = np.radians(azimuth)
        speed = f["speed"]
        tracks = TrackArrays(
            party=self._party[slots].astype(np.int32),
            lon=lon,
            lat=lat,
            alt_m=f["alt"] + f["climb"] * dt,
            v_east=speed * np.sin(course),
            v_north=speed * np.cos(course),
            v_up=f["climb"],
        )
        return keys, tracks

    # --- slots -------------------------------------------------------------------------------

    def _allocate(self, key: TrackKey) -> int:
        if self._free:
            slot = self._free.pop()
            self._keys[slot] = key
        else:
            slot = len(self._keys)
            if slot == len(self._alive):
                self._grow()
            self._keys.append(key)
        self._slot[key] = slot
        self._alive[slot] = True
        return slot

    def _release(self, slot: int) -> None:
        self._alive[slot] = False
        self._keys[slot] = None
        self._free.append(slot)

    def _grow(self) -> None:
        size = 2 * len(self._alive)
        self._f = {name: _grown(values, size) for name, values in self._f.items()}
        self._party = _grown(self._party, size)
        self._airborne = _grown(self._airborne, size)
        self._alive = _grown(self._alive, size)


def _grown(values: NDArray[G], size: int) -> NDArray[G]:
    out = np.zeros(size, values.dtype)
    out[: len(values)] = values
    return out
