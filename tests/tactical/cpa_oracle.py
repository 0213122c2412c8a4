"""A slow, obviously correct all-pairs check of live tracks, for testing `detente.tactical.cpa`.

Written from the earth model of docs/tactical.md alone, one pair at a time in plain Python
floats, with no numpy and nothing of `detente` but the `TrackArrays` columns it reads:

- ground points on the WGS84 ellipsoid in ECEF; the pair's frame has its "up" along the mean of
  the two ellipsoid normals, "east" along the Earth's axis crossed with "up" (any fixed
  direction near a pole) and "north" completing it;
- the relative position is the chord between the ground points, in that frame's east and north
  components;
- each track's own east and north unit vectors are turned by the rotation (Rodrigues' formula,
  axis normal_i x up, the angle between them) that takes its normal onto the frame's "up"; its
  velocity is `v_east` and `v_north` along the turned vectors, read in the frame's components;
- relative motion is straight in that plane; the vertical gap changes at the difference of the
  vertical speeds. Loss: horizontal distance < H and vertical gap < V at once, within [0, T].

Times come from solving each condition on its own (a quadratic and a linear inequality in t)
and intersecting the intervals. `borderline` marks pairs whose verdict flips when the minima and
the look-ahead move by a hair, where two correct programs may round apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

A = 6378137.0
F = 1 / 298.257223563
E2 = F * (2 - F)

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class Verdict:
    t_los: float
    t_regain: float
    t_cpa: float
    h_cpa_m: float
    v_cpa_m: float
    speed_mps: float  # relative horizontal speed


def _ecef(lon: float, lat: float) -> Vec:
    lo, la = math.radians(lon), math.radians(lat)
    n = A / math.sqrt(1 - E2 * math.sin(la) ** 2)
    return (
        n * math.cos(la) * math.cos(lo),
        n * math.cos(la) * math.sin(lo),
        n * (1 - E2) * math.sin(la),
    )


def _frame(lon: float, lat: float) -> tuple[Vec, Vec, Vec]:
    lo, la = math.radians(lon), math.radians(lat)
    east = (-math.sin(lo), math.cos(lo), 0.0)
    north = (-math.sin(la) * math.cos(lo), -math.sin(la) * math.sin(lo), math.cos(la))
    up = (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))
    return east, north, up


def _dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _scale(a: Vec, k: float) -> Vec:
    return (a[0] * k, a[1] * k, a[2] * k)


def _add(*vs: Vec) -> Vec:
    return (sum(v[0] for v in vs), sum(v[1] for v in vs), sum(v[2] for v in vs))


def _unit(a: Vec) -> Vec:
    return _scale(a, 1 / math.sqrt(_dot(a, a)))


def _rotate(v: Vec, axis: Vec, angle: float) -> Vec:
    """Rodrigues: `v` turned by `angle` about unit `axis`."""
    c, s = math.cos(angle), math.sin(angle)
    return _add(_scale(v, c), _scale(_cross(axis, v), s), _scale(axis, _dot(axis, v) * (1 - c)))


def _carry(v: Vec, up_from: Vec, up_to: Vec) -> Vec:
    axis = _cross(up_from, up_to)
    norm = math.sqrt(_dot(axis, axis))
    if norm < 1e-15:
        return v
    angle = math.atan2(norm, _dot(up_from, up_to))
    return _rotate(v, _scale(axis, 1 / norm), angle)


@dataclass(frozen=True)
class PairMotion:
    """Relative motion of one pair: plane position (m), velocity (m/s), vertical gap and rate."""

    x: float
    y: float
    vx: float
    vy: float
    dz: float
    vz: float


def pair_motion(tracks: object, i: int, j: int) -> PairMotion:
    lon, lat = tracks.lon, tracks.lat  # type: ignore[attr-defined]
    ei, ni, ui = _frame(float(lon[i]), float(lat[i]))
    ej, nj, uj = _frame(float(lon[j]), float(lat[j]))
    up = _unit(_add(ui, uj))
    axis = (0.0, 0.0, 1.0) if abs(up[2]) < 0.9 else (1.0, 0.0, 0.0)
    east = _unit(_cross(axis, up))
    north = _cross(up, east)
    chord = _add(
        _ecef(float(lon[j]), float(lat[j])), _scale(_ecef(float(lon[i]), float(lat[i])), -1)
    )

    def velocity(k: int, e: Vec, n: Vec, u: Vec) -> Vec:
        ve, vn = float(tracks.v_east[k]), float(tracks.v_north[k])  # type: ignore[attr-defined]
        return _add(_scale(_carry(e, u, up), ve), _scale(_carry(n, u, up), vn))

    rel = _add(velocity(j, ej, nj, uj), _scale(velocity(i, ei, ni, ui), -1))
    return PairMotion(
        _dot(chord, east),
        _dot(chord, north),
        _dot(rel, east),
        _dot(rel, north),
        float(tracks.alt_m[j] - tracks.alt_m[i]),  # type: ignore[attr-defined]
        float(tracks.v_up[j] - tracks.v_up[i]),  # type: ignore[attr-defined]
    )


def verdict(m: PairMotion, h: float, v: float, t: float) -> Verdict | None:
    """The pair's loss of separation within [0, t] at minima `h`, `v`, or None."""
    inf = math.inf
    a = m.vx * m.vx + m.vy * m.vy
    b = m.x * m.vx + m.y * m.vy
    c = m.x * m.x + m.y * m.y - h * h
    if a == 0.0:
        h_in = (-inf, inf) if c < 0 else None
    else:
        disc = b * b - a * c
        h_in = ((-b - math.sqrt(disc)) / a, (-b + math.sqrt(disc)) / a) if disc > 0 else None
    if m.vz == 0.0:
        v_in = (-inf, inf) if abs(m.dz) < v else None
    else:
        ends = sorted(((-v - m.dz) / m.vz, (v - m.dz) / m.vz))
        v_in = (ends[0], ends[1])
    if h_in is None or v_in is None:
        return None
    lo, hi = max(h_in[0], v_in[0]), min(h_in[1], v_in[1])
    if not (lo < hi and lo < t and hi > 0):
        return None
    t_cpa = min(max(-b / a, 0.0), t) if a > 0 else 0.0
    gap = math.hypot(m.x + m.vx * t_cpa, m.y + m.vy * t_cpa)
    return Verdict(max(lo, 0.0), hi, t_cpa, gap, abs(m.dz + m.vz * t_cpa), math.sqrt(a))


def all_pairs(
    tracks: object, h: float, v: float, t: float, *, same_party: bool = False, hair: float = 1e-4
) -> tuple[dict[tuple[int, int], Verdict], set[tuple[int, int]]]:
    """Every pair's verdict (conflicts only), and the pairs too close to a threshold to judge."""
    found: dict[tuple[int, int], Verdict] = {}
    borderline: set[tuple[int, int]] = set()
    party = tracks.party  # type: ignore[attr-defined]
    n = len(party)
    for i in range(n):
        for j in range(i + 1, n):
            if not same_party and party[i] == party[j]:
                continue
            m = pair_motion(tracks, i, j)
            result = verdict(m, h, v, t)
            if result is not None:
                found[(i, j)] = result
            tight = verdict(m, h - hair, v - hair, max(t - hair, 0.0)) is not None
            loose = verdict(m, h + hair, v + hair, t + hair) is not None
            if tight != loose:
                borderline.add((i, j))
    return found, borderline
