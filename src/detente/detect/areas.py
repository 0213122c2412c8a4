"""Areas (airspace, ground, strike, zone) prepared for the engine.

Each area gets its own `LocalFrame` centred on it and its shape drawn there with geodesic edges
(densified), plus an ECEF box for the broad phase. A circle keeps its exact centre and radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from detente.geo import GEOD, MEAN_RADIUS_M, LocalFrame, ecef, unit_mean_position
from detente.model import Area, Shape

__all__ = ["DENSIFY_M", "LARGE_AREA_M", "PreparedArea", "prepare_area", "shape_in_frame"]

FloatArray = NDArray[np.float64]

# Polygon edges are densified along their geodesic to pieces of at most this length, so their
# straight images in a local frame stay within centimetres of the geodesic.
DENSIFY_M = 10_000.0
# Areas wider than this are measured in frames centred near the point of interest (the scale of
# an azimuthal equidistant frame stretches sideways by about d²/6R² at d from its centre).
LARGE_AREA_M = 400_000.0
# Allowance in the broad phase for the bulge of chords and surfaces between ECEF corners.
BOX_SLACK_M = 1_000.0


@dataclass(slots=True)
class PreparedArea:
    """An area in its own frame: `core` is the shape (a Point for a circle, with `radius_m`)."""

    item: Area
    frame: LocalFrame
    core: shapely.Geometry
    radius_m: float
    lo: FloatArray  # ECEF box of the shape, (3,)
    hi: FloatArray
    extent_m: float  # the longest side of that box

    @property
    def is_large(self) -> bool:
        """Too large for one frame: far from its centre, distances stretch past 0.05%."""
        return self.extent_m > LARGE_AREA_M

    def reframed(self, lon_deg: float, lat_deg: float) -> PreparedArea:
        """The same area drawn in a frame centred elsewhere (near where it is being measured)."""
        frame = LocalFrame(lon_deg, lat_deg)
        core, _ = shape_in_frame(self.item.shape, frame)
        return PreparedArea(self.item, frame, core, self.radius_m, self.lo, self.hi, self.extent_m)

    @property
    def solid(self) -> shapely.Geometry:
        """The shape as a polygon (a circle drawn finely)."""
        if self.radius_m > 0:
            return self.core.buffer(self.radius_m, quad_segs=64)
        return self.core

    def grown(self, distance_m: float) -> shapely.Geometry:
        """Everything closer than `distance_m` to the shape (circles drawn finely)."""
        total = self.radius_m + distance_m
        if total <= 0:
            return self.core
        return self.core.buffer(total, quad_segs=64)


def _densified_ring(ring: tuple[tuple[float, float], ...]) -> tuple[FloatArray, FloatArray]:
    lon = np.array([p[0] for p in ring], np.float64)
    lat = np.array([p[1] for p in ring], np.float64)
    _, _, dist = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    out_lon: list[float] = []
    out_lat: list[float] = []
    for k, d in enumerate(np.atleast_1d(dist)):
        out_lon.append(float(lon[k]))
        out_lat.append(float(lat[k]))
        extra = int(np.ceil(d / DENSIFY_M)) - 1
        if extra > 0:
            pts = GEOD.npts(lon[k], lat[k], lon[k + 1], lat[k + 1], extra)
            out_lon.extend(p[0] for p in pts)
            out_lat.extend(p[1] for p in pts)
    out_lon.append(float(lon[-1]))
    out_lat.append(float(lat[-1]))
    return np.array(out_lon), np.array(out_lat)


def shape_in_frame(shape: Shape, frame: LocalFrame) -> tuple[shapely.Geometry, FloatArray]:
    """The shape's core geometry in `frame`, and the ECEF points of its (densified) outline."""
    if shape.center is not None:
        x, y = frame.forward([shape.center[0]], [shape.center[1]])
        return shapely.Point(float(x[0]), float(y[0])), ecef(shape.center[0], shape.center[1])[None]
    polygons = []
    outline = []
    for polygon in shape.polygons:
        rings = []
        for ring in polygon:
            lon, lat = _densified_ring(ring)
            x, y = frame.forward(lon, lat)
            rings.append(np.column_stack([x, y]))
            outline.append(ecef(lon, lat))
        polygons.append(shapely.Polygon(rings[0], rings[1:]))
    geometry = polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
    geometry = shapely.make_valid(geometry) if not shapely.is_valid(geometry) else geometry
    return geometry, np.concatenate(outline)


def prepare_area(area: Area) -> PreparedArea:
    """Frame, core shape and ECEF box of one area."""
    vertices = area.shape.vertices()
    lon0, lat0 = unit_mean_position([v[0] for v in vertices], [v[1] for v in vertices])
    frame = LocalFrame(lon0, lat0)
    core, outline = shape_in_frame(area.shape, frame)
    radius = area.shape.radius_m if area.shape.is_circle else 0.0
    lo = outline.min(axis=0)
    hi = outline.max(axis=0)
    # A patch of the ellipsoid bulges outwards past the box of its outline by its sagitta.
    extent = float(np.max(hi - lo)) + 2 * radius
    bulge = extent * extent / (8.0 * MEAN_RADIUS_M)
    slack = radius + bulge + BOX_SLACK_M
    return PreparedArea(area, frame, core, radius, lo - slack, hi + slack, extent)
