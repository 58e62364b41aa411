"""Places on the globe: coordinates, great-circle distances and the grid cells that index posts.

A post with a location is filed under two grid cells of fixed size in degrees, a fine one
(0.01°, about 1.1 km north-south) and a coarse one (0.1°, about 11 km). A cell is one integer,
row-major (row = latitude band, column = longitude band), so the cells a search circle touches in
one latitude band are one contiguous range: a search reads an index range per band (at most about
twenty) instead of every post, then keeps only what the exact haversine distance puts inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mesh.errors import InvalidArgument

EARTH_RADIUS_KM = 6371.0088  # the mean Earth radius (IUGG)
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
LAT_MAX = 90.0
LNG_MAX = 180.0
# Cells per degree of each grid.
FINE = 100
COARSE = 10
# Searches up to this radius read the fine grid; larger ones the coarse grid. Either way a search
# reads at most 2 * radius / cell height + 2 bands.
FINE_RADIUS_MAX_KM = 5.0
_MARGIN_DEGREES = 1e-9


@dataclass(frozen=True)
class Point:
    """A point on the globe in decimal degrees."""

    lat: float
    lng: float


def check_point(lat: float, lng: float, *, prefix: str = "") -> Point:
    """Return a valid point or raise InvalidArgument naming the bad coordinate."""
    if not math.isfinite(lat) or not -LAT_MAX <= lat <= LAT_MAX:
        raise InvalidArgument.field(f"{prefix}lat", "must be a latitude between -90 and 90")
    if not math.isfinite(lng) or not -LNG_MAX <= lng <= LNG_MAX:
        raise InvalidArgument.field(f"{prefix}lng", "must be a longitude between -180 and 180")
    return Point(lat, lng)


def distance_km(a: Point, b: Point) -> float:
    """Return the great-circle distance between two points in kilometres (haversine)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lng - a.lng)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _row(lat: float, per_degree: int) -> int:
    return min(math.floor((lat + LAT_MAX) * per_degree), 180 * per_degree - 1)


def _column(lng: float, per_degree: int) -> int:
    return min(math.floor((lng + LNG_MAX) * per_degree), 360 * per_degree - 1)


def cell(point: Point, per_degree: int) -> int:
    """Return the cell of a point in the grid with `per_degree` cells per degree."""
    return _row(point.lat, per_degree) * 360 * per_degree + _column(point.lng, per_degree)


@dataclass(frozen=True)
class Area:
    """What a circle search reads: cell ranges of one grid and a bounding box, both covering it."""

    centre: Point
    radius_km: float
    # True: the fine grid's cells; False: the coarse grid's.
    fine: bool
    # Inclusive ranges of cell ids.
    cell_ranges: tuple[tuple[int, int], ...]
    lat_range: tuple[float, float]
    # One or two inclusive longitude ranges (two when the circle crosses the antimeridian).
    lng_ranges: tuple[tuple[float, float], ...]


def area(centre: Point, radius_km: float) -> Area:
    """Return the cells and bounding box that cover every point within radius_km of centre."""
    fine = radius_km <= FINE_RADIUS_MAX_KM
    per_degree = FINE if fine else COARSE
    angle = radius_km / EARTH_RADIUS_KM  # the radius as an angle at the Earth's centre
    # A hair wider than exact, so rounding never drops a point on the circle itself.
    dlat = math.degrees(angle) + _MARGIN_DEGREES
    lat_lo, lat_hi = max(-LAT_MAX, centre.lat - dlat), min(LAT_MAX, centre.lat + dlat)
    # The widest longitude span of a spherical cap: asin(sin(angle) / cos(lat)); a cap that
    # reaches a pole, or whose span would pass 180°, covers every longitude.
    cos_lat = math.cos(math.radians(centre.lat))
    ratio = math.sin(angle) / cos_lat if cos_lat > 1e-12 else math.inf
    if lat_lo <= -LAT_MAX or lat_hi >= LAT_MAX or ratio >= 1:
        lng_ranges: tuple[tuple[float, float], ...] = ((-LNG_MAX, LNG_MAX),)
    else:
        dlng = math.degrees(math.asin(ratio)) + _MARGIN_DEGREES
        lo, hi = centre.lng - dlng, centre.lng + dlng
        if lo < -LNG_MAX:
            lng_ranges = ((lo + 360, LNG_MAX), (-LNG_MAX, hi))
        elif hi > LNG_MAX:
            lng_ranges = ((lo, LNG_MAX), (-LNG_MAX, hi - 360))
        else:
            lng_ranges = ((lo, hi),)
    width = 360 * per_degree
    ranges = []
    for row in range(_row(lat_lo, per_degree), _row(lat_hi, per_degree) + 1):
        for lo, hi in lng_ranges:
            ranges.append(
                (row * width + _column(lo, per_degree), row * width + _column(hi, per_degree))
            )
    return Area(
        centre=centre,
        radius_km=radius_km,
        fine=fine,
        cell_ranges=tuple(ranges),
        lat_range=(lat_lo, lat_hi),
        lng_ranges=lng_ranges,
    )
