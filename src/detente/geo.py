"""Geodesy kernels on numpy arrays (WGS84).

Three tools, all vectorised:

- Earth-centred, Earth-fixed (ECEF) coordinates: the engine measures horizontal distance between
  aircraft as the straight-line distance between their ground points. Within the separation minima
  that differs from the geodesic by well under a millimetre, and it needs no projection, so it is
  the same at the antimeridian and the poles.
- Geodesic leg splitting: a leg is cut into pieces short enough that moving along the chord of each
  piece stays within a fixed error of the geodesic (see `split_length_m`).
- `LocalFrame`: an azimuthal equidistant plane on the osculating sphere of a point, for comparing a
  path with a shape in two dimensions.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod

__all__ = [
    "EQUATORIAL_RADIUS_M",
    "GEOD",
    "MEAN_RADIUS_M",
    "LocalFrame",
    "ecef",
    "geodesic_distance_m",
    "geodetic",
    "split_length_m",
    "surface_normal",
    "unit_mean_position",
]

FloatArray = NDArray[np.float64]

EQUATORIAL_RADIUS_M = 6378137.0
FLATTENING = 1 / 298.257223563
E2 = FLATTENING * (2 - FLATTENING)
POLAR_RADIUS_M = EQUATORIAL_RADIUS_M * (1 - FLATTENING)
MEAN_RADIUS_M = 6371008.8

GEOD = Geod(ellps="WGS84")


def ecef(lon_deg: ArrayLike, lat_deg: ArrayLike, height_m: ArrayLike = 0.0) -> FloatArray:
    """ECEF coordinates (m) of geodetic positions, shape (..., 3).

    >>> ecef(0.0, 0.0).round(1).tolist()
    [6378137.0, 0.0, 0.0]
    """
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    h = np.asarray(height_m, dtype=np.float64)
    sin_lat = np.sin(lat)
    cos_lat = np.cos(lat)
    n = EQUATORIAL_RADIUS_M / np.sqrt(1.0 - E2 * sin_lat * sin_lat)
    return np.stack(
        [
            (n + h) * cos_lat * np.cos(lon),
            (n + h) * cos_lat * np.sin(lon),
            (n * (1.0 - E2) + h) * sin_lat,
        ],
        axis=-1,
    )


def surface_normal(xyz: ArrayLike) -> FloatArray:
    """Unit normals of the ellipsoid at (or near) ECEF points, shape (n, 3).

    >>> surface_normal(ecef([0.0], [90.0])).round(6).tolist()
    [[0.0, 0.0, 1.0]]
    """
    p = np.asarray(xyz, dtype=np.float64)
    n = p / np.array([1.0, 1.0, (1.0 - E2)])
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def geodetic(xyz: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Longitude, latitude (degrees) and ellipsoidal height (m) of ECEF points (Bowring).

    >>> lon, lat, h = geodetic(ecef([10.0], [-45.0], [100.0]))
    >>> round(float(lon[0]), 9), round(float(lat[0]), 9), round(float(h[0]), 3)
    (10.0, -45.0, 100.0)
    """
    p = np.asarray(xyz, dtype=np.float64)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    a, b = EQUATORIAL_RADIUS_M, POLAR_RADIUS_M
    ep2 = (a * a - b * b) / (b * b)
    rho = np.hypot(x, y)
    theta = np.arctan2(z * a, rho * b)
    lat = np.arctan2(
        z + ep2 * b * np.sin(theta) ** 3,
        rho - E2 * a * np.cos(theta) ** 3,
    )
    lon = np.arctan2(y, x)
    sin_lat = np.sin(lat)
    n = a / np.sqrt(1.0 - E2 * sin_lat * sin_lat)
    cos_lat = np.cos(lat)
    # Away from the poles use the horizontal radius; near them the vertical one.
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(
            np.abs(cos_lat) > 1e-6,
            rho / np.where(cos_lat == 0, 1, cos_lat) - n,
            np.abs(z) - b,
        )
    return np.degrees(lon), np.degrees(lat), h


def geodesic_distance_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> FloatArray:
    """Geodesic distance on WGS84 (m).

    >>> round(float(geodesic_distance_m(0.0, 0.0, 1.0, 0.0)), 1)
    111319.5
    """
    _, _, dist = GEOD.inv(
        np.asarray(lon1, dtype=np.float64),
        np.asarray(lat1, dtype=np.float64),
        np.asarray(lon2, dtype=np.float64),
        np.asarray(lat2, dtype=np.float64),
    )
    return np.asarray(dist, dtype=np.float64)


def split_length_m(horizontal_m: float) -> float:
    """Longest leg piece for which chord motion stays within 0.05% of `horizontal_m`.

    Two aircraft on chords sit below the ellipsoid by up to the chord's sagitta (s = L²/8R); the
    engine measures their distance in the tangent plane, which removes the sag but for its tilt
    (about Δs·L/2R), and would otherwise overstate the distance by about Δs²/2d. Keeping Δs below
    sqrt(0.001)·d bounds even the latter to 0.05% at the threshold d; the along-track error of
    moving at constant speed on the chord (about 0.016·L³/R² for a piece of length L) is far
    smaller still. The length is clamped to [5 km, 150 km].

    >>> round(split_length_m(9260.0) / 1000)
    122
    """
    sagitta_m = math.sqrt(0.001) * horizontal_m
    length = math.sqrt(8.0 * MEAN_RADIUS_M * sagitta_m)
    return min(max(length, 5_000.0), 150_000.0)


def unit_mean_position(lon_deg: ArrayLike, lat_deg: ArrayLike) -> tuple[float, float]:
    """The (lon, lat) of the normalised mean of unit vectors: a centre blind to the antimeridian.

    >>> [round(v, 6) for v in unit_mean_position([179.0, -179.0], [10.0, 10.0])]
    [180.0, 10.001493]
    """
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    v = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    m = v.reshape(-1, 3).mean(axis=0)
    norm = float(np.linalg.norm(m))
    if norm < 1e-12:
        return float(np.degrees(lon.flat[0])), float(np.degrees(lat.flat[0]))
    m /= norm
    return math.degrees(math.atan2(m[1], m[0])), math.degrees(math.asin(max(-1.0, min(1.0, m[2]))))


class LocalFrame:
    """Azimuthal equidistant plane (x east, y north, metres) around an origin.

    Built on the sphere that osculates the ellipsoid at the origin (Gaussian radius), anchored at
    the origin's centre of curvature: distances from the origin are exact on that sphere, and
    distances between points within a few hundred kilometres of it are within 0.1% of the geodesic.

    >>> frame = LocalFrame(30.0, 50.0)
    >>> x, y = frame.forward([30.0], [50.1])
    >>> abs(round(float(x[0]), 3)), round(float(y[0]) / 11124.0, 2)
    (0.0, 1.0)
    >>> lon, lat = frame.inverse(x, y)
    >>> round(float(lon[0]), 9), round(float(lat[0]), 9)
    (30.0, 50.1)
    """

    def __init__(self, lon0_deg: float, lat0_deg: float) -> None:
        self.lon0 = float(lon0_deg)
        self.lat0 = float(lat0_deg)
        lon, lat = math.radians(self.lon0), math.radians(self.lat0)
        sin_lat = math.sin(lat)
        w = math.sqrt(1.0 - E2 * sin_lat * sin_lat)
        meridional = EQUATORIAL_RADIUS_M * (1.0 - E2) / w**3
        normal = EQUATORIAL_RADIUS_M / w
        self.radius_m = math.sqrt(meridional * normal)
        self.up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), sin_lat])
        self.east = np.array([-math.sin(lon), math.cos(lon), 0.0])
        self.north = np.cross(self.up, self.east)
        origin = ecef(self.lon0, self.lat0)
        self.center = origin - self.radius_m * self.up

    def forward(self, lon_deg: ArrayLike, lat_deg: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Plane coordinates of geodetic positions (on the ellipsoid)."""
        return self.forward_ecef(ecef(lon_deg, lat_deg))

    def forward_ecef(self, xyz: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Plane coordinates of ECEF points, seen from the frame's centre of curvature."""
        v = np.asarray(xyz, dtype=np.float64) - self.center
        e = v @ self.east
        n = v @ self.north
        u = v @ self.up
        horizontal = np.hypot(e, n)
        angle = np.arctan2(horizontal, u)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(horizontal > 0, self.radius_m * angle / horizontal, 1.0)
        return e * scale, n * scale

    def inverse(self, x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Geodetic (lon, lat) degrees of plane coordinates."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rho = np.hypot(x, y)
        angle = rho / self.radius_m
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(rho > 0, np.sin(angle) / rho, 0.0)
        v = (
            np.cos(angle)[..., None] * self.up
            + (k * x)[..., None] * self.east
            + (k * y)[..., None] * self.north
        ) * self.radius_m
        lon, lat, _ = geodetic(self.center + v)
        return lon, lat
